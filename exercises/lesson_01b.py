"""Checks for notebook 01b (beyond the bulk crystal): each finds the answer itself."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import blank, close, is_blank, verdict

PUGH_DUCTILE = 0.571  # Pugh's ratio G/K below which a material counts as ductile


def stable_wide_gap_oxides(frame, gap: float = 3.0, e_hull: float = 0.1):
    """Oxides with an OptB88vdW gap above ``gap`` eV, ``e_hull_here`` below ``e_hull``
    eV/atom and positive moduli, with their Pugh ratio ``pugh``, most ductile first."""
    k, g = frame["bulk_modulus_kv"], frame["shear_modulus_gv"]
    oxide = frame["elements"].map(lambda els: "O" in els)
    keep = oxide & (frame["optb88vdw_bandgap"] > gap) & (frame["e_hull_here"] < e_hull)
    keep &= (k > 0) & (g > 0)
    chosen = frame[keep].assign(pugh=g[keep] / k[keep])
    return chosen.sort_values("pugh")


def check_stable_oxide(jid: Any, is_ductile: Any, frame) -> bool:
    """Exercise 1: the most ductile stable wide-gap oxide (its jid, None when there is
    none) and whether Pugh's criterion calls it ductile."""
    if is_blank([jid, is_ductile]):
        return blank()
    ranked = stable_wide_gap_oxides(frame)
    if ranked.empty:
        hint = "no oxide of the loaded data passes the filters: the answer is None."
        return verdict(jid is None, hint, "No oxide passes in this data.")
    best = ranked.iloc[0]
    if jid != best["jid"]:
        return verdict(False, "keep oxides with gap > 3 eV, e_hull_here < 0.1 eV/atom, "
                              "K_V > 0 and G_V > 0, then take the smallest G_V / K_V.")
    ductile = bool(best["pugh"] < PUGH_DUCTILE)
    if not isinstance(is_ductile, (bool, np.bool_)) or bool(is_ductile) != ductile:
        hint = f"{jid} has G/K = {best['pugh']:.2f}: compare it with 0.571 (True/False)"
        return verdict(False, hint)
    kind = "ductile" if ductile else "brittle"
    done = f"{jid} ({best['formula']}): G/K {best['pugh']:.2f}, {kind}."
    return verdict(True, "", done)


def easiest_magnet(frame, moment: float = 0.5):
    """The jid of the lowest exfoliation energy among materials with a magnetic moment
    above ``moment`` μB (None when there is none)."""
    keep = frame["exfoliation_energy"].notna() & (frame["magmom_oszicar"] > moment)
    if not keep.any():
        return None
    return frame.loc[frame.loc[keep, "exfoliation_energy"].idxmin(), "jid"]


def check_easiest_magnet(jid: Any, frame) -> bool:
    """Exercise 3: the layered magnet (> 0.5 μB) with the lowest exfoliation energy."""
    if is_blank(jid):
        return blank()
    expected = easiest_magnet(frame)
    if jid != expected:
        hint = ("keep rows with an exfoliation energy and magmom_oszicar > 0.5 μB, "
                "then take the jid of the smallest exfoliation energy (None if none).")
        return verdict(False, hint)
    return verdict(True, "", f"{expected}." if expected else "No layered magnet here.")


def broken_bonds(slab, bond_length: float = 2.6, bulk_neighbours: int = 4) -> int:
    """Bonds a slab lost: for each atom, the bulk coordination minus its neighbours
    closer than ``bond_length`` (Å)."""
    lost = 0
    for site in slab.get_all_neighbors(r=bond_length):
        lost += max(0, bulk_neighbours - sum(1 for n in site if n[2] < bond_length))
    return lost


def check_broken_bonds(answer: Any, slab, bond_length: float = 2.6,
                       bulk_neighbours: int = 4) -> bool:
    """Exercise 4: how many bonds cutting ``slab`` broke (each dangling bond once)."""
    if is_blank(answer):
        return blank()
    expected = broken_bonds(slab, bond_length, bulk_neighbours)
    if isinstance(answer, bool) or not close(answer, expected, rtol=0, atol=0):
        return verdict(False, f"for each atom count its neighbours closer than "
                              f"{bond_length} Å (get_all_neighbors) and add up "
                              f"{bulk_neighbours} minus that count.")
    return verdict(True, "", f"{expected} dangling bonds on the two surfaces.")


def train_mean_baseline(split, prop: str) -> tuple[int, float]:
    """Test size and test MAE of predicting the training mean of ``prop``."""
    train = np.array([r[prop] for r in split["train"]], dtype=float)
    test = np.array([r[prop] for r in split["test"]], dtype=float)
    if not len(train) or not len(test):
        return len(test), math.nan
    return len(test), float(np.abs(test - train.mean()).mean())


def check_benchmark(prop: Any, test_size: Any, baseline_mae: Any, split) -> bool:
    """Exercise 5: the test size and the train-mean baseline MAE of ``prop``'s split."""
    if is_blank([prop, test_size, baseline_mae]):
        return blank()
    size, mae = train_mean_baseline(split, prop)
    if isinstance(test_size, bool) or not close(test_size, size, rtol=0, atol=0):
        return verdict(False, "the test size is len(split['test']).")
    if not close(baseline_mae, mae, rtol=1e-3, atol=1e-9):
        return verdict(False, "predict the mean of the training values for every test "
                              "record and average the absolute errors.")
    return verdict(True, "", f"{prop}: {size} test materials, baseline MAE {mae:.4g}.")
