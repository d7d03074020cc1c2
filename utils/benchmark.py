"""CHIPS-FF-style benchmark protocol of force fields against JARVIS-DFT, the driver of notebook 07 (Wines &
Choudhary, ACS Mater. Lett. 2025, with fixes): per material and calculator, relaxation, lattice, formation energy
(elemental references relaxed with the *same* calculator), E-V bulk modulus with fractional coordinates kept (the
chipsff 2024.11.30 release strains cartesian positions), relaxed-ion elastic constants, vacancy and surface
energies; calculators from a registry (downloads fail fast offline). The elemental references, smoothness check,
plausibility flags, scorecard, phonons and timings are taught in notebook 07.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import forcefields
from .files import reachable
from .runtime import get_device
from .simulation import eos_scan, relax, strained

EV_PER_A2_TO_J_PER_M2 = 16.021766208
"""1 eV/Å² in J/m²."""

# fmt: off
UNITS = {"a": "Å", "b": "Å", "c": "Å", "vol": "Å³", "kv": "GPa", "b_eos": "GPa", "c11": "GPa", "c12": "GPa",
         "c44": "GPa", "form_en": "eV/atom", "vac_en": "eV", "surf_en": "J/m²"}
"""Unit of every property of the scorecard."""
# fmt: on

EMT_ELEMENTS = frozenset({"Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt"})
"""Elements ASE's EMT was fitted for (its H, C, N, O parameters are not meant for real work)."""


class CalculatorUnavailable(RuntimeError):
    """A calculator cannot be built here (package missing, weights need a download while offline, ...)."""


@dataclass
class CalculatorSpec:
    """How to build one calculator, which elements it covers (None = all) and a one-line note."""

    name: str
    factory: Callable[[], Any]
    elements: frozenset[str] | None = None
    note: str = ""
    _instance: Any = field(default=None, repr=False)

    def supports(self, symbols: Iterable[str]) -> bool:
        """True when every element of ``symbols`` is covered."""
        return self.elements is None or set(symbols) <= self.elements

    def build(self):
        """The calculator (built once, then reused)."""
        if self._instance is None:
            self._instance = self.factory()
        return self._instance


CALCULATORS: dict[str, CalculatorSpec] = {}


def register_calculator(
    name: str, factory: Callable[[], Any], elements: Iterable[str] | None = None, note: str = ""
) -> CalculatorSpec:
    """Plug in any ASE calculator under ``name``: ``factory()`` must return a ready calculator, e.g.
    ``register_calculator("my-emt", EMT, elements=["Cu", "Al"], note="ASE EMT again")``."""
    spec = CalculatorSpec(name, factory, frozenset(elements) if elements is not None else None, note)
    CALCULATORS[name] = spec
    return spec


def get_calculator(name: str):
    """The calculator registered as ``name`` (``CalculatorUnavailable`` with a reason if it cannot be built)."""
    if name not in CALCULATORS:
        raise CalculatorUnavailable(
            f"No calculator named {name!r}. Registered: {', '.join(CALCULATORS)}. "
            f"Add one with utils.benchmark.register_calculator(name, factory)."
        )
    return CALCULATORS[name].build()


def available_calculators(names: Iterable[str] | None = None, verbose: bool = True) -> list[str]:
    """The names (of ``names`` or of the whole registry) whose calculator builds here; prints why not."""
    ok = []
    for name in names or list(CALCULATORS):
        try:
            get_calculator(name)
            ok.append(name)
        except CalculatorUnavailable as exc:
            if verbose:
                print(f"  {name}: not available ({exc})")
    return ok


def _installed(module: str, name: str, pip: str):
    """``module.name`` of an installed package (CalculatorUnavailable naming the package when it is absent)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise CalculatorUnavailable(f"{pip} is not installed (pip install {pip}).") from exc


def _quietly(factory: Callable[..., Any], *args, **kwargs):
    """``factory(*args, **kwargs)`` without the warnings the universal force fields print when loading."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return factory(*args, **kwargs)


