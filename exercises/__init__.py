"""Checks for the lessons' exercises: one module per notebook (``lesson_02a`` for
``02a_...ipynb``).

Each ``check_...(answer, ...)`` takes the learner's answer and what it was computed
from, works the right answer out on its own, prints whether the answer is right (with a
hint when it is not) and returns True or False. A blank (``...``, the scaffold's
placeholder) is never right and never an error, so a scaffold cell always runs. The
hidden solution cells end with ``assert ex.check_...(...)``: the tests run every
solution and its check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def is_blank(answer: Any) -> bool:
    """True when ``answer`` is, or holds, the placeholder ``...``."""
    if answer is Ellipsis:
        return True
    if isinstance(answer, dict):
        return any(is_blank(v) for v in answer.values())
    if isinstance(answer, (list, tuple, set)):
        return any(is_blank(v) for v in answer)
    return False


def verdict(ok: bool, hint: str, well_done: str = "") -> bool:
    """Print the verdict (``hint`` if wrong, ``well_done`` if right); return ``ok``."""
    if ok:
        print("Correct." + (f" {well_done}" if well_done else ""))
    else:
        print(f"Not yet: {hint}")
    return bool(ok)


def blank() -> bool:
    print("Replace each ... with your answer, then run the cell again.")
    return False


def close(answer: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Numbers or arrays equal within tolerance; False (no error) for non-numbers."""
    try:
        a = np.asarray(answer, dtype=float)
        b = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    return (
        a.shape == b.shape
        and bool(np.all(np.isfinite(a)))
        and bool(np.allclose(a, b, rtol=rtol, atol=atol))
    )


def check_number(
    answer: Any,
    expected: float,
    hint: str,
    rtol: float = 1e-3,
    atol: float = 1e-9,
    unit: str = "",
) -> bool:
    """The common case: one number that should equal ``expected`` within ``rtol``."""
    if is_blank(answer):
        return blank()
    if isinstance(answer, bool) or not close(answer, expected, rtol=rtol, atol=atol):
        shown = (
            f"{answer:.4g}"
            if isinstance(answer, (int, float)) and math.isfinite(answer)
            else repr(answer)
        )
        return verdict(False, f"{shown} {unit} is not it. {hint}".replace("  ", " "))
    return verdict(True, "", f"{float(expected):.4g} {unit}".strip())


def check_choice(
    answer: Any, right: str | Iterable[str], hint: str, options: Iterable[str] = ()
) -> bool:
    """A multiple-choice answer (a letter or a word, case and spaces ignored)."""
    if is_blank(answer):
        return blank()
    wanted = {right} if isinstance(right, str) else set(right)
    given = str(answer).strip().lower()
    options = [str(o).lower() for o in options]
    if options and given not in options:
        return verdict(False, f"answer with one of {', '.join(options)}.")
    return verdict(given in {w.lower() for w in wanted}, hint)
