"""The error and its baseline every lesson prints: the MAE beside the MAD."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mae(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def mad(y_train: Sequence[float], y_test: Sequence[float]) -> float:
    """Mean absolute deviation baseline: the MAE of always predicting the training mean on the test set."""
    return mae(y_test, np.full(len(y_test), float(np.mean(np.asarray(y_train, float)))))

