"""CHIPS-FF-style benchmark of force fields against JARVIS-DFT (Wines & Choudhary, ACS Mater. Lett. 2025) for
notebooks 07a and 07b: the registry of calculators, the elemental solids that formation energies are measured from,
and the protocol per material and calculator."""

from __future__ import annotations

import inspect
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase.calculators.emt import EMT

from . import forcefields
from .runtime import get_device
from .simulation import EV_PER_A3_TO_GPA, eos_scan, relax, strained
from .structures import is_cubic, lattice_summary, record_to_ase, standard_cell

UNITS = {"a": "Å", "b": "Å", "c": "Å", "vol": "Å³", "kv": "GPa", "b_eos": "GPa", "c11": "GPa", "c12": "GPa",
         "c44": "GPa", "form_en": "eV/atom", "vac_en": "eV", "surf_en": "J/m²"}  # fmt: skip
"""Unit of every property of the scorecard."""


class CalculatorUnavailable(RuntimeError):
    """A calculator cannot be built here (package missing, weights need a download while offline, ...)."""


@dataclass
class CalculatorSpec:
    """How to build one calculator, which elements it covers (None = all), a one-line note, and whether its
    factory takes a device (``cuda=True``: called as ``factory(device)``; otherwise it runs on the CPU)."""

    name: str
    factory: Callable[..., Any]
    elements: frozenset[str] | None = None
    note: str = ""
    cuda: bool = False
    _instances: dict[str, Any] = field(default_factory=dict, repr=False)

    def supports(self, symbols: Iterable[str]) -> bool:
        return self.elements is None or set(symbols) <= self.elements

    def device_for(self, device: str | None) -> str:
        """Where the calculator runs when ``device`` is asked for: the CPU unless the factory takes one."""
        return (device or get_device()) if self.cuda else "cpu"

    def build(self, device: str | None = None):
        """The calculator on ``device_for(device)`` (built once per device, then reused); torch's default
        dtype is the same after the build as before, whatever the factory set."""
        where = self.device_for(device)
        if where not in self._instances:
            with _torch_default_dtype_kept():
                self._instances[where] = self.factory(where) if self.cuda else self.factory()
        return self._instances[where]

    def release(self) -> None:
        """Forget the built calculators (their memory is freed once nothing else holds them)."""
        self._instances.clear()


CALCULATORS: dict[str, CalculatorSpec] = {}


@contextmanager
def _torch_default_dtype_kept():
    """Restore torch's default dtype on exit (float32 when torch was not imported yet)."""
    torch = sys.modules.get("torch")
    before = torch.get_default_dtype() if torch is not None else None
    try:
        yield
    finally:
        if (torch := sys.modules.get("torch")) is not None:
            torch.set_default_dtype(before or torch.float32)


def register_calculator(
    name: str, factory: Callable[..., Any], elements: Iterable[str] | None = None, note: str = "", cuda: bool = False
) -> CalculatorSpec:
    """Plug in any ASE calculator under ``name``: ``factory()`` (or ``factory(device)`` with ``cuda=True``) must
    return a ready calculator, e.g. ``register_calculator("my-emt", EMT, elements=["Cu", "Al"], note="EMT")``."""
    if not callable(factory):
        raise TypeError(f"{name}: the factory must be a function that returns an ASE calculator, not {factory!r}.")
    if cuda and len(inspect.signature(factory).parameters) < 1:
        raise TypeError(f"{name}: with cuda=True the factory is called as factory(device); it takes no argument.")
    CALCULATORS[name] = CalculatorSpec(name, factory, None if elements is None else frozenset(elements), note, cuda)
    return CALCULATORS[name]


def get_calculator(name: str, device: str | None = None):
    """The calculator ``name`` on ``device_for(device)``; ``CalculatorUnavailable`` saying why it cannot be built."""
    if name not in CALCULATORS:
        raise CalculatorUnavailable(f"No calculator named {name!r}; registered: {', '.join(CALCULATORS)}.")
    return CALCULATORS[name].build(device)


def release_calculators() -> None:
    """Forget every built calculator, so that only the one in use holds memory."""
    for spec in CALCULATORS.values():
        spec.release()


