"""utils.gnn: graphs and their cache, errors, checkpoints, alignn config, alignn's published models (no network).

The ALIGNN layer walk-through, forces by autograd, POSCAR prediction, the leaderboard CSV and the multi-GPU command
line live in the notebooks of lesson 04 (04a-04c) and are checked by their cells.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import requests

torch = pytest.importorskip("torch")
pytest.importorskip("alignn")

from conftest import write_benchmark  # noqa: E402

from utils import alignn_trainer, files, gnn, leaderboard, pretrained  # noqa: E402
from utils import data as data_layer  # noqa: E402

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


def poscar_atoms(text: str):
    from jarvis.io.vasp.inputs import Poscar

    return Poscar.from_string(text).atoms


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
    atoms = poscar_atoms(SI_POSCAR)
    g, lg = gnn.build_graph(atoms, gnn.GNNConfig(cutoff=8.0, max_neighbors=12, three_body_cutoff=3.5))
    assert g.num_nodes == 2 and g.num_edges == 24  # 12 neighbours per atom
    assert lg.num_nodes == g.num_edges
    assert lg.num_edges == 32  # 4 first-shell bonds per atom: 4 x 4 angle pairs at each of the 2 atoms
    assert g.ndata["atom_features"].shape == (2, gnn.CGCNN_FEATURES)
    lengths = g.edata["r"].norm(dim=1)
    assert float(lengths.max()) <= 8.0 and float(lengths.min()) == pytest.approx(2.7 * 3**0.5 / 2, rel=1e-4)


def test_empty_graph_is_a_clear_error():
    with pytest.raises(gnn.GNNError, match="graph is empty.*cutoff of 8.0"):
        gnn.build_graph(poscar_atoms(LONE_ATOM), gnn.GNNConfig(cutoff=8.0), ident="lone H")


def test_unknown_property_is_a_clear_error(crystals):
    with pytest.raises(gnn.GNNError, match="Unknown property 'formation_energy'.*formation_energy_peratom"):  # data's
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
    data = gnn.build_graphs(crystals[:5], "formation_energy_peratom", TINY, cache_dir=tmp_path)
    assert len(data) == 5 and data.ids[0] == "JVASP-0"
    assert len(list(tmp_path.glob("*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("graphs should come from the cache")

    monkeypatch.setattr(gnn, "build_graph", fail)
    again = gnn.build_graphs(crystals[:5], "formation_energy_peratom", TINY, cache_dir=tmp_path)
    assert np.allclose(again.y, data.y)
    assert again.graphs[0][0].num_edges == data.graphs[0][0].num_edges


def test_collate_batches_graphs_and_line_graphs(crystals):
    data = gnn.build_graphs(crystals[:3], "formation_energy_peratom", TINY)
    g, lg, y = gnn.GraphDataset.collate([data[i] for i in range(3)])
    assert g.batch_size == 3 and g.num_nodes == 6
    assert lg.num_nodes == g.num_edges
    assert int(lg.src.max()) < g.num_edges  # line-graph nodes index the batched bonds
    assert torch.allclose(y, torch.tensor(data.y[:3]))


class RunsCode:
    """An object whose unpickling calls ``Path.touch(marker)``: what a crafted .pt file can do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).touch, (self.marker,))


def test_checkpoint_round_trip_gives_the_same_predictions(crystals, tmp_path):
    data = gnn.build_graphs(crystals[:4], "formation_energy_peratom", TINY)
    model = gnn.make_model(TINY)
    path = gnn.save_checkpoint(model, TINY, tmp_path / "best_model.pt", "formation_energy_peratom", {"epoch": 3})
    reloaded, cfg, info = gnn.load_checkpoint(path)
    assert cfg == TINY and info == {"property": "formation_energy_peratom", "unit": "eV/atom", "epoch": 3}
    assert np.allclose(gnn.predict(reloaded, data), gnn.predict(model, data), atol=1e-6)
    assert torch.load(path, weights_only=True)["config"]["hidden_features"] == 16  # plain data only


