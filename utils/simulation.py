"""Simulations with any ASE calculator, shared by notebooks 06 and 07: relax, strain, E-V scan and fit, MD, g(r).
Units everywhere: eV, Å, Å³, GPa, fs, K."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import units

from . import runtime

EV_PER_A3_TO_GPA = 1 / units.GPa  # 1 eV/Å³ in GPa (about 160.2): the project's one conversion


class SimulationError(ValueError):
    """Bad input to a simulation helper; the message says what was expected and what to do."""


@dataclass
class RelaxResult:
    """A relaxed copy of the structure (no calculator attached), its energy (eV), steps and convergence."""

    atoms: Any
    energy: float
    steps: int
    converged: bool


def relax(atoms, calc, fmax: float = 0.01, steps: int = 300, cell: bool = True, symmetry: bool = True) -> RelaxResult:
    """Relax positions (and, with ``cell``, the cell through ASE's ``FrechetCellFilter``) with BFGS until every
    force is below ``fmax`` eV/Å or ``steps`` are done. ``symmetry`` keeps the space group (``FixSymmetry``; off
    for defects, slabs, molecules)."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    if len(atoms) == 0:
        raise SimulationError("Cannot relax an empty structure.")
    work = atoms.copy()
    work.calc = calc
    if symmetry:
        work.set_constraint(FixSymmetry(work, symprec=1e-3))
    opt = BFGS(FrechetCellFilter(work) if cell else work, logfile=None, maxstep=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FixSymmetry and the filters warn about details we do not need
        converged = bool(opt.run(fmax=fmax, steps=steps))
    energy = float(work.get_potential_energy())
    work.set_constraint()
    work.calc = None
    return RelaxResult(work, energy, int(opt.get_number_of_steps()), converged)


def strained(atoms, strain):
    """A copy with the cell deformed by ``(1 + strain)`` (symmetric 3x3 small-strain tensor), fractional
    coordinates kept: the homogeneous deformation that elasticity assumes."""
    strain = np.asarray(strain, dtype=float)
    if strain.shape != (3, 3):
        raise SimulationError(f"strain must be a 3x3 tensor, found shape {strain.shape}.")
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + strain).T, scale_atoms=True)
    return out


@dataclass
class EOSResult:
    """Birch-Murnaghan fit of E(V): minimum volume (Å³), energy (eV), bulk modulus (GPa) and its checks."""

    volumes: np.ndarray
    energies: np.ndarray
    v0: float
    e0: float
    bulk_modulus: float
    rms_residual_mev_atom: float
    ok: bool
    note: str


def fit_eos(volumes, energies, n_atoms: int) -> EOSResult:
    """Fit E(V) with ASE's Birch-Murnaghan ``EquationOfState`` and check it: the minimum must lie inside the scanned
    volumes (else B is an extrapolation), the RMS residual below 1 meV/atom, B positive."""
    from ase.eos import EquationOfState
    v, e = np.asarray(volumes, dtype=float), np.asarray(energies, dtype=float)
    fit = EquationOfState(v, e, eos="birchmurnaghan")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v0, e0, b = fit.fit(warn=False)
    except Exception as exc:  # flat or noisy E(V): scipy's fit does not converge
        return EOSResult(v, e, math.nan, math.nan, math.nan, math.nan, False, f"the fit failed ({exc})")
    rms = float(np.sqrt(np.mean((fit.func(v, *fit.eos_parameters) - e) ** 2)) / n_atoms * 1000)
    notes = []
    if not v.min() < v0 < v.max():
        notes.append(f"minimum {v0:.2f} Å³ outside the scanned range {v.min():.2f}-{v.max():.2f} Å³")
    if rms > 1.0:
        notes.append(f"RMS residual {rms:.2f} meV/atom > 1 meV/atom")
    if not b > 0:
        notes.append("non-positive bulk modulus")
    return EOSResult(v, e, float(v0), float(e0), float(b * EV_PER_A3_TO_GPA), rms, not notes, "; ".join(notes) or "ok")


def eos_scan(atoms, calc, max_strain: float = 0.01, n_points: int = 9) -> EOSResult:
    """E(V) of the whole cell over isotropic linear strains in [-max_strain, +max_strain] (cell x (1 + strain),
    fractional coordinates kept), fitted and checked by ``fit_eos``."""
    if not 0 < max_strain < 0.2:
        raise SimulationError(f"max_strain is a fraction, e.g. 0.01 for ±1 % linear strain; found {max_strain}.")
    volumes, energies = [], []
    for strain in np.linspace(-max_strain, max_strain, n_points):
        scaled = strained(atoms, strain * np.eye(3))
        scaled.calc = calc
        volumes.append(scaled.get_volume())
        energies.append(scaled.get_potential_energy())
    return fit_eos(volumes, energies, len(atoms))


