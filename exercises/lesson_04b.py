"""Checks of notebook 04b (training ALIGNN); each works the answer out itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import blank as _blank
from . import check_number, is_blank


def check_ratio(answer: Any, y_train, y_test, y_pred) -> bool:
    """``answer``: the test MAE of ``y_pred`` divided by the MAD baseline (the MAE of
    always predicting the mean of ``y_train``)."""
    y_test = np.asarray(y_test, float)
    mae = np.mean(np.abs(np.asarray(y_pred, float) - y_test))
    mad = np.mean(np.abs(y_test - np.mean(np.asarray(y_train, float))))
    return check_number(answer, mae / mad, "divide the model's test MAE by the MAE of "
                        "always predicting the training mean.", rtol=1e-3)


def check_prediction(answer: Any, model, atoms, cfg) -> bool:
    """``answer``: the model's prediction for ``atoms`` (graphs built with ``cfg``),
    recomputed here in fp32."""
    from utils import gnn

    if is_blank(answer) or is_blank(atoms):
        return _blank()
    device = str(next(model.parameters()).device)
    g, lg = gnn.build_graph(atoms, cfg)
    one = gnn.GraphDataset([(g, lg)], np.zeros(1), ["mine"], "")
    expected = float(gnn.predict(model, one, device)[0])
    hint = "call predict_atoms(reloaded, mine, reloaded_cfg) with your crystal."
    return check_number(answer, expected, hint, rtol=1e-4, atol=1e-5, unit="eV/atom")
