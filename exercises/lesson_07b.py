"""Checks of notebook 07b (phonons, melting, cost and surfaces).

Each check works the right answer out from the inputs it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import blank, check_number, is_blank, verdict

THZ_TO_INV_CM = 33.35641
EV_PER_A2_TO_J_PER_M2 = 16.021766208


def check_wavenumber(answer: Any, frequency_thz: float) -> bool:
    """A phonon frequency in cm⁻¹ from THz: divided by the speed of light."""
    hint = "wavenumber = frequency / c; 1 THz = 1e12 / 2.9979e10 cm⁻¹ = 33.356 cm⁻¹."
    expected = frequency_thz * THZ_TO_INV_CM
    return check_number(answer, expected, hint, rtol=2e-3, unit="cm⁻¹")


def check_scaling_exponent(answer: Any, n_atoms: Sequence[float],
                           seconds: Sequence[float]) -> bool:
    """The exponent k of time ∝ N^k: the slope of a line fit of log(time) vs log(N)."""
    if is_blank(answer):
        return blank()
    n, t = np.asarray(n_atoms, float), np.asarray(seconds, float)
    if len(set(n)) < 2:
        return verdict(False, "the exponent needs timings of at least two cell sizes.")
    slope = float(np.polyfit(np.log(n), np.log(t), 1)[0])
    hint = "fit np.polyfit(np.log(n_atoms), np.log(seconds), 1): the slope."
    return check_number(answer, slope, hint, rtol=0.02)


def check_surface_energy(answer: Any, slab_energy: float, n_atoms: int,
                         bulk_energy_per_atom: float, area: float) -> bool:
    """γ = (E_slab - N e_bulk) / (2 A) in J/m² (two surfaces; 1 eV/Å² = 16.02 J/m²)."""
    if is_blank(answer) or is_blank(area):
        return blank()
    gamma = (slab_energy - n_atoms * bulk_energy_per_atom) / (2 * area)
    hint = "γ = (E_slab - N e_bulk) / (2 A), two surfaces; 1 eV/Å² = 16.02 J/m²."
    expected = gamma * EV_PER_A2_TO_J_PER_M2
    return check_number(answer, expected, hint, rtol=1e-3, unit="J/m²")
