"""The checks of lesson 04's exercises (04a-04c) accept the right answer and reject wrong ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("alignn")

from exercises import lesson_04a, lesson_04b, lesson_04c  # noqa: E402
from utils import gnn  # noqa: E402


def silicon(a: float = 5.43):
    from jarvis.core.atoms import Atoms

    h = a / 2
    return Atoms(lattice_mat=[[0, h, h], [h, 0, h], [h, h, 0]], coords=[[0, 0, 0], [0.25, 0.25, 0.25]],
                 elements=["Si", "Si"], cartesian=False)


def test_check_counts_accepts_the_graphs_counts_and_rejects_others(capsys):
    si = silicon()
    assert lesson_04a.check_counts((24, 32), si, 8.0, 12, 3.5)
    assert lesson_04a.check_counts((32, 512), si, 4.0, 0, 4.0)  # exercise 1: two shells, no limit
    assert not lesson_04a.check_counts((24, 288), si, 8.0, 12, 3.5)
    assert "angles is not" in capsys.readouterr().out
    assert not lesson_04a.check_counts((8, 32), si, 8.0, 12, 3.5)
    assert not lesson_04a.check_counts((..., ...), si, 8.0, 12, 3.5)
    assert not lesson_04a.check_counts((24, 32), ..., 8.0, 12, 3.5)
    assert not lesson_04a.check_counts("many", si, 8.0, 12, 3.5)


def test_check_finite_difference_wants_minus_the_slope(capsys):
    forces = torch.tensor([[0.0, 0.0, 0.0], [2.0e-3, 0.0, 0.0]])
    assert lesson_04a.check_finite_difference(1.98e-3, forces, atom=1, axis=0)
    assert not lesson_04a.check_finite_difference(-2.0e-3, forces, atom=1, axis=0)
    assert "sign is flipped" in capsys.readouterr().out
    assert not lesson_04a.check_finite_difference(1.5e-3, forces, atom=1, axis=0)
    assert not lesson_04a.check_finite_difference(..., forces, atom=1, axis=0)


def test_check_ratio_is_mae_over_mad():
    y_train, y_test, pred = np.array([0.0, 2.0]), np.array([0.0, 2.0, 4.0]), np.array([0.5, 2.0, 3.5])
    mae, mad = 1 / 3, (1 + 1 + 3) / 3
    assert lesson_04b.check_ratio(mae / mad, y_train, y_test, pred)
    assert not lesson_04b.check_ratio(mad / mae, y_train, y_test, pred)
    assert not lesson_04b.check_ratio(mae, y_train, y_test, pred)
    assert not lesson_04b.check_ratio(..., y_train, y_test, pred)


def test_check_prediction_recomputes_the_models_prediction():
    cfg = gnn.GNNConfig(alignn_layers=1, gcn_layers=1, hidden_features=16, embedding_features=16)
    model = gnn.make_model(cfg)
    g, lg = gnn.build_graph(silicon(), cfg)
    right = float(gnn.predict(model, gnn.GraphDataset([(g, lg)], np.zeros(1), ["Si"], ""))[0])
    assert lesson_04b.check_prediction(right, model, silicon(), cfg)
    assert not lesson_04b.check_prediction(right + 0.1, model, silicon(), cfg)
    assert not lesson_04b.check_prediction(..., model, ..., cfg)


def test_check_slope_is_rise_over_run_of_the_logs(capsys):
    curve = pd.DataFrame({"train structures": [100, 200, 400], "test MAE": [0.4, 0.3, 0.2]})
    right = np.log(0.2 / 0.4) / np.log(4)
    assert lesson_04c.check_slope(right, curve)
    assert not lesson_04c.check_slope(-right, curve)
    assert not lesson_04c.check_slope(np.log(0.3 / 0.4) / np.log(2), curve)  # first two rows only
    assert not lesson_04c.check_slope(..., curve)
    assert not lesson_04c.check_slope(-0.5, curve.iloc[:1])
    assert "two training-set sizes" in capsys.readouterr().out


def test_check_mad_recomputes_the_split_and_its_baseline(records, isolated, capsys):
    split = gnn.property_split(records, "formation_energy_peratom", max_structures=None, seed=1)
    right = float(np.mean(np.abs(gnn.targets(split["test"], "formation_energy_peratom")
                                 - gnn.targets(split["train"], "formation_energy_peratom").mean())))
    assert lesson_04c.check_mad(right, records, "formation_energy_peratom", None, 1)
    assert not lesson_04c.check_mad(right * 1.1, records, "formation_energy_peratom", None, 1)
    assert not lesson_04c.check_mad(right, records, "optb88vdw_bandgap", None, 1)  # no values: a message
    assert "cannot be split" in capsys.readouterr().out
    assert not lesson_04c.check_mad(..., records, ..., None, 1)