def alignn_ff_folder(element: str = "Si") -> Path:
    """This lesson's own ALIGNN-FF checkpoint folder, ``outputs/07_chipsff/alignn_ff_<element>``."""
    return forcefields.alignn_ff_dir(element, lesson="07_chipsff")


def _alignn_ff(element: str = "Si"):
    """The ALIGNN-FF trained by ``ensure_alignn_ff`` (mlearn ``element``), from this lesson's own folder."""
    folder = alignn_ff_folder(element)
    if not forcefields.completed_checkpoint(folder):
        raise CalculatorUnavailable(
            f"no completed ALIGNN-FF checkpoint in {folder}: call utils.benchmark.ensure_alignn_ff({element!r}) "
            "to train one (minutes on a CPU), or register a pretrained ALIGNN-FF with register_calculator."
        )
    return forcefields.alignn_ff_calculator(folder)


def ensure_alignn_ff(element: str = "Si", epochs: int = 30, max_configs: int | None = None) -> Path:
    """Train (or reuse, when its completion marker matches exactly) this lesson's ALIGNN-FF on mlearn
    ``element``, in ``alignn_ff_folder(element)``; the registry entry "ALIGNN-FF" then builds from it."""
    folder = forcefields.train_alignn_ff(element, alignn_ff_folder(element), epochs=epochs, max_configs=max_configs)
    CALCULATORS["ALIGNN-FF"]._instance = None
    return folder


def _mace_mp():
    """MACE-MP-0 (needs the ``mace-torch`` package and a download of its weights the first time)."""
    mace_mp = _installed("mace.calculators", "mace_mp", "mace-torch")
    cached = list((Path.home() / ".cache" / "mace").glob("*.model"))
    if not cached and not reachable("https://github.com")[0]:
        raise CalculatorUnavailable(
            "MACE-MP-0 weights are not cached (~/.cache/mace) and github.com is unreachable: "
            "run once with network access."
        )
    return mace_mp(model="medium", default_dtype="float64")


def _published_alignn_ff(name: str = "mptrj_ff"):
    """alignn's published universal ALIGNN-FF ``name`` (online download, then cached)."""
    calc, line = forcefields.published_ff_calculator(name)
    if calc is None:
        raise CalculatorUnavailable(line)
    return calc


def _chgnet():
    return _quietly(_installed("chgnet.model", "CHGNetCalculator", "chgnet"), use_device=get_device())


def _sevennet():
    sevennet = _installed("sevenn.calculator", "SevenNetCalculator", "sevenn")
    return _quietly(sevennet, "7net-0", device=get_device())


register_calculator("CHGNet", _chgnet, note="CHGNet 0.3.0 (MPtrj, PBE/PBE+U); weights ship in the chgnet wheel")
register_calculator("SevenNet", _sevennet, note="SevenNet-0 (7net-0, MPtrj, PBE/PBE+U); weights ship in sevenn")
register_calculator(
    "EMT",
    lambda: _installed("ase.calculators.emt", "EMT", "ase")(),
    elements=EMT_ELEMENTS,
    note="ASE effective-medium theory, classical baseline",
)
register_calculator(
    "ALIGNN-FF",
    _alignn_ff,
    elements={"Si"},
    note="a small ALIGNN-FF trained on mlearn Si (PBE) only, by ensure_alignn_ff",
)
register_calculator(
    "ALIGNN-FF-MPtrj",
    _published_alignn_ff,
    note="alignn's published universal ALIGNN-FF mptrj_ff (MPtrj, PBE/PBE+U); online only: a one-time download",
)
register_calculator("MACE-MP-0", _mace_mp, note="optional: needs mace-torch and a one-time weight download")


def record_to_ase(record: dict[str, Any]):
    """The ASE ``Atoms`` of a dataset record (its jarvis-tools ``atoms`` dict)."""
    from .structures import atoms_from_record, to_ase

    return to_ase(atoms_from_record(record))


