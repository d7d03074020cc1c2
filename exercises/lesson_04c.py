"""Checks of notebook 04c (more ALIGNN); each works the answer out itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import blank as _blank
from . import check_number, is_blank, verdict


def check_slope(answer: Any, curve) -> bool:
    """``answer``: Δ log(MAE) / Δ log(N) between the first and the last row of the
    learning-curve table ``curve`` (columns: training structures, test MAE)."""
    n, err = np.asarray(curve.iloc[:, 0], float), np.asarray(curve.iloc[:, 1], float)
    if len(n) < 2 or n[-1] == n[0]:
        hint = "the curve needs two training-set sizes: add to CURVE_FRACTIONS."
        return verdict(False, hint)
    expected = (np.log(err[-1]) - np.log(err[0])) / (np.log(n[-1]) - np.log(n[0]))
    return check_number(answer, expected, "take logarithms of both columns, then rise "
                        "over run between the first and the last row.", rtol=1e-3,
                        atol=1e-6)


def check_mad(answer: Any, records, prop: Any, max_structures, seed) -> bool:
    """``answer``: the MAD baseline of ``prop`` on its split (mean absolute deviation of
    the test values from the training mean)."""
    from utils import gnn
    from utils.metrics import mad

    if is_blank(answer) or is_blank(prop):
        return _blank()
    try:
        split = gnn.property_split(records, prop, max_structures=max_structures,
                                   seed=seed)
    except gnn.GNNError as exc:
        return verdict(False, f"{prop!r} cannot be split: {exc}")
    expected = mad(gnn.targets(split["train"], prop), gnn.targets(split["test"], prop))
    return check_number(answer, expected, "split with gnn.property_split, then "
                        "utils.metrics.mad(train values, test values).", rtol=1e-4,
                        atol=1e-9)