@dataclass
class MDTrace:
    """An MD run: time (fs), potential/kinetic energy (eV/atom), temperature (K), sampled frames."""

    time_fs: list[float] = field(default_factory=list)
    epot: list[float] = field(default_factory=list)
    ekin: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)
    frames: list[Any] = field(default_factory=list)

    @property
    def etot(self) -> np.ndarray:
        """Total energy (eV/atom) at each recorded step."""
        return np.array(self.epot) + np.array(self.ekin)


def run_md(atoms, calc, steps: int, timestep_fs: float = 1.0, temperature_K: float = 300.0, ensemble: str = "nve",
           friction: float = 0.02, final_temperature_K: float | None = None, sample_every: int = 0, seed: int = 42,
           progress: bool = True) -> tuple[Any, MDTrace]:
    """NVE (velocity Verlet) or NVT (Langevin, ``friction`` in 1/fs) MD; returns (final atoms, trace). Velocities
    are drawn from a Maxwell-Boltzmann distribution at ``temperature_K`` unless ``atoms`` already moves (then they
    are kept). With ``final_temperature_K`` the thermostat's target goes linearly from ``temperature_K`` to it.
    ``sample_every`` > 0 keeps a copy of every that-many-th frame in ``trace.frames`` (for g(r))."""
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet
    if ensemble not in ("nve", "nvt"):
        raise SimulationError(f"ensemble must be 'nve' or 'nvt', found {ensemble!r}.")
    work = atoms.copy()
    work.calc = calc
    if not np.abs(work.get_momenta()).sum() > 0:
        MaxwellBoltzmannDistribution(work, temperature_K=temperature_K, rng=np.random.default_rng(seed))
        Stationary(work)
    if ensemble == "nve":
        dyn = VelocityVerlet(work, timestep=timestep_fs * units.fs)
    else:  # the thermostat's random kicks must not move the centre of mass
        work.set_constraint([*work.constraints, FixCom()])
        dyn = Langevin(work, timestep_fs * units.fs, temperature_K=temperature_K, friction=friction / units.fs,
                       fixcm=False, rng=np.random.default_rng(seed))  # fmt: skip
    trace, n = MDTrace(), len(work)
    for step in runtime.progress(range(steps + 1), desc=f"MD {ensemble.upper()}", disable=not progress):
        if step > 0:
            if final_temperature_K is not None and ensemble == "nvt":
                dyn.set_temperature(temperature_K=temperature_K + step / steps * (final_temperature_K - temperature_K))
            dyn.run(1)
        trace.time_fs.append(step * timestep_fs)
        trace.epot.append(work.get_potential_energy() / n)
        trace.ekin.append(work.get_kinetic_energy() / n)
        trace.temperature.append(work.get_temperature())
        if sample_every and step % sample_every == 0:
            frame = work.copy()
            frame.calc = None
            trace.frames.append(frame)
    work.set_constraint([c for c in work.constraints if not isinstance(c, FixCom)])
    return work, trace


def rdf(frames, r_max: float = 5.0, n_bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (Å) and g(r) of a periodic structure (images included) or averaged over frames, normalised so
    that an ideal gas of the same density gives 1."""
    from ase.neighborlist import neighbor_list
    frames = [frames] if hasattr(frames, "get_volume") else list(frames)
    if not frames:
        raise SimulationError("rdf needs a structure or a non-empty sequence of frames; found none.")
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = np.zeros(n_bins)
    for frame in frames:
        counts, _ = np.histogram(neighbor_list("d", frame, r_max), bins=edges)
        g += counts / (len(frame) * len(frame) / frame.get_volume() * shell)
    return 0.5 * (edges[1:] + edges[:-1]), g / len(frames)


def coordination_number(frames, cutoff: float) -> float:
    """Mean number of neighbours within ``cutoff`` Å (one structure or averaged over frames)."""
    from ase.neighborlist import neighbor_list
    frames = [frames] if hasattr(frames, "get_volume") else list(frames)
    return float(np.mean([len(neighbor_list("i", a, cutoff)) / len(a) for a in frames]))