def conventional_cell(atoms, symprec: float = 1e-3):
    """The conventional standard cell (spglib), in the standard orientation that elastic constants use."""
    import spglib
    from ase import Atoms

    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    lattice, positions, numbers = spglib.standardize_cell(cell, to_primitive=False, symprec=symprec)
    return Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)


def is_cubic(atoms, symprec: float = 1e-3) -> bool:
    """True for a cubic space group (195-230)."""
    import spglib

    data = spglib.get_symmetry_dataset((np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers), symprec)
    return data is not None and 195 <= data.number <= 230


def energy_of(atoms, calc) -> float:
    """Potential energy (eV) of ``atoms`` with ``calc`` (on a copy)."""
    work = atoms.copy()
    work.calc = calc
    return float(work.get_potential_energy())


def stress_of(atoms, calc) -> np.ndarray:
    """Voigt stress (xx, yy, zz, yz, xz, xy) in eV/Å³, ASE sign convention (tensile positive)."""
    work = atoms.copy()
    work.calc = calc
    return np.asarray(work.get_stress(voigt=True), dtype=float)


def lattice_summary(atoms) -> dict[str, float]:
    """Lattice lengths a, b, c (Å) and cell volume (Å³)."""
    a, b, c = atoms.cell.lengths()
    return {"a": float(a), "b": float(b), "c": float(c), "vol": float(atoms.get_volume())}


def elastic_tensor(
    atoms,
    calc,
    delta: float = 0.01,
    relax_ions: bool = True,
    fmax: float = 0.005,
    steps: int = 100,
    cubic: bool = False,
) -> np.ndarray:
    """6x6 elastic tensor (GPa) by central differences of the stress under ± ``delta`` strains.

    With ``relax_ions`` the atoms relax inside each strained cell (relaxed-ion constants, as JARVIS-DFT
    reports them; Si's C44 is ~15 % too high without). Residual stress of the reference cell cancels.
    With ``cubic`` only the strains e1 and e4 are applied (4 stress calculations instead of 12) and the
    tensor is completed by cubic symmetry; ``atoms`` must then be a cubic cell in standard orientation.
    """
    from ase.stress import voigt_6_to_full_3x3_strain
    from ase.units import GPa

    tensor = np.zeros((6, 6))
    for j in (0, 3) if cubic else range(6):
        stresses = []
        for sign in (+1, -1):
            strain = voigt_6_to_full_3x3_strain(sign * delta * np.eye(6)[j]) - np.eye(3)  # ASE adds 1
            cell = strained(atoms, strain)
            if relax_ions and len(atoms) > 1:
                cell = relax(cell, calc, fmax=fmax, steps=steps, cell=False, symmetry=False).atoms
            stresses.append(stress_of(cell, calc))
        tensor[:, j] = (stresses[0] - stresses[1]) / (2 * delta)
    if cubic:
        c11, c12, c44 = tensor[0, 0], np.mean(tensor[1:3, 0]), tensor[3, 3]
        tensor[:3, :3] = c12
        tensor[[0, 1, 2], [0, 1, 2]] = c11
        tensor[3:, :] = tensor[:, 3:] = 0.0
        tensor[[3, 4, 5], [3, 4, 5]] = c44
    return 0.5 * (tensor + tensor.T) / GPa


def voigt_bulk_modulus(c: np.ndarray) -> float:
    """Voigt bulk modulus Kv = [(C11+C22+C33) + 2(C12+C13+C23)] / 9 (the JARVIS ``bulk_modulus_kv``)."""
    return float((c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[0, 2] + c[1, 2])) / 9)


def cubic_constants(c: np.ndarray) -> dict[str, float]:
    """C11, C12, C44 averaged over the cubic-equivalent entries."""
    return {
        "c11": float(np.mean([c[0, 0], c[1, 1], c[2, 2]])),
        "c12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
        "c44": float(np.mean([c[3, 3], c[4, 4], c[5, 5]])),
    }


def formation_energy_per_atom(energy: float, symbols: Sequence[str], mu: dict[str, float]) -> float:
    """(E - sum_i mu_i) / N in eV/atom; NaN when a chemical potential is missing."""
    try:
        return float((energy - sum(mu[s] for s in symbols)) / len(symbols))
    except KeyError:
        return math.nan


