"""What the classical-ML lesson uses from utils: split featurisation (utils.features) and the parity grid
(utils.plots). The models, the fit and the learning curve are lesson code, checked by notebook 02's asserts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from utils import features


def make_record(jid: str, elements: list[str], value: float) -> dict:
    n = len(elements)
    coords = [[i / n, i / n, i / n] for i in range(n)]
    lattice = [[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]]
    return {"jid": jid, "atoms": {"lattice_mat": lattice, "coords": coords, "elements": elements}, "y": value}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMS_FEATURE_CACHE", str(tmp_path / "features"))


def test_featurize_split_aligns_targets_and_drops_failures():
    broken = {"jid": "bad", "atoms": {"lattice_mat": [[0, 0, 0]] * 3, "coords": [[0, 0, 0]], "elements": ["Si"]}}
    split = {
        "train": [make_record("a", ["Na", "Cl"], 1.0), broken, make_record("b", ["Si"], 2.0)],
        "val": [make_record("c", ["O", "Mg"], 3.0)],
        "test": [make_record("d", ["Cu"], 4.0)],
    }
    data = features.featurize_split(split, "y", kind="composition", progress=False, verbose=False)
    assert data["train"].jids == ["a", "b"]
    np.testing.assert_allclose(data["train"].y, [1.0, 2.0])
    assert data["train"].X.shape == (2, 103)
    assert data["test"].X[0].sum() == pytest.approx(1.0)
