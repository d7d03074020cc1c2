"""Checks of notebook 02c (learning curve, hyper-parameters, which descriptors matter).

Each check recomputes the right answer from the inputs the learner passes, so it holds
for any data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import blank, check_number, close, is_blank, verdict


def _mae(y: np.ndarray, pred: np.ndarray) -> float:
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    return float(np.mean(np.abs(y - pred)))


def check_extrapolation(n_needed: Any, log_n: Any, log_mae: Any, target: float) -> bool:
    """Training-set size at which the line log MAE = log a + s log n reaches target."""
    if is_blank(n_needed):
        return blank()
    log_n, log_mae = np.asarray(log_n, dtype=float), np.asarray(log_mae, dtype=float)
    s, log_a = np.polyfit(log_n, log_mae, 1)
    if s >= 0:
        print("This curve does not fall: more data does not lower its line.")
    want = float(np.exp((np.log(target) - log_a) / s)) if s != 0 else np.inf
    hint = "solve log(target) = log_a + s * log(n): n = exp((log(target) - log_a) / s)."
    return check_number(n_needed, want, hint, rtol=1e-3)


def check_permutation_rise(rise: Any, fitted: Any, X: np.ndarray, X_shuffled: Any,
                           y: np.ndarray) -> bool:
    """Rise of the MAE of ``fitted`` when its input X is replaced by ``X_shuffled``."""
    if is_blank([rise, X_shuffled]):
        return blank()
    X, X_shuffled = np.asarray(X, dtype=float), np.asarray(X_shuffled, dtype=float)
    if X_shuffled.shape != X.shape:
        return verdict(False, "X_shuffled must have the shape of X_eval.")
    if np.array_equal(X, X_shuffled):
        return verdict(False, "X_shuffled equals X_eval: put the cell columns of "
                              "X_eval[rng.permutation(len(X_eval))] into a copy.")
    want = _mae(y, fitted.predict(X_shuffled)) - _mae(y, fitted.predict(X))
    hint = "the MAE on X_shuffled minus the MAE on X_eval, both from fitted.predict."
    return check_number(rise, want, hint, rtol=1e-6, atol=1e-9)


def check_property(my_mae: Any, my_mad: Any, model: Any, data: dict) -> bool:
    """Test MAE of ``model`` and the MAD baseline on the split features ``data``."""
    if is_blank([my_mae, my_mad, model, data]):
        return blank()
    train, test = data["train"], data["test"]
    want_mad = _mae(test.y, np.full(len(test.y), float(np.mean(train.y))))
    if not close(my_mad, want_mad, rtol=1e-6):
        return verdict(False, "the MAD is the MAE of always predicting the training "
                              "mean: mad(my_data['train'].y, my_data['test'].y).")
    want_mae = _mae(test.y, model.predict(test.X))
    hint = "the test MAE: mae(my_data['test'].y, my_model.predict(my_data['test'].X))."
    return check_number(my_mae, want_mae, hint, rtol=1e-6)
