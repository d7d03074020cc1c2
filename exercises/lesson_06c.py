"""Checks of part 06c (simulating with a trained force field)."""

from __future__ import annotations

import numpy as np

from . import blank, check_number, close, is_blank, verdict


def check_bulk_from_elastic(bulk_modulus, c11: float, c12: float) -> bool:
    """B = (C11 + 2 C12) / 3 for a cubic crystal (GPa)."""
    if is_blank(bulk_modulus):
        return blank()
    if not np.isfinite(c11 + c12):
        return verdict(
            False, "the data gave no elastic constants for this element (see section 1)"
        )
    if close(bulk_modulus, (c11 + c12) / 2, rtol=1e-3):
        return verdict(
            False, "C12 appears twice: the strain in y and in z both push on x"
        )
    return check_number(
        bulk_modulus,
        (c11 + 2 * c12) / 3,
        "P = -(C11 + 2 C12) eps and dV/V = 3 eps",
        rtol=1e-3,
        unit="GPa",
    )


def check_c11(c11, atoms, calc, size: float) -> bool:
    """C11 (GPa) of ``calc``: central difference of sigma_xx under strains ±size."""
    from ase.units import GPa

    if is_blank(c11):
        return blank()
    if not 0 < size <= 0.1:
        return verdict(
            False,
            "choose a strain size between 0.001 and 0.05 (a fraction, not per cent)",
        )
    stresses = []
    for sign in (1, -1):
        strained = atoms.copy()
        strained.set_cell(
            atoms.cell.array @ np.diag([1 + sign * size, 1, 1]), scale_atoms=True
        )
        strained.calc = calc
        stresses.append(strained.get_stress()[0] / GPa)
    expected = (stresses[0] - stresses[1]) / (2 * size)
    return check_number(
        c11,
        expected,
        "derivative('xx', 0, False, size): sigma_xx at +size minus at -size, "
        "over 2 size",
        rtol=2e-3,
        unit="GPa",
    )


def check_bcc_shells(cn_midpoint, cn_1_2, atoms) -> bool:
    """Neighbours within the midpoint of the first two shells and within 1.2 d1."""
    from ase.neighborlist import neighbor_list

    if is_blank((cn_midpoint, cn_1_2)):
        return blank()
    d = np.sort(np.unique(np.round(neighbor_list("d", atoms, 6.0), 4)))
    counts = [
        len(neighbor_list("i", atoms, r)) / len(atoms)
        for r in (0.5 * (d[0] + d[1]), 1.2 * d[0])
    ]
    if not close(cn_midpoint, counts[0], rtol=1e-6):
        return verdict(
            False,
            "coordination_number(lithium, 0.5 * (l1 + l2)), l1, l2: neighbour_shells",
        )
    return check_number(
        cn_1_2,
        counts[1],
        "coordination_number(lithium, 1.2 * l1): the second shell of bcc "
        "is only 15 % farther than the first",
        rtol=1e-6,
    )
