"""Checks for notebook 01a (the JARVIS-DFT database): each finds the answer itself."""

from __future__ import annotations

import math
from typing import Any

from . import blank, close, is_blank, verdict

PUGH_DUCTILE = 0.571  # Pugh's ratio G/K below which a material counts as ductile


def shortest_distance(atoms, start: float = 4.0) -> float:
    """The shortest interatomic distance (Å) of a jarvis-tools ``Atoms``."""
    radius = start
    while radius < 30:
        distances = [n[2] for site in atoms.get_all_neighbors(r=radius) for n in site]
        if distances:
            return float(min(distances))
        radius *= 2
    return math.nan


def check_card(jid: Any, spg_number: Any, shortest_bond: Any, records: list) -> bool:
    """Exercise 1: the space-group number and the shortest bond (Å) of ``jid``."""
    if is_blank([jid, spg_number, shortest_bond]):
        return blank()
    record = next((r for r in records if r.get("jid") == jid), None)
    if record is None:
        return verdict(False, f"{jid!r} is not a jid of the loaded data: take one from "
                              "df['jid'].")
    from jarvis.analysis.structure.spacegroup import Spacegroup3D
    from jarvis.core.atoms import Atoms

    atoms = Atoms.from_dict(record["atoms"])
    number = Spacegroup3D(atoms).space_group_number
    bond = shortest_distance(atoms)
    if isinstance(spg_number, bool) or not close(spg_number, number, rtol=0, atol=0):
        return verdict(False, "the space-group number is Spacegroup3D(atoms)"
                              ".space_group_number, an integer from 1 to 230.")
    if not close(shortest_bond, bond, rtol=1e-3):
        hint = ("the shortest bond is the smallest distance (third entry) over all "
                "sites of atoms.get_all_neighbors(r=...); raise r when it is empty.")
        return verdict(False, hint)
    return verdict(True, "", f"{jid}: space group {number}, shortest bond {bond:.3f} Å")


def ductile_fractions(frame) -> tuple[float, float]:
    """Fractions of metals (OptB88vdW gap 0) and of materials with a gap that are
    ductile by Pugh's ratio, over materials with K_V > 0 and G_V > 0."""
    k, g = frame["bulk_modulus_kv"], frame["shear_modulus_gv"]
    gap = frame["optb88vdw_bandgap"]
    usable = (k > 0) & (g > 0) & gap.notna()
    ductile = (g[usable] / k[usable]) < PUGH_DUCTILE
    metal = gap[usable] == 0
    share = lambda mask: float(ductile[mask].mean()) if mask.any() else math.nan  # noqa: E731
    return share(metal), share(~metal)


def _same(answer: Any, expected: float) -> bool:
    if math.isnan(expected):
        return answer is None or (isinstance(answer, float) and math.isnan(answer))
    if isinstance(answer, bool):
        return False
    return close(answer, expected, rtol=1e-3, atol=1e-6)


def check_ductile_fractions(metals: Any, gapped: Any, frame) -> bool:
    """Exercise 3: the ductile fraction (G_V/K_V < 0.571) of metals and of the rest."""
    if is_blank([metals, gapped]):
        return blank()
    expected = ductile_fractions(frame)
    if not _same(metals, expected[0]):
        hint = ("among materials with K_V > 0, G_V > 0 and an OptB88vdW gap, take "
                "those with gap == 0 and the fraction with G_V / K_V < 0.571 (0 to 1).")
        return verdict(False, hint)
    if not _same(gapped, expected[1]):
        return verdict(False, "the metals are right; now the same fraction for the "
                              "materials with gap > 0.")
    return verdict(True, "", f"metals {expected[0]:.0%} ductile, materials with a gap "
                             f"{expected[1]:.0%}.")