def supercell_for(atoms, min_length: float):
    """The smallest diagonal repetition of ``atoms`` whose three perpendicular widths reach ``min_length`` Å."""
    cell = np.asarray(atoms.cell)
    volume = abs(np.linalg.det(cell))
    widths = [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    reps = [max(1, math.ceil(min_length / w - 1e-6)) for w in widths]
    return atoms.repeat(reps)


def vacancy_formation_energy(
    atoms, calc, element: str, mu: float, min_length: float = 8.0, fmax: float = 0.02, steps: int = 150
) -> float:
    """E_vac = E(supercell - one ``element`` atom, relaxed ions) - E(supercell) + mu_element (eV).

    The supercell is the relaxed cell repeated to at least ``min_length`` Å; the cell is kept fixed.
    """
    supercell = supercell_for(atoms, min_length)
    e_perfect = energy_of(supercell, calc)
    index = next(i for i, s in enumerate(supercell.get_chemical_symbols()) if s == element)
    defect = supercell.copy()
    del defect[index]
    e_defect = relax(defect, calc, fmax=fmax, steps=steps, cell=False, symmetry=False).energy
    return float(e_defect - e_perfect + mu)


def build_slab(conventional, miller: tuple[int, int, int], min_thickness: float = 10.0, vacuum: float = 8.0):
    """A stoichiometric slab with ``miller`` facets, at least ``min_thickness`` Å thick, ~2 x ``vacuum`` Å gap.

    pymatgen's ``SlabGenerator`` lists the possible terminations; the one that breaks the fewest
    nearest-neighbour bonds is kept (Si(111): one bond per surface atom, not three).
    """
    from ase.neighborlist import neighbor_list
    from pymatgen.core.surface import SlabGenerator
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = AseAtomsAdaptor.get_structure(conventional)
    generator = SlabGenerator(
        structure, miller, min_thickness, 2 * vacuum, center_slab=True, lll_reduce=True, in_unit_planes=False
    )
    slabs = generator.get_slabs()
    if not slabs:
        raise ValueError(f"pymatgen found no slab for {structure.composition.reduced_formula} {miller}")
    cutoff = 1.15 * float(neighbor_list("d", conventional, 5.0).min())
    bulk_cn = np.bincount(neighbor_list("i", conventional, cutoff), minlength=len(conventional))
    cn_of = {int(z): int(bulk_cn[conventional.numbers == z].max()) for z in set(conventional.numbers)}
    best = None
    for slab in slabs:
        atoms = AseAtomsAdaptor.get_atoms(slab)
        atoms.calc = None
        cn = np.bincount(neighbor_list("i", atoms, cutoff), minlength=len(atoms))
        broken = int(sum(cn_of[int(z)] for z in atoms.numbers) - cn.sum())
        if best is None or broken < best[0]:
            best = (broken, atoms)
    return best[1]


def surface_energy(
    conventional,
    calc,
    miller: tuple[int, int, int],
    bulk_energy_per_atom: float,
    min_thickness: float = 10.0,
    vacuum: float = 8.0,
    relax_steps: int = 50,
) -> float:
    """gamma = (E_slab - N e_bulk) / (2 A) in J/m², slab ions relaxed for ``relax_steps`` (0 = unrelaxed)."""
    slab = build_slab(conventional, miller, min_thickness, vacuum)
    if relax_steps > 0:
        energy = relax(slab, calc, fmax=0.05, steps=relax_steps, cell=False, symmetry=False).energy
    else:
        energy = energy_of(slab, calc)
    area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
    return float((energy - len(slab) * bulk_energy_per_atom) / (2 * area) * EV_PER_A2_TO_J_PER_M2)


@dataclass
class Settings:
    """Sizes and tolerances of the protocol (see ``benchmark_material``)."""

    fmax: float = 0.005
    relax_steps: int = 300
    eos_max_strain: float = 0.01
    eos_points: int = 9
    elastic_delta: float = 0.01
    elastic_relax_steps: int = 100
    vacancy_min_length: float = 8.0
    vacancy_relax_steps: int = 150
    slab_min_thickness: float = 10.0
    slab_vacuum: float = 8.0
    slab_relax_steps: int = 30
    surfaces: tuple[tuple[int, int, int], ...] = ((1, 0, 0), (1, 1, 1))
    do_vacancy: bool = True
    do_surface: bool = True


def _defect_values(relaxed, conv, calc, mu: dict[str, float], ref: dict[str, Any], s: Settings):
    """(property, value, reference, site) of the vacancy and surface energies that have a DFT reference."""
    out = []
    if s.do_vacancy:
        for element, value in ref.get("vac_en", {}).items():
            if element in mu and not math.isnan(mu[element]):
                e_vac = vacancy_formation_energy(
                    relaxed, calc, element, mu[element], s.vacancy_min_length, steps=s.vacancy_relax_steps
                )
                out.append(("vac_en", e_vac, value, element))
    if s.do_surface:
        e_bulk = energy_of(conv, calc) / len(conv)
        for miller in s.surfaces:
            key = "_".join(str(i) for i in miller)
            gamma = surface_energy(conv, calc, miller, e_bulk, s.slab_min_thickness, s.slab_vacuum, s.slab_relax_steps)
            out.append(("surf_en", gamma, ref.get("surf_en", {}).get(key), key))
    return out


def benchmark_material(
    record: dict[str, Any], calc_name: str, calc, mu: dict[str, float], settings: Settings | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the protocol for one material with one calculator.

    Returns (rows, extras): rows are long-format dicts (jid, formula, calculator, property, site, value,
    reference, unit) for the scorecard; extras keep the EOS fit, the elastic tensor, relaxation info and
    the wall time. ``mu`` maps element -> chemical potential (eV/atom) with the same calculator.
    """
    s, t0, ref = settings or Settings(), time.perf_counter(), record.get("reference", {})
    relaxed = relax(record_to_ase(record), calc, fmax=s.fmax, steps=s.relax_steps)
    values = [(key, value, ref.get(key), "") for key, value in lattice_summary(relaxed.atoms).items()]
    e_form = formation_energy_per_atom(relaxed.energy, relaxed.atoms.get_chemical_symbols(), mu)
    eos = eos_scan(relaxed.atoms, calc, s.eos_max_strain, s.eos_points)
    values += [("form_en", e_form, ref.get("form_en"), ""), ("b_eos", eos.bulk_modulus, ref.get("kv"), "")]
    conv = relax(conventional_cell(relaxed.atoms), calc, fmax=s.fmax, steps=s.relax_steps).atoms
    cubic = is_cubic(conv)
    c = elastic_tensor(conv, calc, delta=s.elastic_delta, cubic=cubic, steps=s.elastic_relax_steps)
    values += [("kv", voigt_bulk_modulus(c), ref.get("kv"), ""), ("c11", c[0, 0], ref.get("c11"), "")]
    values.append(("c44", cubic_constants(c)["c44"] if cubic else c[3, 3], ref.get("c44"), ""))
    if cubic:
        values.append(("c12", cubic_constants(c)["c12"], None, ""))
    values += _defect_values(relaxed.atoms, conv, calc, mu, ref, s)
    formula = relaxed.atoms.get_chemical_formula(mode="reduce")
    rows = [
        {"jid": record["jid"], "formula": formula, "calculator": calc_name, "property": prop, "site": site,
         "value": float(value), "reference": math.nan if reference is None else float(reference), "unit": UNITS[prop]}
        for prop, value, reference, site in values
    ]  # fmt: skip
    extras = {"eos": eos, "elastic": c, "cubic": cubic, "conventional": conv}
    extras.update(relax_converged=relaxed.converged, relax_steps=relaxed.steps)
    extras.update(volume_zero_stress=float(relaxed.atoms.get_volume()), seconds=time.perf_counter() - t0)
    return rows, extras
