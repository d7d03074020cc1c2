"""Regression metrics reported with a baseline: every lesson prints MAE beside the MAD."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mae(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def mad(y_train: Sequence[float], y_test: Sequence[float]) -> float:
    """Mean absolute deviation baseline: the MAE of always predicting the training mean on the test set."""
    return mae(y_test, np.full(len(y_test), float(np.mean(np.asarray(y_train, float)))))


def r2(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Coefficient of determination R² of predictions against the truth (not a correlation coefficient)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ss_res = float(np.sum((y_true - y_pred) ** 2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
