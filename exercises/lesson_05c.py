"""Checks for notebook 05c (XRD- and image-conditioned structure generation)."""

from __future__ import annotations

import math
from typing import Any, Callable

from . import blank, check_number, is_blank, verdict

CU_KALPHA = 1.5418  # Å, the wavelength of jarvis-tools' XRD simulation


def check_bragg(
    d: Any, a: Any, two_theta: float, wavelength: float = CU_KALPHA
) -> bool:
    """Plane spacing d = λ / (2 sin θ) of a (111) peak at ``two_theta`` (degrees) and
    the cubic a = d·√3."""
    if is_blank(d) or is_blank(a):
        return blank()
    expected = wavelength / (2 * math.sin(math.radians(two_theta / 2)))
    if not check_number(
        d,
        expected,
        "θ is half of 2θ; d = λ / (2 sin θ) with λ = 1.5418 Å.",
        rtol=1e-3,
        unit="Å",
    ):
        return False
    return check_number(
        a,
        expected * math.sqrt(3),
        "for (111) planes of a cubic cell, d = a / √(1+1+1).",
        rtol=1e-3,
        unit="Å",
    )


def check_strongest_peak(answer: Any, atoms, peaks: Callable) -> bool:
    """2θ (degrees) of the strongest peak of ``peaks(atoms)`` (the notebook's
    ``xrd_peaks``)."""
    if is_blank(answer) or is_blank(atoms):
        return blank()
    try:
        found = peaks(atoms)
    except Exception as exc:  # not a crystal jarvis-tools can simulate
        return verdict(
            False,
            f"xrd_peaks could not simulate your crystal ({type(exc).__name__}: {exc}).",
        )
    if not found:
        return verdict(
            False, "your crystal has no peak below 90°: choose a larger cell."
        )
    expected = max(found, key=lambda peak: peak[1])[0]
    return check_number(
        answer,
        expected,
        "take the 2θ of the peak with relative intensity 1.",
        rtol=0,
        atol=0.05,
        unit="°",
    )


def check_patches(n_tokens: Any, values: Any, pixels: int, patch: int) -> bool:
    """Image tokens (pixels / patch)² and values per patch (patch²)."""
    if is_blank(n_tokens) or is_blank(values):
        return blank()
    if not check_number(
        values, patch * patch, "a patch is PATCH x PATCH pixels.", rtol=0, atol=0.5
    ):
        return False
    return check_number(
        n_tokens,
        (pixels // patch) ** 2,
        "the image holds (STEM_PIXELS / PATCH) patches along each side.",
        rtol=0,
        atol=0.5,
    )
