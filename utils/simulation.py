"""Simulations with any ASE calculator, shared by notebooks 06 and 07: relax, E-V scan and fit, MD, g(r).

Units everywhere: eV, Å, Å³, GPa, fs, K.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import units

from . import runtime

EV_PER_A3_TO_GPA = 1 / units.GPa
"""1 eV/Å³ in GPa (from ASE's units, the project's one conversion: about 160.2)."""


class SimulationError(ValueError):
    """Bad input to a simulation helper; the message says what was expected and what to do."""


@dataclass
class RelaxResult:
    """A relaxed copy of the structure (no calculator attached), its energy (eV), steps and convergence."""

    atoms: Any
    energy: float
    steps: int
    converged: bool


def relax(
    atoms, calc, fmax: float = 0.01, steps: int = 300, cell: bool = True, symmetry: bool = True, optimizer="BFGS"
) -> RelaxResult:
    """Relax positions (and, with ``cell``, the cell through ASE's ``FrechetCellFilter``) until every force
    is below ``fmax`` eV/Å or ``steps`` are done.

    ``symmetry`` keeps the space group (``FixSymmetry``; off for defects, slabs, molecules). ``optimizer``:
    ``"BFGS"`` (fewer steps near a smooth minimum; the benchmark protocol) or ``"FIRE"`` (robust on the
    rough surface of a barely trained model).
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    if optimizer not in ("BFGS", "FIRE"):
        raise SimulationError(f"optimizer must be 'BFGS' or 'FIRE'; found {optimizer!r}.")
    if len(atoms) == 0:
        raise SimulationError("Cannot relax an empty structure.")
    work = atoms.copy()
    work.calc = calc
    if symmetry:
        work.set_constraint(FixSymmetry(work, symprec=1e-3))
    target = FrechetCellFilter(work) if cell else work
    opt = BFGS(target, logfile=None, maxstep=0.1) if optimizer == "BFGS" else FIRE(target, logfile=None)
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


def energy_volume_scan(atoms, calc, linear_strains: Sequence[float], keep_fractional: bool = True):
    """Volumes (Å³) and energies (eV) of ``atoms`` under isotropic linear strains (cell x (1 + strain)).

    ``keep_fractional=False`` keeps the cartesian positions instead, the chipsff 2024.11.30 mistake that
    squeezes only the bonds crossing the cell boundary: only for demonstrating the artifact.
    """
    volumes, energies = [], []
    for strain in linear_strains:
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell.array * (1 + strain), scale_atoms=keep_fractional)
        scaled.calc = calc
        volumes.append(scaled.get_volume())
        energies.append(scaled.get_potential_energy())
    return np.array(volumes), np.array(energies)


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


def fit_eos(volumes, energies, n_atoms: int, eos: str = "birchmurnaghan") -> EOSResult:
    """Fit E(V) with ASE's ``EquationOfState`` and check it: the minimum must lie inside the scanned
    volumes (else B is an extrapolation), the RMS residual below 1 meV/atom, B positive."""
    from ase.eos import EquationOfState

    v, e = np.asarray(volumes, dtype=float), np.asarray(energies, dtype=float)
    fit = EquationOfState(v, e, eos=eos)
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


def eos_scan(atoms, calc, max_strain: float = 0.01, n_points: int = 9, keep_fractional: bool = True) -> EOSResult:
    """E(V) over isotropic linear strains in [-max_strain, +max_strain], fitted and checked by ``fit_eos``
    (volumes and energies of the whole cell)."""
    if not 0 < max_strain < 0.2:
        raise SimulationError(f"max_strain is a fraction, e.g. 0.01 for ±1 % linear strain; found {max_strain}.")
    strains = np.linspace(-max_strain, max_strain, n_points)
    volumes, energies = energy_volume_scan(atoms, calc, strains, keep_fractional)
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


def _dynamics(atoms, ensemble: str, timestep_fs: float, temperature_K: float, friction: float, seed: int):
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    if ensemble == "nve":
        return VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    if ensemble == "nvt":
        from ase.constraints import FixCom

        # the thermostat's random kicks must not move the centre of mass
        atoms.set_constraint([*atoms.constraints, FixCom()])
        rng = np.random.default_rng(seed)
        return Langevin(
            atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=friction / units.fs, fixcm=False,
            rng=rng,
        )
    raise SimulationError(f"ensemble must be 'nve' or 'nvt', found {ensemble!r}.")


def run_md(
    atoms,
    calc,
    steps: int,
    timestep_fs: float = 1.0,
    temperature_K: float = 300.0,
    ensemble: str = "nve",
    friction: float = 0.02,
    final_temperature_K: float | None = None,
    sample_every: int = 0,
    seed: int = 42,
    progress: bool = True,
) -> tuple[Any, MDTrace]:
    """NVE (velocity Verlet) or NVT (Langevin, ``friction`` in 1/fs) MD; returns (final atoms, trace).

    Velocities are drawn from a Maxwell-Boltzmann distribution at ``temperature_K`` unless ``atoms``
    already moves (then they are kept, e.g. to continue a run). With ``final_temperature_K`` the
    thermostat's target goes linearly from ``temperature_K`` to it (a quench or a heating ramp).
    ``sample_every`` > 0 keeps a copy of every that-many-th frame in ``trace.frames`` (for g(r)).
    """
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    work = atoms.copy()
    work.calc = calc
    if not np.abs(work.get_momenta()).sum() > 0:
        MaxwellBoltzmannDistribution(work, temperature_K=temperature_K, rng=np.random.default_rng(seed))
        Stationary(work)
    dyn = _dynamics(work, ensemble, timestep_fs, temperature_K, friction, seed)
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
    work.set_constraint([c for c in work.constraints if type(c).__name__ != "FixCom"])
    return work, trace


def rdf(frames, r_max: float = 5.0, n_bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function g(r) of a periodic structure, or averaged over a sequence of frames.

    Periodic images are included. Returns bin centres (Å) and g(r), normalised so that an ideal gas of
    the same density gives 1.
    """
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


def neighbour_shells(atoms, tol: float = 0.05) -> tuple[float, float]:
    """The first two neighbour-shell distances (Å) of a crystal, periodic images included: the smallest
    interatomic distance and the next one longer by more than ``tol`` Å. Their midpoint separates the
    first shell from the second for any lattice (bcc's second shell is only 15 % beyond its first)."""
    from ase.neighborlist import neighbor_list

    if len(atoms) == 0:
        raise SimulationError("neighbour_shells needs a structure with atoms; found none.")
    r_max = 2.0 * float(np.cbrt(atoms.get_volume() / len(atoms)))  # a few shells at any density
    for _ in range(4):
        d = np.sort(neighbor_list("d", atoms, r_max))
        farther = d[d > d[0] + tol] if len(d) else d
        if len(farther):
            return float(d[0]), float(farther[0])
        r_max *= 2
    raise SimulationError(f"Found fewer than two neighbour shells within {r_max:.1f} Å: is it periodic?")


def coordination_number(frames, cutoff: float) -> float:
    """Mean number of neighbours within ``cutoff`` Å (one structure or averaged over frames)."""
    from ase.neighborlist import neighbor_list

    frames = [frames] if hasattr(frames, "get_volume") else list(frames)
    return float(np.mean([len(neighbor_list("i", a, cutoff)) / len(a) for a in frames]))
