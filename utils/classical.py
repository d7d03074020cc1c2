"""Classical machine learning on feature matrices: features of a split, model zoo, results tables, curves.

Used by notebook 02 (and by notebook 03 to set classical models beside ALIGNN on the same split).

>>> data = featurize_split(split, "formation_energy_peratom", kind="cfid_fast")   # doctest: +SKIP
>>> table, preds = fit_and_score(regressors(seed=0), data, unit="eV/atom")          # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import features
from .metrics import mad, mae, r2

# ALIGNN paper (Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021)), JARVIS-DFT table: formation
# energy per atom, test MAE in eV/atom, models trained on about 44k structures.
PAPER_FORMATION_ENERGY_MAE = {"CFID": 0.14, "CGCNN": 0.063, "ALIGNN": 0.033}
PAPER_REFERENCE = "Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021), doi:10.1038/s41524-021-00650-1"


@dataclass
class SplitData:
    """Feature matrix, target and ids of one part (train, val or test) of a split."""

    X: np.ndarray
    y: np.ndarray
    jids: list[str]


def featurize_split(
    split: Mapping[str, Sequence[dict]],
    prop: str,
    kind: str = "cfid_fast",
    dataset: str | None = "dft_3d",
    **kwargs: Any,
) -> dict[str, SplitData]:
    """``{"train"|"val"|"test": SplitData}`` for a split from ``utils.split_records`` (failed structures dropped)."""
    out = {}
    for part, records in split.items():
        fs = features.compute_features(records, kind=kind, dataset=dataset, **kwargs)
        out[part] = SplitData(fs.X, features.align(records, fs.jids, prop), fs.jids)
    return out


def regressors(seed: int = 42, n_trees: int = 200, n_jobs: int = 2) -> dict[str, Any]:
    """The classical regression models of the lesson, from the simplest to the strongest, seeded.

    Linear models and k-NN get standardised features (they depend on the scale of each column); trees
    do not need it.
    """
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import Lasso, LinearRegression, Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "linear regression": make_pipeline(StandardScaler(), LinearRegression()),
        "ridge (L2)": make_pipeline(StandardScaler(), Ridge(alpha=10.0)),
        "LASSO (L1)": make_pipeline(StandardScaler(), Lasso(alpha=0.01, max_iter=5000)),
        "k-nearest neighbours": make_pipeline(StandardScaler(), KNeighborsRegressor(5, weights="distance")),
        "random forest": RandomForestRegressor(n_trees, max_features=0.3, n_jobs=n_jobs, random_state=seed),
        "gradient boosting": GradientBoostingRegressor(
            n_estimators=n_trees, learning_rate=0.1, max_depth=4, subsample=0.8, max_features=0.3, random_state=seed
        ),
    }


def mae_standard_error(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Standard error of the MAE (std of the absolute errors / sqrt(n)): how much the MAE of a small
    test set would move with another draw of test materials. NaN for fewer than two samples."""
    err = np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))
    return float(err.std(ddof=1) / np.sqrt(len(err))) if len(err) > 1 else float("nan")


def score_row(y_train: np.ndarray, y_test: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE with its standard error, MAD baseline (train mean predicted for every test sample), MAD:MAE and R²."""
    err, base = mae(y_test, y_pred), mad(y_train, y_test)
    return {
        "MAE": err,
        "MAE s.e.": mae_standard_error(y_test, y_pred),
        "MAD": base,
        "MAD:MAE": base / err if err > 0 else float("inf"),
        "R2": r2(y_test, y_pred),
    }


def fit_and_score(
    models: Mapping[str, Any],
    data: Mapping[str, SplitData],
    unit: str,
    evaluate_on: str = "test",
    progress: bool = True,
):
    """Fit each model on ``data["train"]``, score it on ``data[evaluate_on]``.

    Returns ``(table, predictions)``: a pandas DataFrame (one row per model: MAE, its standard error
    and MAD in ``unit``, MAD:MAE, R², fit seconds, and the validation MAE when ``data`` has a non-empty
    ``"val"`` part other than ``evaluate_on``: choose models by that column, not by the test MAE) and
    ``{model name: predictions on the evaluated part}``.
    """
    import pandas as pd

    train, test = data["train"], data[evaluate_on]
    rows, predictions = [], {}
    names = list(models)
    iterator = names
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(names, desc="fitting", unit="model")
    for name in iterator:
        model = models[name]
        start = time.perf_counter()
        model.fit(train.X, train.y)
        seconds = time.perf_counter() - start
        predictions[name] = model.predict(test.X)
        row = {"model": name, **score_row(train.y, test.y, predictions[name]), "fit (s)": seconds}
        val = data.get("val")
        if evaluate_on != "val" and val is not None and len(val.y):
            row["val MAE"] = mae(val.y, model.predict(val.X))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    table = table.rename(
        columns={
            "MAE": f"MAE ({unit})",
            "MAE s.e.": f"± s.e. ({unit})",
            "MAD": f"MAD ({unit})",
            "val MAE": f"val MAE ({unit})",
        }
    )
    return table, predictions


def paper_table():
    """The ALIGNN paper's formation-energy MAEs (eV/atom, ~44k training structures) as a DataFrame."""
    import pandas as pd

    rows = [
        {"model": name, "MAE (eV/atom)": value, "training structures": "≈44k", "source": "ALIGNN paper (JARVIS-DFT)"}
        for name, value in PAPER_FORMATION_ENERGY_MAE.items()
    ]
    return pd.DataFrame(rows).set_index("model")


def group_importance(importances: Sequence[float], names: Sequence[str]):
    """Sum of per-feature importances within each feature group (``"<group>:<name>"``), largest first."""
    import pandas as pd

    imp = np.asarray(importances, dtype=float)
    sums = {g: float(imp[idx].sum()) for g, idx in features.feature_groups(names).items()}
    counts = {g: len(idx) for g, idx in features.feature_groups(names).items()}
    frame = pd.DataFrame({"importance": sums, "columns": counts})
    return frame.sort_values("importance", ascending=False)


def learning_curve(
    make_model: Callable[[], Any],
    data: Mapping[str, SplitData],
    sizes: Sequence[int],
    seed: int = 42,
    evaluate_on: str = "test",
    progress: bool = True,
):
    """Test MAE (and MAD) against training-set size: the model refitted on seeded random subsets.

    Returns a DataFrame with columns ``n_train``, ``MAE``, ``MAD``, ``fit (s)``.
    """
    import pandas as pd

    train, test = data["train"], data[evaluate_on]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train.y))
    sizes = sorted({int(min(s, len(order))) for s in sizes if s > 1})
    rows = []
    iterator = sizes
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(sizes, desc="learning curve", unit="size")
    for n in iterator:
        idx = order[:n]
        model = make_model()
        start = time.perf_counter()
        model.fit(train.X[idx], train.y[idx])
        seconds = time.perf_counter() - start
        pred = model.predict(test.X)
        rows.append({"n_train": n, "MAE": mae(test.y, pred), "MAD": mad(train.y[idx], test.y), "fit (s)": seconds})
    return pd.DataFrame(rows)


def parity_grid(predictions: Mapping[str, np.ndarray], y_true: np.ndarray, unit: str, ncols: int = 3):
    """One parity plot (``utils.plots.parity_plot``) per model, in a grid; returns the figure."""
    import matplotlib.pyplot as plt

    from .plots import parity_plot

    names = list(predictions)
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 4 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        parity_plot(y_true, predictions[name], unit=unit, title=name, ax=ax)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig
