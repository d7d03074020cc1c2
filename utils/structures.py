"""Crystal structures: jarvis-tools ``Atoms`` from records, conversions to and from ASE, standard cells (spglib)."""

from __future__ import annotations

from typing import Any

import numpy as np

LENGTH_RANGE = (0.5, 1000.0)  # Å: longer or shorter lattice vectors are no crystal cell (neighbour searches blow up)
VOLUME_PER_ATOM_RANGE = (1.0, 1e5)  # Å³/atom: solids 5-50, a molecule or 2D sheet in vacuum up to a few thousand
SYMPREC = 1e-3  # Å, spglib's tolerance for the symmetry of a relaxed cell


class StructureError(ValueError):
    """A structure could not be built; the message says which field is wrong."""


def atoms_from_record(record: dict[str, Any]):
    """The jarvis-tools ``Atoms`` of a record (its ``atoms`` dict), with clear errors for malformed input."""
    from jarvis.core.atoms import Atoms
    ident = record.get("jid", "record") if isinstance(record, dict) else "record"
    data = record.get("atoms") if isinstance(record, dict) else None
    if isinstance(data, Atoms):
        return data
    if not isinstance(data, dict):
        raise StructureError(f"{ident}: expected an 'atoms' dict (lattice_mat, coords, elements), found "
                             f"{type(data).__name__}.")
    missing = [k for k in ("lattice_mat", "coords", "elements") if k not in data]
    if missing:
        raise StructureError(f"{ident}: the 'atoms' dict lacks {', '.join(missing)}.")
    lattice = np.asarray(data["lattice_mat"], dtype=float)
    coords = np.asarray(data["coords"], dtype=float)
    elements = list(data["elements"])
    if lattice.shape != (3, 3):
        raise StructureError(f"{ident}: lattice_mat must be 3x3, found shape {lattice.shape}.")
    if coords.ndim != 2 or coords.shape[1] != 3 or len(coords) != len(elements) or not elements:
        raise StructureError(f"{ident}: coords must be N x 3 with one row per element; found {coords.shape} for "
                             f"{len(elements)} elements.")  # fmt: skip
    _check_cell(ident, lattice, coords)
    return Atoms(lattice_mat=lattice, coords=coords, elements=elements, cartesian=bool(data.get("cartesian", False)))


def _check_cell(ident: str, lattice: np.ndarray, coords: np.ndarray) -> None:
    """StructureError naming ``ident`` for non-finite numbers, a flat cell, or lattice vector lengths or a volume
    per atom outside ``LENGTH_RANGE`` and ``VOLUME_PER_ATOM_RANGE``."""
    advice = "Fix the record (lattice_mat in Å, one row per lattice vector) or drop it."
    if not np.all(np.isfinite(lattice)):
        raise StructureError(f"{ident}: the lattice holds non-finite numbers ({lattice.tolist()}). {advice}")
    if not np.all(np.isfinite(coords)):
        rows = np.flatnonzero(~np.all(np.isfinite(coords), axis=1)).tolist()
        raise StructureError(f"{ident}: coordinates of the atoms at rows {rows[:5]} are not finite numbers. {advice}")
    with np.errstate(over="ignore", invalid="ignore"):
        lengths, volume = np.linalg.norm(lattice, axis=1), abs(np.linalg.det(lattice))
    if volume < 1e-6:
        raise StructureError(f"{ident}: the lattice has zero volume.")
    (lo, hi), (vlo, vhi) = LENGTH_RANGE, VOLUME_PER_ATOM_RANGE
    if not np.all((lengths >= lo) & (lengths <= hi)):
        raise StructureError(f"{ident}: lattice vector lengths {np.round(lengths, 3).tolist()} Å lie outside "
                             f"{lo:g}-{hi:g} Å, so this is no crystal cell in Å. {advice}")
    if not vlo <= volume / len(coords) <= vhi:
        raise StructureError(f"{ident}: volume per atom {volume / len(coords):.3g} Å³ ({len(coords)} atoms in "
                             f"{volume:.3g} Å³) lies outside {vlo:g}-{vhi:g} Å³. {advice}")


def to_ase(atoms):
    """jarvis-tools ``Atoms`` -> ASE ``Atoms`` (periodic in all three directions)."""
    from ase import Atoms as AseAtoms
    return AseAtoms(symbols=list(atoms.elements), cell=atoms.lattice_mat, scaled_positions=atoms.frac_coords, pbc=True)


def from_ase(ase_atoms):
    """ASE ``Atoms`` -> jarvis-tools ``Atoms`` (fractional coordinates)."""
    from jarvis.core.atoms import Atoms
    cell, coords = np.asarray(ase_atoms.get_cell()), ase_atoms.get_scaled_positions(wrap=False)
    return Atoms(lattice_mat=cell, coords=coords, elements=ase_atoms.get_chemical_symbols(), cartesian=False)


def record_to_ase(record: dict[str, Any]):
    """The ASE ``Atoms`` of a dataset record (its jarvis-tools ``atoms`` dict)."""
    return to_ase(atoms_from_record(record))


def _spglib_cell(atoms) -> tuple:
    return np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers


def standard_cell(atoms, primitive: bool = False):
    """spglib's conventional standard cell, or with ``primitive`` the primitive cell in the same standard
    orientation: elastic constants computed on either are equal, JARVIS reports them in that orientation."""
    import spglib
    from ase import Atoms as AseAtoms
    lattice, positions, numbers = spglib.standardize_cell(_spglib_cell(atoms), to_primitive=primitive, symprec=SYMPREC)
    return AseAtoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)


def is_cubic(atoms) -> bool:
    """True for a cubic space group (195-230)."""
    import spglib
    data = spglib.get_symmetry_dataset(_spglib_cell(atoms), SYMPREC)
    return data is not None and 195 <= data.number <= 230


def lattice_summary(atoms) -> dict[str, float]:
    """Lattice lengths a, b, c (Å) and cell volume (Å³) of ASE ``atoms``."""
    a, b, c = atoms.cell.lengths()
    return {"a": float(a), "b": float(b), "c": float(c), "vol": float(atoms.get_volume())}
