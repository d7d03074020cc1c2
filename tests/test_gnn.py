"""utils.gnn: graphs, errors, the training loop, checkpoints, POSCAR prediction, leaderboard CSV, alignn config."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("alignn")

from conftest import write_benchmark  # noqa: E402

from utils import gnn  # noqa: E402

TINY = gnn.GNNConfig(alignn_layers=1, gcn_layers=1, hidden_features=16, embedding_features=16, batch_size=4, epochs=2)

SI_POSCAR = """Si diamond
1.0
0.0 2.7 2.7
2.7 0.0 2.7
2.7 2.7 0.0
Si
2
direct
0.0 0.0 0.0
0.25 0.25 0.25
"""

LONE_ATOM = "lone H\n1.0\n20 0 0\n0 20 0\n0 0 20\nH\n1\ndirect\n0 0 0\n"


def crystal(jid: str, a: float, element: str = "Si", value: float = 0.0) -> dict:
    """A diamond-structure record with lattice constant ``a``."""
    h = a / 2
    return {
        "jid": jid,
        "formation_energy_peratom": value,
        "optb88vdw_bandgap": "na",
        "atoms": {
            "lattice_mat": [[0.0, h, h], [h, 0.0, h], [h, h, 0.0]],
            "coords": [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]],
            "elements": [element, element],
            "cartesian": False,
        },
    }


@pytest.fixture
def crystals() -> list[dict]:
    """20 records whose target grows with the lattice constant (learnable from bond lengths)."""
    out = []
    for i in range(20):
        a = 5.0 + 0.05 * i
        out.append(crystal(f"JVASP-{i}", a, "Si" if i % 2 else "C", value=-1.0 + 0.1 * i))
    return out


def test_graph_of_silicon_has_bonds_and_angles():
    atoms = gnn.atoms_from_poscar(SI_POSCAR)
    g, lg = gnn.build_graph(atoms, gnn.GNNConfig(cutoff=8.0, max_neighbors=12, three_body_cutoff=3.5))
    assert g.num_nodes == 2 and g.num_edges == 24  # 12 neighbours per atom
    assert lg.num_nodes == g.num_edges
    assert lg.num_edges == 32  # 4 first-shell bonds per atom: 4 x 4 angle pairs at each of the 2 atoms
    assert g.ndata["atom_features"].shape == (2, gnn.CGCNN_FEATURES)
    lengths = g.edata["r"].norm(dim=1)
    assert float(lengths.max()) <= 8.0 and float(lengths.min()) == pytest.approx(2.7 * 3**0.5 / 2, rel=1e-4)


def test_graph_counts_change_with_settings():
    atoms = gnn.atoms_from_poscar(SI_POSCAR)
    capped = gnn.graph_counts(atoms, 8.0, 12, 3.5)
    uncapped = gnn.graph_counts(atoms, 8.0, None, 3.5)
    more_angles = gnn.graph_counts(atoms, 8.0, 12, 8.0)
    assert uncapped["bonds (directed edges)"] > capped["bonds (directed edges)"] == 24
    assert more_angles["angles (line-graph edges)"] == 24 * 12  # every bond pairs with the 12 bonds of its end atom


def test_empty_graph_is_a_clear_error():
    with pytest.raises(gnn.GNNError, match="graph is empty.*cutoff of 8.0"):
        gnn.build_graph(gnn.atoms_from_poscar(LONE_ATOM), gnn.GNNConfig(cutoff=8.0), ident="lone H")


def test_bad_poscar_is_a_clear_error():
    with pytest.raises(gnn.GNNError, match="POSCAR"):
        gnn.atoms_from_poscar("not a poscar")


def test_unknown_property_is_a_clear_error(crystals):
    with pytest.raises(gnn.GNNError, match="Unknown property 'formation_energy'.*formation_energy_peratom"):
        gnn.property_split(crystals, "formation_energy")


def test_too_few_values_is_a_clear_error(crystals):
    with pytest.raises(gnn.GNNError, match="Only 0 records have a value for 'optb88vdw_bandgap'"):
        gnn.property_split(crystals, "optb88vdw_bandgap")


def test_property_split_uses_leaderboard_labels_and_subsamples(crystals, isolated):
    table = {"train": {}, "val": {}, "test": {}}
    for i, rec in enumerate(crystals):
        table["test" if i < 4 else "val" if i < 8 else "train"][rec["jid"]] = rec["formation_energy_peratom"]
    write_benchmark(isolated[0], "AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip", table)
    split = gnn.property_split(crystals, "formation_energy_peratom")
    assert {k: len(v) for k, v in split.items()} == {"train": 12, "val": 4, "test": 4}
    assert {r["jid"] for r in split["test"]} == {f"JVASP-{i}" for i in range(4)}
    small = gnn.property_split(crystals, "formation_energy_peratom", max_structures=10)
    assert {k: len(v) for k, v in small.items()} == {"train": 6, "val": 2, "test": 2}
    assert {r["jid"] for r in small["test"]} <= {f"JVASP-{i}" for i in range(4)}


def test_build_graphs_caches_on_disk(crystals, tmp_path, monkeypatch):
    data = gnn.build_graphs(crystals[:5], "formation_energy_peratom", TINY, cache_dir=tmp_path, progress=False)
    assert len(data) == 5 and data.ids[0] == "JVASP-0"
    assert len(list(tmp_path.glob("*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("graphs should come from the cache")

    monkeypatch.setattr(gnn, "build_graph", fail)
    again = gnn.build_graphs(crystals[:5], "formation_energy_peratom", TINY, cache_dir=tmp_path, progress=False)
    assert np.allclose(again.y, data.y)
    assert again.graphs[0][0].num_edges == data.graphs[0][0].num_edges


def test_collate_batches_graphs_and_line_graphs(crystals):
    data = gnn.build_graphs(crystals[:3], "formation_energy_peratom", TINY, progress=False)
    g, lg, y = gnn.GraphDataset.collate([data[i] for i in range(3)])
    assert g.batch_size == 3 and g.num_nodes == 6
    assert lg.num_nodes == g.num_edges
    assert int(lg.src.max()) < g.num_edges  # line-graph nodes index the batched bonds
    assert torch.allclose(y, torch.tensor(data.y[:3]))


def test_train_model_learns_and_saves_best_checkpoint(crystals, tmp_path):
    cfg = gnn.GNNConfig(**{**TINY.__dict__, "epochs": 6, "learning_rate": 5e-3})
    data = gnn.build_graphs(crystals, "formation_energy_peratom", cfg, progress=False)
    train, val = data.subset(range(0, 20, 2)), data.subset(range(1, 20, 2))
    model = gnn.make_model(cfg)
    result = gnn.train_model(model, train, val, cfg, out_dir=tmp_path, progress=False, amp=False)
    assert result.epochs_run == 6 and len(result.history["train MAE"]) == 6
    assert result.best_val_mae == min(result.history["val MAE"])
    assert result.history["train MAE"][-1] < result.history["train MAE"][0]
    assert result.structures_per_s > 0 and result.amp == "fp32"
    reloaded, cfg2, info = gnn.load_checkpoint(result.checkpoint)
    assert cfg2 == cfg and info["epoch"] == result.best_epoch and info["unit"] == "eV/atom"
    assert np.allclose(gnn.predict(reloaded, val), gnn.predict(model, val), atol=1e-5)


def test_time_budget_stops_training(crystals):
    cfg = gnn.GNNConfig(**{**TINY.__dict__, "epochs": 50})
    data = gnn.build_graphs(crystals[:8], "formation_energy_peratom", cfg, progress=False)
    result = gnn.train_model(gnn.make_model(cfg), data, data, cfg, max_seconds=0.0, progress=False)
    assert result.epochs_run == 1


def test_bf16_autocast_path_runs_and_returns_float(crystals):
    data = gnn.build_graphs(crystals[:8], "formation_energy_peratom", TINY, progress=False)
    model = gnn.make_model(TINY)
    result = gnn.train_model(model, data, data, TINY, amp=True, progress=False)
    pred = gnn.predict(model, data, amp=True)
    assert result.amp == "bf16" and pred.dtype == np.float64 and np.all(np.isfinite(pred))


def test_loader_workers_train_like_the_main_process(crystals):
    # worker processes (the default on a GPU) must pickle and batch the cached graphs correctly
    data = gnn.build_graphs(crystals[:8], "formation_energy_peratom", TINY, progress=False)
    model = gnn.make_model(TINY)
    result = gnn.train_model(model, data, data, TINY, num_workers=2, progress=False)
    assert result.epochs_run == 2 and np.all(np.isfinite(result.history["train MAE"]))
    assert result.best_val_mae == pytest.approx(float(np.mean(np.abs(gnn.predict(model, data) - data.y))), abs=1e-5)


def test_amp_auto_is_off_without_cuda():
    assert gnn.amp_dtype("cpu", "auto") is None
    assert gnn.amp_dtype("cpu", True) == torch.bfloat16


def test_train_model_rejects_empty_sets(crystals):
    data = gnn.build_graphs(crystals[:4], "formation_energy_peratom", TINY, progress=False)
    with pytest.raises(gnn.GNNError, match="non-empty"):
        gnn.train_model(gnn.make_model(TINY), data, data.subset([]), TINY, progress=False)


def test_predict_poscar_and_missing_checkpoint(tmp_path):
    model = gnn.make_model(TINY)
    value = gnn.predict_poscar(model, SI_POSCAR, TINY)
    assert isinstance(value, float) and np.isfinite(value)
    with pytest.raises(gnn.GNNError, match="graph is empty"):
        gnn.predict_poscar(model, LONE_ATOM, TINY)
    with pytest.raises(gnn.GNNError, match="No checkpoint"):
        gnn.load_checkpoint(tmp_path / "missing.pt")


def test_leaderboard_csv_format(tmp_path):
    path = gnn.write_leaderboard_csv(["JVASP-1", "JVASP-2"], [-0.5, 1.25], tmp_path, "formation_energy_peratom")
    assert path.name == "AI-SinglePropertyPrediction-formation_energy_peratom-dft_3d-test-mae.csv.zip"
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == [path.name[:-4]]
        text = zf.read(zf.namelist()[0]).decode()
    assert text.splitlines() == ["id,prediction", "JVASP-1,-0.500000", "JVASP-2,1.250000"]
    assert list(gnn.read_leaderboard_csv(path)["id"]) == ["JVASP-1", "JVASP-2"]
    with pytest.raises(gnn.GNNError, match="2 ids but 1 predictions"):
        gnn.write_leaderboard_csv(["a", "b"], [1.0], tmp_path, "x")
    with pytest.raises(gnn.GNNError, match="NaN"):
        gnn.write_leaderboard_csv(["a"], [float("nan")], tmp_path, "x")


def test_alignn_training_config_is_valid_and_keeps_our_split(tmp_path):
    from alignn.config import TrainingConfig
    from alignn.data import get_id_train_val_test

    config = gnn.alignn_training_config(TINY, 12, 4, 4, tmp_path)
    parsed = TrainingConfig(**config)
    assert parsed.neighbor_strategy == "pure_torch" and parsed.model.name == "alignn_atomwise_pure"
    assert parsed.model.atom_input_features == gnn.CGCNN_FEATURES and not parsed.model.calculate_gradient
    train, val, test = get_id_train_val_test(
        total_size=20, n_train=12, n_val=4, n_test=4, keep_data_order=parsed.keep_data_order
    )
    assert list(train) == list(range(12)) and list(val) == list(range(12, 16)) and list(test) == list(range(16, 20))


def test_parse_alignn_epoch_table(capsys):
    from alignn.utils import print_train_val_loss

    print_train_val_loss(0, 0.5, 0.5, 0, 0, 0, 0, 0.4, 0.4, 0, 0, 0, 0, 1.25, 0.1, saving_msg="Saving model")
    print_train_val_loss(1, 0.3, 0.3, 0, 0, 0, 0, 0.35, 0.35, 0, 0, 0, 0, 1.75, 0.1)
    train, val, seconds = gnn._parse_epoch_times(capsys.readouterr().out)
    assert train == [0.5, 0.3] and val == [0.4, 0.35] and seconds == [1.25, 1.75]
