"""Checks for notebook 03b (attention, graphs and diffusion).

Each check works the right answer out itself from what it is given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import blank, check_number, close, is_blank, verdict


def check_score_std(answer: Any, d_k: int) -> bool:
    """The standard deviation of q . k for random unit-variance vectors of width d_k."""
    if is_blank(answer):
        return blank()
    if close(answer, d_k, rtol=0.05):
        return verdict(False, "that is the variance of q . k; the standard deviation "
                              "is its square root.")
    return check_number(answer, math.sqrt(d_k), f"sum q * k over the {d_k} columns "
                        "for each pair, then take the standard deviation of the 10,000 "
                        "scores.", rtol=0.05)


def rope_partner(dim: int, d: int, halves: bool = False) -> int:
    """The dimension that turns with ``dim``: pairs (2i, 2i+1), or halves (i, i+d/2)."""
    if halves:
        return (dim + d // 2) % d
    return dim ^ 1


def rope_angle(dim: int, position: int, d: int, halves: bool = False) -> float:
    """Angle (radians) of the pair holding ``dim`` at ``position``: m 10000^(-2i/d)."""
    i = dim % (d // 2) if halves else dim // 2
    return position * 10000 ** (-2 * i / d)


def check_rope_pair(partner: Any, angle: Any, dim: int, position: int, d: int) -> bool:
    """Partner and angle of dimension ``dim`` in the adjacent-pair RoPE of width d."""
    if is_blank([partner, angle]):
        return blank()
    if partner == rope_partner(dim, d, halves=True):
        return verdict(False, "that is the partner in the halves convention "
                              "(rope_halves); `rope` pairs dimensions 2i and 2i + 1.")
    if partner != rope_partner(dim, d):
        return verdict(False, f"dimension {dim} belongs to the pair (2i, 2i + 1) with "
                              f"i = {dim} // 2.")
    if not close(angle, rope_angle(dim, position, d), rtol=1e-6):
        return verdict(False, "the angle is m * theta_i with theta_i = 10000^(-2i/d), "
                              "i the index of the pair (not of the dimension).")
    pair = f"({min(dim, partner)}, {max(dim, partner)})"
    return verdict(True, "", f"pair {pair} turns by {rope_angle(dim, position, d):.4g} "
                             f"rad at position {position}.")


def bond_angle_count(atoms, cutoff: float) -> int:
    """Edges of the line graph of ``atoms`` (ASE) for bonds within ``cutoff``."""
    from ase.neighborlist import neighbor_list

    z = np.bincount(neighbor_list("i", atoms, cutoff), minlength=len(atoms))
    return int((z * (z - 1) // 2).sum())


def check_bond_angle_count(answer: Any, atoms, cutoff: float) -> bool:
    """The number of bond angles (line-graph edges) of the cell of ``atoms`` (ASE)."""
    from ase.neighborlist import neighbor_list

    if is_blank(answer):
        return blank()
    expected = bond_angle_count(atoms, cutoff)
    bonds = len(neighbor_list("i", atoms, cutoff))
    if expected == 0:
        print(f"With a cutoff of {cutoff} Å no atom has two bonds: try a larger one.")
    if expected and (close(answer, bonds) or close(answer, bonds // 2)):
        return verdict(False, "that counts bonds (the nodes of the line graph); its "
                              "edges are the pairs of bonds that share an atom.")
    return check_number(answer, expected, "count each atom's bonds z "
                        "(ase.neighborlist.neighbor_list('i', ...) lists the centre "
                        "atom of every bond) and add up z (z - 1) / 2.", rtol=0)


def check_noise_wins(answer: Any, betas) -> bool:
    """First step t (from 1) with sqrt(1 - alpha_bar_t) > sqrt(alpha_bar_t)."""
    if is_blank(answer):
        return blank()
    alpha_bar = np.cumprod(1 - np.asarray(betas, dtype=float))
    below = np.flatnonzero(alpha_bar < 0.5)
    if len(below) == 0:
        print("With this schedule the noise's share never exceeds the data's.")
        return verdict(answer is None, "answer None.")
    expected = int(below[0]) + 1
    if close(answer, expected - 1):
        return verdict(False, "count the steps from 1: alpha_bar[0] belongs to step 1.")
    return check_number(answer, expected, "the noise wins where alpha_bar_t < 1/2.",
                        rtol=0)
