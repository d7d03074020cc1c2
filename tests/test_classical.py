"""Tests of utils.classical: split featurisation, scoring table, importances, learning curve, parity grid."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from utils import classical


def make_record(jid: str, elements: list[str], value: float) -> dict:
    n = len(elements)
    coords = [[i / n, i / n, i / n] for i in range(n)]
    lattice = [[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]]
    return {"jid": jid, "atoms": {"lattice_mat": lattice, "coords": coords, "elements": elements}, "y": value}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMS_FEATURE_CACHE", str(tmp_path / "features"))


def linear_data(n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, classical.SplitData]:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=3)

    def part(n: int) -> classical.SplitData:
        X = rng.normal(size=(n, 3))
        return classical.SplitData(X, X @ w, [f"id-{i}" for i in range(n)])

    return {"train": part(n_train), "val": part(10), "test": part(n_test)}


def test_featurize_split_aligns_targets_and_drops_failures():
    broken = {"jid": "bad", "atoms": {"lattice_mat": [[0, 0, 0]] * 3, "coords": [[0, 0, 0]], "elements": ["Si"]}}
    split = {
        "train": [make_record("a", ["Na", "Cl"], 1.0), broken, make_record("b", ["Si"], 2.0)],
        "val": [make_record("c", ["O", "Mg"], 3.0)],
        "test": [make_record("d", ["Cu"], 4.0)],
    }
    data = classical.featurize_split(split, "y", kind="composition", dataset=None, progress=False, verbose=False)
    assert data["train"].jids == ["a", "b"]
    np.testing.assert_allclose(data["train"].y, [1.0, 2.0])
    assert data["train"].X.shape == (2, 103)
    assert data["test"].X[0].sum() == pytest.approx(1.0)


def test_fit_and_score_table_and_baseline():
    data = linear_data()
    models = {"mean": DummyRegressor(), "linear": LinearRegression()}
    table, preds = classical.fit_and_score(models, data, unit="eV", progress=False)
    assert list(table.index) == ["mean", "linear"]
    assert list(table.columns) == ["MAE (eV)", "± s.e. (eV)", "MAD (eV)", "MAD:MAE", "R2", "fit (s)", "val MAE (eV)"]
    assert table.loc["linear", "val MAE (eV)"] < 1e-8
    # predicting the training mean is the MAD baseline by definition
    assert table.loc["mean", "MAE (eV)"] == pytest.approx(table.loc["mean", "MAD (eV)"])
    assert table.loc["mean", "MAD:MAE"] == pytest.approx(1.0)
    assert table.loc["linear", "MAE (eV)"] < 1e-8 and table.loc["linear", "R2"] == pytest.approx(1.0)
    assert preds["linear"].shape == (20,)
    without_val = {k: v for k, v in data.items() if k != "val"}
    table2, _ = classical.fit_and_score(models, without_val, unit="eV", progress=False)
    assert "val MAE (eV)" not in table2.columns


def test_mae_standard_error():
    assert classical.mae_standard_error([0, 0, 0, 0], [1, -1, 1, -1]) == pytest.approx(0.0)
    se = classical.mae_standard_error([0, 0], [0, 2])
    assert se == pytest.approx(np.std([0, 2], ddof=1) / np.sqrt(2))
    assert np.isnan(classical.mae_standard_error([1.0], [2.0]))


def test_group_importance_sums_per_group():
    names = ["chem:a", "chem:b", "cell:v", "chg:0"]
    frame = classical.group_importance([0.1, 0.2, 0.6, 0.1], names)
    assert list(frame.index) == ["cell", "chem", "chg"]
    assert frame.loc["chem", "importance"] == pytest.approx(0.3)
    assert frame.loc["chem", "columns"] == 2


def test_learning_curve_sizes_and_monotone_for_exact_model():
    data = linear_data(n_train=50)
    curve = classical.learning_curve(LinearRegression, data, [1, 5, 20, 50, 500], seed=1, progress=False)
    assert list(curve["n_train"]) == [5, 20, 50]  # sizes of 1 dropped, too large capped at n_train
    assert curve["MAE"].iloc[-1] < 1e-8
    assert (curve["MAD"] > 0).all()


def test_regressors_are_seeded_and_complete():
    models = classical.regressors(seed=3, n_trees=5)
    assert set(models) == {
        "linear regression",
        "ridge (L2)",
        "LASSO (L1)",
        "k-nearest neighbours",
        "random forest",
        "gradient boosting",
    }
    assert models["random forest"].random_state == 3
    assert models["gradient boosting"].n_estimators == 5


def test_paper_table_and_parity_grid():
    table = classical.paper_table()
    assert table.loc["ALIGNN", "MAE (eV/atom)"] == pytest.approx(0.033)
    assert table.loc["CFID", "MAE (eV/atom)"] > table.loc["CGCNN", "MAE (eV/atom)"]
    fig = classical.parity_grid({"a": np.arange(3.0), "b": np.arange(3.0) + 1}, np.arange(3.0), unit="eV", ncols=3)
    assert len([ax for ax in fig.axes if ax.axison]) == 2