def test_checkpoint_with_a_setting_of_an_older_version_still_loads(crystals, tmp_path):
    model = gnn.make_model(TINY)
    path = gnn.save_checkpoint(model, TINY, tmp_path / "best_model.pt", "formation_energy_peratom")
    payload = torch.load(path, weights_only=True)
    payload["config"]["edge_input_features"] = 80  # a field older versions wrote
    torch.save(payload, path)
    reloaded, cfg, _ = gnn.load_checkpoint(path)
    assert cfg == TINY
    data = gnn.build_graphs(crystals[:2], "formation_energy_peratom", TINY)
    assert np.allclose(gnn.predict(reloaded, data), gnn.predict(model, data), atol=1e-6)


def test_crafted_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "code-ran"
    torch.save({"state_dict": {}, "config": {}, "payload": RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(gnn.GNNError, match="more than weights"):
        gnn.load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_crafted_graph_cache_is_rebuilt_without_running_code(crystals, tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / f"graphs-{gnn.cache_key(crystals[:3], TINY)}.pt"
    torch.save({"graphs": [RunsCode(marker)], "kept": [0, 1, 2], "skipped": {}}, path)
    with pytest.warns(UserWarning, match="damaged"):
        data = gnn.build_graphs(crystals[:3], "formation_energy_peratom", TINY, cache_dir=tmp_path)
    assert not marker.exists() and len(data) == 3
    assert torch.load(path, weights_only=True)["kept"] == [0, 1, 2]  # rewritten as plain tensors


def test_graph_cache_key_follows_the_structures(crystals, tmp_path):
    records = crystals[:3]
    first = gnn.build_graphs(records, "formation_energy_peratom", TINY, cache_dir=tmp_path)
    stretched = [dict(records[0], atoms=crystal("JVASP-0", 6.0)["atoms"]), *records[1:]]  # same ids, new lattice
    second = gnn.build_graphs(stretched, "formation_energy_peratom", TINY, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 2
    d_first = float(first.graphs[0][0].edata["r"].norm(dim=1).min())
    d_second = float(second.graphs[0][0].edata["r"].norm(dim=1).min())
    assert d_first == pytest.approx(5.0 * 3**0.5 / 4, rel=1e-4) and d_second == pytest.approx(
        6.0 * 3**0.5 / 4, rel=1e-4
    )
    assert gnn.cache_key(records, TINY) != gnn.cache_key(records, gnn.GNNConfig(cutoff=6.0))
    assert gnn.cache_key(records, TINY) == gnn.cache_key([dict(r) for r in records], TINY)


def test_empty_graphs_are_skipped_and_listed(crystals, tmp_path):
    lone = dict(
        crystals[0], jid="lone", atoms={**crystals[0]["atoms"], "lattice_mat": [[20, 0, 0], [0, 20, 0], [0, 0, 20]]}
    )
    lone["atoms"] = {**lone["atoms"], "coords": [[0, 0, 0]], "elements": ["H"]}
    with pytest.raises(gnn.GNNError, match="graph is empty"):
        gnn.build_graphs([lone, *crystals[:2]], "formation_energy_peratom", TINY)
    data = gnn.build_graphs([lone, *crystals[:2]], "formation_energy_peratom", TINY, skip_empty=True)
    assert data.ids == ["JVASP-0", "JVASP-1"] and list(data.skipped) == ["lone"]


def test_predict_evaluates_in_fp32_even_inside_a_bf16_autocast(crystals):
    data = gnn.build_graphs(crystals[:5], "formation_energy_peratom", TINY)
    model = gnn.make_model(TINY).eval()
    g, lg, _ = gnn.GraphDataset.collate([data[i] for i in range(5)])
    with torch.no_grad():
        fp32 = model((g, lg, None))["out"].numpy()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model((g, lg, None))["out"].float().numpy()
            pred = gnn.predict(model, data, batch_size=2)
    assert pred.shape == (5,) and pred.dtype == np.float64
    assert np.abs(bf16 - fp32).max() > 1e-4  # bf16 keeps about 3 significant digits
    assert np.allclose(pred, fp32, rtol=0, atol=1e-6)  # predict switched autocast off
    assert np.array_equal(pred, gnn.predict(model, data, batch_size=2))  # repeatable to the last bit


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(gnn.GNNError, match="No checkpoint"):
        gnn.load_checkpoint(tmp_path / "missing.pt")


def test_model_from_weights_loads_a_plain_state_dict(crystals, tmp_path):
    model = gnn.make_model(TINY)
    torch.save(model.state_dict(), tmp_path / "best_model.pt")
    data = gnn.build_graphs(crystals[:3], "formation_energy_peratom", TINY)
    loaded = gnn.model_from_weights(tmp_path / "best_model.pt", TINY)
    assert np.allclose(gnn.predict(loaded, data), gnn.predict(model, data), atol=1e-6)


@pytest.mark.parametrize("system, skipped", [("Windows", True), ("Linux", False), ("Darwin", False)])
def test_alignn_trainer_is_skipped_on_windows_only(system, skipped, monkeypatch, crystals, tmp_path):
    monkeypatch.setattr(alignn_trainer.platform, "system", lambda: system)
    why = alignn_trainer.unavailable()
    assert bool(why) is skipped
    if skipped:
        assert "WSL" in why and "\n" not in why
        split = leaderboard.Split({"train": crystals[:12], "val": crystals[12:16], "test": crystals[16:]}, "test")
        with pytest.raises(gnn.GNNError, match="WSL"):
            alignn_trainer.train(split, "formation_energy_peratom", TINY, tmp_path)
        assert not list(tmp_path.iterdir())  # nothing written, no LMDB opened


def test_alignn_trainer_keeps_the_best_val_epoch_apart_from_its_last(crystals, tmp_path):
    split = leaderboard.Split({"train": crystals[:12], "val": crystals[12:16], "test": crystals[16:]}, "test")
    cfg = gnn.GNNConfig(**{**TINY.__dict__, "epochs": 3})
    ref = alignn_trainer.train(split, "formation_energy_peratom", cfg, tmp_path / "run")
    assert len(ref.history["val MAE"]) == 3 and ref.best_model.exists()
    assert ref.best_epoch == int(np.argmin(ref.history["val MAE"])) + 1
    test = gnn.build_graphs(split["test"], "formation_energy_peratom", cfg)
    best = gnn.model_from_weights(ref.best_model, cfg)
    val = gnn.build_graphs(split["val"], "formation_energy_peratom", cfg)
    val_mae = float(np.mean(np.abs(gnn.predict(best, val) - val.y)))
    assert val_mae == pytest.approx(min(ref.history["val MAE"]), rel=1e-3, abs=1e-4)  # the saved epoch's
    assert np.isfinite(ref.last_epoch_test_mae) and len(gnn.predict(best, test)) == 4


def test_alignn_training_config_is_valid_and_keeps_our_split(tmp_path):
    from alignn.config import TrainingConfig
    from alignn.data import get_id_train_val_test

    config = alignn_trainer.training_config(TINY, 12, 4, 4, tmp_path)
    parsed = TrainingConfig(**config)
    amp = alignn_trainer.training_config(TINY, 1, 1, 1, tmp_path, True)
    assert not parsed.use_amp and TrainingConfig(**amp).use_amp
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
    train, val, seconds = alignn_trainer.parse_log(capsys.readouterr().out)
    assert train == [0.5, 0.3] and val == [0.4, 0.35] and seconds == [1.25, 1.75]


# --- alignn's published models: an archive in alignn's format, served by a mocked download ----------------------
PUBLISHED = "formation_energy_peratom_knn"


def answer(status: int, body: bytes, url: str = "https://ndownloader.figshare.com/files/1") -> requests.Response:
    """A ``requests`` response with ``status`` and ``body``, as figshare would send it."""
    response = requests.models.Response()
    response.status_code, response._content, response._content_consumed, response.url = status, body, True, url
    response.reason = {200: "OK", 403: "Forbidden"}.get(status, "")
    return response


@pytest.fixture
def published_zip(tmp_path) -> tuple[bytes, object]:
    """A real (untrained) alignn_atomwise_pure model zipped as alignn's registry ships one, and the model."""
    model = gnn.make_model(TINY)
    config = {"cutoff": 8.0, "max_neighbors": 12, "atom_features": "cgcnn", "model": TINY.model_config()}
    torch.save(model.state_dict(), tmp_path / "best_model.pt")
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model/config.json", json.dumps(config))
        zf.write(tmp_path / "best_model.pt", "model/best_model.pt")
        zf.writestr("model/ids_train_val_test.json", json.dumps({"id_train": ["JVASP-1"], "id_test": ["JVASP-2"]}))
    return path.read_bytes(), model


@pytest.fixture
def online(monkeypatch, tmp_path):
    """A fresh data cache, a network that answers, and no memory of earlier network failures."""
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("utils.files.reachable", lambda url, timeout=3.0, offline_vars=(): (True, "answered"))
    monkeypatch.setattr(files, "_network_failed", [])


def serve(monkeypatch, response_or_error) -> list[str]:
    """Mock ``requests.get``: every call returns (or raises) ``response_or_error``; returns the requested URLs."""
    asked = []

    def fake_get(url, **kwargs):
        asked.append(url)
        if isinstance(response_or_error, Exception):
            raise response_or_error
        return response_or_error

    monkeypatch.setattr(requests, "get", fake_get)
    return asked


def test_published_model_downloads_once_and_predicts_like_the_saved_model(published_zip, online, crystals, monkeypatch):
    body, model = published_zip
    asked = serve(monkeypatch, answer(200, body))
    folder, line = pretrained.published_model(PUBLISHED)
    assert folder is not None and "downloaded from https://ndownloader.figshare.com/files/" in line
    assert sorted(p.name for p in folder.iterdir()) == sorted(pretrained.PUBLISHED_FILES)
    loaded, cfg = pretrained.load_published(folder)
    assert (cfg.cutoff, cfg.max_neighbors, cfg.three_body_cutoff) == (8.0, 12, 3.5)
    graphs = gnn.build_graphs(crystals[:4], "formation_energy_peratom", cfg)
    assert np.allclose(gnn.predict(loaded, graphs), gnn.predict(model, graphs), atol=1e-6)
    again, line = pretrained.published_model(PUBLISHED)  # cached: no second download
    assert again == folder and "cached" in line and len(asked) == 1


@pytest.mark.parametrize(
    "served, reason",
    [
        (answer(403, b"<html>Forbidden</html>"), "HTTP 403"),
        (answer(200, b"<!DOCTYPE html><html><body>Log in to figshare</body></html>"), "an HTML page"),
        (requests.exceptions.ReadTimeout("read timed out"), "ReadTimeout"),
    ],
    ids=["403", "html", "timeout"],
)
def test_published_model_failure_is_one_line_and_no_folder(served, reason, online, monkeypatch):
    serve(monkeypatch, served)
    folder, line = pretrained.published_model(PUBLISHED)
    assert folder is None and "\n" not in line and reason in line
    assert PUBLISHED in line and "https://ndownloader.figshare.com/files/" in line and "goes on without it" in line
    assert not list((data_layer.cache_dir() / "alignn2_models").glob("*.zip"))  # no half download left behind


def test_published_model_archive_without_weights_is_refused(online, monkeypatch, tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
    serve(monkeypatch, answer(200, path.read_bytes()))
    folder, line = pretrained.published_model(PUBLISHED)
    assert folder is None and "lacks best_model.pt" in line


def test_published_model_offline_says_so_without_downloading(monkeypatch, tmp_path):
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("utils.files.reachable", lambda url, timeout=3.0, offline_vars=(): (False, "no DNS"))
    asked = serve(monkeypatch, AssertionError("must not download offline"))
    folder, line = pretrained.published_model(PUBLISHED)
    assert folder is None and asked == [] and "no network (no DNS)" in line
    with pytest.raises(gnn.GNNError, match="no model 'nope'"):
        pretrained.published_model("nope")


def test_concurrent_checkpoint_saves_and_a_failed_save_leave_no_part_file(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    model, path = gnn.make_model(TINY), tmp_path / "best_model.pt"
    with ThreadPoolExecutor(max_workers=6) as pool:
        saved = list(pool.map(lambda k: gnn.save_checkpoint(model, TINY, path, extra={"epoch": k}), range(24)))
    assert saved == [path] * 24 and gnn.load_checkpoint(path)[2]["epoch"] in range(24)
    with pytest.raises(Exception):
        gnn.save_checkpoint(model, TINY, path, extra={"epoch": lambda: 0})  # torch.save cannot pickle a lambda
    assert gnn.load_checkpoint(path)[2]["epoch"] in range(24)  # the last good checkpoint is still there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_model.pt"]


def test_failed_graph_cache_write_warns_and_returns_the_graphs(crystals, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a cache folder below a file cannot be created (as on a read-only disk)
    with pytest.warns(UserWarning, match=r"Could not save the graph cache .*a_file"):
        data = gnn.build_graphs(crystals[:3], "formation_energy_peratom", TINY, cache_dir=blocker / "c")
    assert len(data) == 3

# --- the training loop of notebook 04b (utils.gnn.train_loop), in each precision of utils.runtime --------------
@pytest.mark.parametrize("name", ["fp32", "bf16", "fp16"])
def test_train_loop_keeps_the_best_val_epoch_in_each_precision(name, crystals):
    from utils.runtime import Precision

    data = gnn.build_graphs(crystals, "formation_energy_peratom", TINY)
    train, val = data.subset(range(14)), data.subset(range(14, 20))
    cfg = gnn.GNNConfig(**{**TINY.__dict__, "epochs": 3})
    model = gnn.make_model(cfg)
    out = gnn.train_loop(model, train, val, cfg, "cpu", Precision(name, "test on the CPU"))
    assert len(out["train MAE"]) == len(out["val MAE"]) == 3 and np.all(np.isfinite(out["train MAE"]))
    assert out["best epoch"] == int(np.argmin(out["val MAE"])) + 1 and out["train seconds"] > 0
    val_mae = float(np.mean(np.abs(gnn.predict(model, val) - val.y)))
    assert val_mae == pytest.approx(min(out["val MAE"]), abs=1e-6)  # the best epoch's weights are loaded back


def test_split_graphs_leaves_out_empty_graphs_from_graphs_and_split(crystals, capsys):
    lone = dict(crystals[0], jid="lone")
    lone["atoms"] = {"lattice_mat": [[20, 0, 0], [0, 20, 0], [0, 0, 20]], "coords": [[0, 0, 0]], "elements": ["H"],
                     "cartesian": False}
    split = leaderboard.Split({"train": [lone, *crystals[:10]], "val": crystals[10:15], "test": crystals[15:]}, "t")
    graphs, kept = gnn.split_graphs(split, "formation_energy_peratom", TINY)
    assert len(graphs["train"]) == len(kept["train"]) == 10 and "lone" not in graphs["train"].ids
    assert "left out of train" in capsys.readouterr().out and kept.source == "t"


def test_alignn_energy_of_a_one_element_crystal_ignores_its_geometry():
    """What notebook 04a, exercise 5 teaches: identical atoms keep identical features (a gated mean of equal
    messages is that message), so the energy per atom of a one-element crystal hardly depends on positions."""
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig
    from jarvis.core.atoms import Atoms

    config = ALIGNNAtomWisePureConfig(name="alignn_atomwise_pure", atom_input_features=gnn.CGCNN_FEATURES,
                                      hidden_features=16, embedding_features=16, calculate_gradient=True,
                                      use_penalty=False, use_zbl=False)
    torch.manual_seed(0)
    model = ALIGNNAtomWisePure(config)
    smooth = gnn.GNNConfig(cutoff=5.0, max_neighbors=0, three_body_cutoff=3.5)
    rng = np.random.default_rng(0)
    energies = {}
    for elements in (["Si"] * 4, ["Ga", "As"] * 2):
        out = []
        for _ in range(3):
            atoms = Atoms(lattice_mat=np.eye(3) * 6, coords=rng.uniform(0, 6, (4, 3)), elements=elements,
                          cartesian=True)
            g, lg = gnn.build_graph(atoms, smooth)
            out.append(float(model((g, lg, None))["out"].detach()))
        energies[elements[0]] = np.ptp(out)
    assert energies["Si"] < 1e-5 < 1e-3 < energies["Ga"]
