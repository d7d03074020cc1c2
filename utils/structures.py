"""Crystal structures: jarvis-tools ``Atoms`` from records, and conversions to and from ASE."""

from __future__ import annotations

from typing import Any

import numpy as np


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
        raise StructureError(
            f"{ident}: expected an 'atoms' dict (lattice_mat, coords, elements), found {type(data).__name__}."
        )
    missing = [k for k in ("lattice_mat", "coords", "elements") if k not in data]
    if missing:
        raise StructureError(f"{ident}: the 'atoms' dict lacks {', '.join(missing)}.")
    lattice = np.asarray(data["lattice_mat"], dtype=float)
    coords = np.asarray(data["coords"], dtype=float)
    elements = list(data["elements"])
    if lattice.shape != (3, 3):
        raise StructureError(f"{ident}: lattice_mat must be 3x3, found shape {lattice.shape}.")
    if coords.ndim != 2 or coords.shape[1] != 3 or len(coords) != len(elements) or not elements:
        raise StructureError(
            f"{ident}: coords must be N x 3 with one row per element; "
            f"found {coords.shape} for {len(elements)} elements."
        )
    if abs(np.linalg.det(lattice)) < 1e-6:
        raise StructureError(f"{ident}: the lattice has zero volume.")
    return Atoms(lattice_mat=lattice, coords=coords, elements=elements, cartesian=bool(data.get("cartesian", False)))


def to_ase(atoms):
    """jarvis-tools ``Atoms`` -> ASE ``Atoms`` (periodic in all three directions)."""
    from ase import Atoms as AseAtoms

    return AseAtoms(
        symbols=list(atoms.elements),
        cell=np.asarray(atoms.lattice_mat),
        scaled_positions=np.asarray(atoms.frac_coords),
        pbc=True,
    )


def from_ase(ase_atoms):
    """ASE ``Atoms`` -> jarvis-tools ``Atoms`` (fractional coordinates)."""
    from jarvis.core.atoms import Atoms

    return Atoms(
        lattice_mat=np.asarray(ase_atoms.get_cell()),
        coords=np.asarray(ase_atoms.get_scaled_positions(wrap=False)),
        elements=list(ase_atoms.get_chemical_symbols()),
        cartesian=False,
    )
