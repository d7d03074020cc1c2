"""Checks of notebook 07a (the CHIPS-FF-style benchmark).

Each check works the right answer out from the inputs it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase.units import GPa

from . import blank, check_number, close, is_blank, verdict

EV_PER_A3_TO_GPA = 1 / GPa  # 1 eV/Å³ = 160.2 GPa


def check_parabola_modulus(answer: Any, volumes: Sequence[float],
                           energies: Sequence[float]) -> bool:
    """B = V0 E''(V0) in GPa from a parabola E(V) = p0 V² + p1 V + p2 fitted to the scan
    (its minimum at V0 = -p1 / 2 p0)."""
    volumes, energies = np.asarray(volumes, float), np.asarray(energies, float)
    p0, p1, _ = np.polyfit(volumes, energies, 2)
    expected = -p1 / (2 * p0) * 2 * p0 * EV_PER_A3_TO_GPA
    hint = ("fit np.polyfit(volumes, energies, 2) -> p0, p1, p2; the minimum is at "
            "V0 = -p1 / (2 p0), E'' = 2 p0 (eV/Å⁶), and 1 eV/Å³ = 160.2 GPa.")
    return check_number(answer, expected, hint, rtol=0.01, unit="GPa")


def check_mae_and_mad(answer: Any, results, prop: str, calculator: str) -> bool:
    """``answer = (mae, mad)`` of ``calculator`` for ``prop`` over the rows with a value
    and a DFT reference: MAE = mean |value - reference|, MAD = mean |ref - mean|."""
    if is_blank(answer):
        return blank()
    mine = (results["property"] == prop) & (results["calculator"] == calculator)
    sub = results[mine]
    sub = sub.dropna(subset=["value", "reference"])
    if sub.empty:
        return verdict(False, f"{calculator} has no {prop} value with a DFT reference.")
    ref = sub["reference"].to_numpy(float)
    mae = float(np.mean(np.abs(sub["value"].to_numpy(float) - ref)))
    mad = float(np.mean(np.abs(ref - ref.mean())))
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        return verdict(False, "answer with two numbers: (mae, mad).")
    if not close(answer[0], mae, rtol=1e-3, atol=1e-9):
        return verdict(False, "the MAE is the mean of |value - reference| over "
                              "the rows of that force field.")
    ok = close(answer[1], mad, rtol=1e-3, atol=1e-9)
    hint = "the MAD is the mean of |reference - mean(reference)| over the same rows."
    return verdict(ok, hint, f"MAE {mae:.4g}, MAD {mad:.4g} over {len(sub)} materials.")


def check_lattice_error(answer: Any, rows: Sequence[dict[str, Any]]) -> bool:
    """The signed error of the lattice length a (force field minus JARVIS-DFT, Å) in the
    ``benchmark_material`` rows of one material."""
    if is_blank(answer) or is_blank(rows):
        return blank()
    row = next((r for r in rows if r["property"] == "a"), None)
    if row is None or not np.isfinite(row["reference"]):
        return verdict(False, "these rows hold no lattice length a with a DFT value.")
    return check_number(answer, row["value"] - row["reference"],
                        "take the row whose property is 'a': value - reference.",
                        rtol=1e-3, atol=1e-6, unit="Å")