def device_of(calc) -> str:
    """Where ``calc`` computes: its ``device`` (CHGNet, SevenNet), else its torch ``model``'s, else ``"cpu"`` (EMT)."""
    device = getattr(calc, "device", None)
    if device is None and hasattr(getattr(calc, "model", None), "parameters"):
        device = getattr(next(iter(calc.model.parameters()), None), "device", None)
    return str(getattr(device, "type", device) or "cpu")


def available_calculators(names: Iterable[str], device: str | None = None) -> list[str]:
    """Those of ``names`` whose calculator builds here; prints why the others do not."""
    ok = []
    for name in names:
        try:
            get_calculator(name, device)
            ok.append(name)
        except CalculatorUnavailable as exc:
            print(f"  {name}: not available ({exc})")
    return ok


@contextmanager
def _loading(pip: str):
    """Silences a force-field package while it loads; CalculatorUnavailable when ``pip`` is not installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except ImportError as exc:
        raise CalculatorUnavailable(f"{pip} is not installed (pip install {pip}).") from exc


def _chgnet(device: str, model_name: str = "0.3.0"):
    with _loading("chgnet"):
        from chgnet.model import CHGNet, CHGNetCalculator
        return CHGNetCalculator(model=CHGNet.load(model_name=model_name, verbose=False), use_device=device)


def _sevennet(device: str, model_name: str = "7net-0"):
    with _loading("sevenn"):
        from sevenn.calculator import SevenNetCalculator
        return SevenNetCalculator(model_name, device=device)


def _published_alignn_ff(device: str):
    calc, line = forcefields.published_ff_calculator("mptrj_ff", device)
    if calc is None:
        raise CalculatorUnavailable(line)
    return calc


# fmt: off
register_calculator("CHGNet", _chgnet, cuda=True,
                    note="CHGNet 0.3.0 (MPtrj, PBE/PBE+U); weights ship in the chgnet wheel")
register_calculator("SevenNet", _sevennet, cuda=True,
                    note="SevenNet-0 (7net-0, MPtrj, PBE/PBE+U); weights ship in sevenn")
register_calculator("CHGNet-r2SCAN", lambda device: _chgnet(device, "r2scan"), cuda=True,
                    note="CHGNet 0.3.0 fine-tuned on MP r2SCAN (a meta-GGA, not PBE); weights ship in the chgnet wheel")
register_calculator("SevenNet-l3i5", lambda device: _sevennet(device, "7net-l3i5"), cuda=True,
                    note="SevenNet-l3i5 (MPtrj, PBE/PBE+U; larger and slower than SevenNet-0); weights ship in sevenn")
register_calculator("EMT", EMT, elements=["Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt"],  # fitted for (not H, C, N, O)
                    note="ASE effective-medium theory, classical baseline (7 fcc metals only)")
register_calculator("ALIGNN-FF-MPtrj", _published_alignn_ff, cuda=True,
                    note="alignn's published universal ALIGNN-FF mptrj_ff (MPtrj, PBE/PBE+U); online only: a one-time "
                    "download")
# fmt: on


def stress_of(atoms, calc) -> np.ndarray:
    """Voigt stress (xx, yy, zz, yz, xz, xy) in eV/Å³, ASE sign convention (tensile positive)."""
    work = atoms.copy()
    work.calc = calc
    return np.asarray(work.get_stress(voigt=True), dtype=float)


def elastic_tensor(atoms, calc, delta: float = 0.01, fmax: float = 0.005, steps: int = 100, cubic: bool = False):
    """6x6 elastic tensor (GPa) by central differences of the stress under ± ``delta`` strains, the atoms relaxed
    inside each strained cell (relaxed-ion constants, as JARVIS-DFT reports them; Si's C44 is ~15 % too high
    without). With ``cubic`` only the strains e1 and e4 are applied (4 stress calculations instead of 12) and the
    tensor is completed by cubic symmetry; ``atoms`` must then be a cubic cell in standard orientation."""
    from ase.stress import voigt_6_to_full_3x3_strain
    tensor = np.zeros((6, 6))
    for j in (0, 3) if cubic else range(6):
        stresses = []
        for sign in (+1, -1):
            strain = voigt_6_to_full_3x3_strain(sign * delta * np.eye(6)[j]) - np.eye(3)  # ASE adds 1
            cell = strained(atoms, strain)
            if len(atoms) > 1:
                cell = relax(cell, calc, fmax=fmax, steps=steps, cell=False, symmetry=False).atoms
            stresses.append(stress_of(cell, calc))
        tensor[:, j] = (stresses[0] - stresses[1]) / (2 * delta)
    if cubic:
        c11, c12, c44 = tensor[0, 0], np.mean(tensor[1:3, 0]), tensor[3, 3]
        tensor[:3, :3] = c12
        tensor[[0, 1, 2], [0, 1, 2]] = c11
        tensor[3:, :] = tensor[:, 3:] = 0.0
        tensor[[3, 4, 5], [3, 4, 5]] = c44
    return 0.5 * (tensor + tensor.T) * EV_PER_A3_TO_GPA


def bulk_modulus_hydrostatic(atoms, calc, delta: float = 0.01, fmax: float = 0.005, steps: int = 50) -> float:
    """Voigt bulk modulus Kv (GPa) = Δ(mean normal stress) / Δ(volume strain 3 delta) from ± ``delta`` hydrostatic
    strains, ions relaxed (space group kept): the Voigt average of the relaxed-ion elastic tensor for any crystal in
    any orientation. Written out in notebook 07a, section 3."""
    mean_stress = []
    for sign in (+1, -1):
        cell = strained(atoms, sign * delta * np.eye(3))
        if len(cell) > 1 and steps > 0:
            cell = relax(cell, calc, fmax=fmax, steps=steps, cell=False, symmetry=True).atoms
        mean_stress.append(float(np.mean(stress_of(cell, calc)[:3])))
    return (mean_stress[0] - mean_stress[1]) / (2 * 3 * delta) * EV_PER_A3_TO_GPA


def formation_energy_per_atom(energy: float, symbols: Sequence[str], mu: dict[str, float]) -> float:
    """(E - sum_i mu_i) / N in eV/atom; NaN when a chemical potential is missing."""
    try:
        return float((energy - sum(mu[s] for s in symbols)) / len(symbols))
    except KeyError:
        return math.nan


# --- The JARVIS elemental solids: the zero of formation energies ---
def jarvis_elemental_reference_jids() -> dict[str, str]:
    """element -> jid of the elemental solid whose OptB88vdW energy per atom JARVIS-DFT subtracts in its
    formation energies (jarvis-tools' ``unary.json``; O, N, H, F, Cl: molecular solids, not gas molecules)."""
    from jarvis.analysis.thermodynamics.energetics import get_optb88vdw_energy
    return {element: entry["jid"] for element, entry in get_optb88vdw_energy().items() if "jid" in entry}


def elemental_solids(elements: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """element -> the single-element dft_3d records of ``elements`` (streamed; the shipped sample when a download
    fails) that have a formation energy: JARVIS's energy per atom above the element's reference solid."""
    from .data import is_missing, load_dataset
    wanted = set(elements)

    def is_solid(rec: dict[str, Any]) -> bool:
        symbols = set(rec["atoms"]["elements"])
        return len(symbols) == 1 and symbols <= wanted and not is_missing(rec.get("formation_energy_peratom"))

    found: dict[str, list[dict[str, Any]]] = {el: [] for el in sorted(wanted)}
    for rec in load_dataset("dft_3d", fallback_to_sample=True, where=is_solid):
        found[rec["atoms"]["elements"][0]].append(rec)
    return found


def pick_elemental_reference(element: str, solids: Sequence[dict[str, Any]], max_above: float = 0.1):
    """The record to measure ``element``'s chemical potential on: JARVIS's own reference solid when it is
    among ``solids``, else the lowest-energy polymorph at most ``max_above`` eV/atom above it; None if none.
    Written out in notebook 07a, section 4."""
    jid = jarvis_elemental_reference_jids().get(element)
    exact = [r for r in solids if r["jid"] == jid]
    near = sorted((r for r in solids if float(r["formation_energy_peratom"]) <= max_above),
                  key=lambda r: float(r["formation_energy_peratom"]))  # fmt: skip
    return (exact or near or [None])[0]


def chemical_potential(record: dict[str, Any], calc) -> float:
    """mu (eV/atom) of an element with ``calc``: the energy per atom of ``record`` (an elemental solid)
    relaxed with ``calc``, minus JARVIS's energy of that solid above the element's reference solid, so that
    formation energies share JARVIS-DFT's zero. Written out in notebook 07a, section 4."""
    relaxed = relax(record_to_ase(record), calc, fmax=0.005, steps=200)
    return relaxed.energy / len(relaxed.atoms) - float(record["formation_energy_peratom"])


# --- The protocol ---
@dataclass
class Settings:
    """Sizes and tolerances of ``benchmark_material``. ``elastic``: ``"all"`` (C11, C44 of every crystal: 12
    strained relaxations for a non-cubic one), ``"cubic"`` (cubic crystals only: 4) or ``"none"``."""

    fmax: float = 0.005
    relax_steps: int = 200
    strain: float = 0.01
    eos_points: int = 7
    ion_steps: int = 50
    elastic: str = "all"

    def __post_init__(self) -> None:
        if self.elastic not in ("all", "cubic", "none"):
            raise ValueError(f"Settings.elastic is 'all', 'cubic' or 'none', not {self.elastic!r}.")
        if not (0 < self.strain < 0.1 and self.fmax > 0):
            raise ValueError(f"Settings needs 0 < strain < 0.1 and fmax > 0; got {self.strain}, {self.fmax}.")
        if self.eos_points < 5 or min(self.relax_steps, self.ion_steps) < 0:
            raise ValueError(f"Settings needs eos_points >= 5 (an EOS fit has 3-4 parameters) and steps >= 0: {self}.")


def benchmark_material(
    record: dict[str, Any], calc_name: str, calc, mu: dict[str, float], settings: Settings | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The protocol of notebook 07a, section 3, for one material and calculator: relaxed a, b, c, volume (space group
    kept); formation energy from ``mu`` (element -> eV/atom, same calculator; NaN when one is missing); bulk modulus
    by E-V fit (``b_eos``) and hydrostatic strain (``kv``); elastic constants on the standard primitive cell. Returns
    rows (jid, formula, calculator, property, site, value, reference, unit) and extras (eos, atoms, seconds, ...)."""
    missing = [key for key in ("jid", "atoms") if key not in record]
    if missing:
        raise ValueError(f"{record.get('jid', 'this record')} lacks {', '.join(missing)}: benchmark_material needs "
                         "a jarvis-tools record with 'jid' and 'atoms', e.g. of load_dataset('chipsff_reference').")
    s, t0 = settings or Settings(), time.perf_counter()
    relaxed = relax(record_to_ase(record), calc, fmax=s.fmax, steps=s.relax_steps)
    eos = eos_scan(relaxed.atoms, calc, s.strain, s.eos_points)
    values = {
        **lattice_summary(relaxed.atoms),
        "form_en": formation_energy_per_atom(relaxed.energy, relaxed.atoms.get_chemical_symbols(), mu),
        "b_eos": eos.bulk_modulus,
        "kv": bulk_modulus_hydrostatic(relaxed.atoms, calc, s.strain, s.fmax, s.ion_steps),
    }
    cell = standard_cell(relaxed.atoms, primitive=True)
    cubic = is_cubic(cell)  # the space group: the same for the relaxed cell and its standard primitive cell
    if s.elastic == "all" or (s.elastic == "cubic" and cubic):  # C12 of a cubic crystal only
        c = elastic_tensor(cell, calc, delta=s.strain, cubic=cubic, steps=s.ion_steps, fmax=s.fmax)
        values.update(c11=c[0, 0], **({"c12": c[0, 1]} if cubic else {}), c44=c[3, 3])
    dft = {**record.get("reference", {}), "b_eos": record.get("reference", {}).get("kv")}  # one Kv, two routes
    formula = relaxed.atoms.get_chemical_formula(mode="reduce")
    rows = [
        {"jid": record["jid"], "formula": formula, "calculator": calc_name, "property": prop, "site": "",
         "value": float(value), "reference": math.nan if dft.get(prop) is None else float(dft[prop]),
         "unit": UNITS[prop]}
        for prop, value in values.items()
    ]  # fmt: skip
    extras = {"eos": eos, "atoms": relaxed.atoms, "cubic": cubic, "seconds": time.perf_counter() - t0}
    extras.update(relax_converged=relaxed.converged, relax_steps=relaxed.steps)
    return rows, extras
