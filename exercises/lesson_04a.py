"""Checks of notebook 04a (ALIGNN's two graphs); each works the answer out itself."""

from __future__ import annotations

from typing import Any

from . import blank as _blank
from . import check_number, close, is_blank, verdict


def check_counts(answer: Any, atoms, cutoff: float, max_neighbors: int,
                 three_body_cutoff: float) -> bool:
    """``answer = (bonds, angles)``: edges of the crystal graph and of the line graph of
    ``atoms`` for these settings (``max_neighbors=0``: no limit)."""
    from utils import gnn

    if is_blank(answer) or is_blank(atoms):
        return _blank()
    setting = gnn.GNNConfig(cutoff=cutoff, max_neighbors=max_neighbors,
                            three_body_cutoff=three_body_cutoff)
    g, lg = gnn.build_graph(atoms, setting)
    try:
        bonds, angles = (int(v) for v in answer)
    except (TypeError, ValueError):
        return verdict(False, "give two whole numbers: (bonds, angles).")
    if bonds != g.num_edges:
        limit = max_neighbors or "any number"
        hint = (f"{bonds} bonds is not it: count each atom's neighbours within "
                f"{cutoff} Å (at most {limit}), times {atoms.num_atoms} atoms.")
        return verdict(False, hint)
    if angles != lg.num_edges:
        hint = (f"the bonds are right, {angles} angles is not: at each atom, every "
                f"bond shorter than {three_body_cutoff} Å pairs with every such bond, "
                "itself included.")
        return verdict(False, hint)
    return verdict(True, "", f"{g.num_edges} bonds and {lg.num_edges} angles.")


def check_finite_difference(answer: Any, forces, atom: int, axis: int) -> bool:
    """``answer``: the force on ``atom`` along ``axis`` (eV/Å) from two energies,
    within 3 % of the autograd force ``forces[atom][axis]``."""
    if is_blank(answer):
        return _blank()
    expected = float(forces[atom][axis])
    if close(answer, -expected, rtol=0.03, atol=2e-5):
        return verdict(False, "the sign is flipped: the force is minus the slope, "
                       "-(E+ - E-) / (2h).")
    return check_number(answer, expected, "compute -(e_plus - e_minus) / (2 * h), with "
                        "e_plus the energy after moving the atom by +h.", rtol=0.03,
                        atol=2e-5, unit="eV/Å")
