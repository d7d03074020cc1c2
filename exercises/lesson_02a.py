"""Checks of notebook 02a (descriptors and regression of the formation energy).

Each check recomputes the right answer from the inputs the learner passes, so it holds
for any data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import blank, close, is_blank, verdict


def _number(answer: Any) -> float | None:
    """``answer`` as a finite float, or None (a bool, a string or an array is not)."""
    if isinstance(answer, bool) or np.size(answer) != 1:
        return None
    try:
        value = float(np.asarray(answer, dtype=float).reshape(-1)[0])
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def check_exact_fit(rank: Any, rss: Any, A: np.ndarray, y: np.ndarray) -> bool:
    """Rank of the square design ``A`` (n = p + 1) and the training RSS of its fit."""
    if is_blank([rank, rss]):
        return blank()
    A, y = np.asarray(A, dtype=float), np.asarray(y, dtype=float)
    want_rank = int(np.linalg.matrix_rank(A))
    if _number(rank) != want_rank:
        return verdict(False, "the rank is np.linalg.matrix_rank(A9): the number of "
                              "independent rows of the design.")
    w = np.linalg.lstsq(A, y, rcond=None)[0]
    want_rss = float(np.sum((y - A @ w) ** 2))
    scale = float(np.sum((y - y.mean()) ** 2)) or 1.0
    value = _number(rss)
    if value is None or value < 0 or abs(value - want_rss) > 1e-6 * scale:
        return verdict(False, "the RSS is the sum of the squared residuals "
                              "y9 - A9 @ w9; with as many independent equations as "
                              "unknowns it is zero up to rounding.")
    exact = want_rank == A.shape[0]
    note = ("n = p + 1 independent rows fit exactly." if exact
            else "the rows are not independent here, so the fit is not exact.")
    return verdict(True, "", f"rank {want_rank}, RSS {want_rss:.1e} (eV/atom)^2: "
                             + note)


def check_paired(diff: Any, se: Any, y: np.ndarray, pred_a: np.ndarray,
                 pred_b: np.ndarray) -> bool:
    """Mean paired difference of absolute errors (a minus b) and its standard error."""
    if is_blank([diff, se]):
        return blank()
    y, pred_a, pred_b = (np.asarray(v, dtype=float) for v in (y, pred_a, pred_b))
    d = np.abs(pred_a - y) - np.abs(pred_b - y)
    want_diff = float(d.mean())
    if not close(diff, want_diff, rtol=1e-3, atol=1e-9):
        if close(diff, -want_diff, rtol=1e-3, atol=1e-9):
            return verdict(False, "flip the sign: the forest's error minus boosting's.")
        return verdict(False, "the mean of |pred_a - y| - |pred_b - y| over the test "
                              "set.")
    if len(d) < 2:
        return verdict(True, "", "one test material: no standard error exists.")
    want_se = float(d.std(ddof=1) / np.sqrt(len(d)))
    if not close(se, want_se, rtol=1e-3, atol=1e-9):
        return verdict(False, "the standard error is d.std(ddof=1) / sqrt(len(d)).")
    tie = abs(want_diff) < 2 * want_se
    note = "a tie within two standard errors." if tie else "beyond two standard errors."
    return verdict(True, "", f"{want_diff:+.3f} ± {want_se:.3f}: {note}")


def check_coverage(share: Any, y: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                   k: float = 1.0) -> bool:
    """Fraction of test materials whose absolute error is within k sigma of the GP."""
    if is_blank(share):
        return blank()
    y, mu, sigma = (np.asarray(v, dtype=float) for v in (y, mu, sigma))
    want = float(np.mean(np.abs(y - mu) <= k * sigma))
    value = _number(share)
    if value is not None and value > 1 and close(value / 100, want, atol=1e-9):
        return verdict(False, "give a fraction between 0 and 1, not a percentage.")
    if value is None or not close(value, want, atol=1e-9):
        return verdict(False, "the mean of np.abs(y_test - mu) <= sigma over the test "
                              "set.")
    gaussian = {1.0: 0.68, 2.0: 0.95}.get(float(k))
    note = f" (a calibrated Gaussian: {gaussian:.2f})" if gaussian else ""
    return verdict(True, "", f"{want:.2f} of the test materials{note}.")


def check_gp_prediction(mu: Any, sigma: Any, gp: Any, x: np.ndarray,
                        y_dft: float | None = None) -> bool:
    """The GP's mean and standard deviation for one material with features ``x``."""
    if is_blank([mu, sigma]):
        return blank()
    mean, std = gp.predict(np.asarray(x, dtype=float).reshape(1, -1), return_std=True)
    mean, std = float(mean[0]), float(std[0])
    if not close(mu, mean, rtol=1e-6, atol=1e-9):
        return verdict(False, "the mean is the first output of gp.predict(..., "
                              "return_std=True) for your material's row of Z['test'].")
    if not close(sigma, std, rtol=1e-6, atol=1e-9):
        return verdict(False, "sigma is the second output of gp.predict(..., "
                              "return_std=True): a standard deviation, not a variance.")
    where = ""
    if y_dft is not None:
        inside = abs(float(y_dft) - mean) <= 2 * std
        side = "inside" if inside else "outside"
        where = f" The DFT value {float(y_dft):.3f} is {side} ±2σ."
    return verdict(True, "", f"{mean:.3f} ± {std:.3f}.{where}")
