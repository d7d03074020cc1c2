"""ALIGNN plumbing for notebook 04 (its training loop and ALIGNN layer walk-through are in the notebook).

The shared config, graphs with clear errors and a content-keyed cache, prediction, checkpoints that load
with ``weights_only=True``, the JARVIS-Leaderboard CSV, the driver of alignn's trainer, a graph picture.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import re
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import DatasetError, Split, is_missing, split_records
from .properties import unit_of
from .structures import atoms_from_record

Record = dict[str, Any]

#: Length of alignn's "cgcnn" atom feature vector (``alignn.config.FEATURESET_SIZE``).
CGCNN_FEATURES = 92


class GNNError(ValueError):
    """Bad input for graph building or training; the message says what was expected and what to do."""


@dataclass
class GNNConfig:
    """Graph, model and training settings shared by both training paths.

    The defaults are the ALIGNN paper's: 4 ALIGNN + 4 GCN layers, 256 hidden features, cutoff 8 Å,
    12 neighbours, batch 64, learning rate 1e-3 with a one-cycle schedule, AdamW (weight decay 1e-5).
    ``three_body_cutoff`` is alignn's default for ``neighbor_strategy="pure_torch"``: only bonds
    shorter than it form bond-angle triplets in the line graph (the paper's line graph uses all bonds).
    """

    alignn_layers: int = 4
    gcn_layers: int = 4
    hidden_features: int = 256
    embedding_features: int = 64
    edge_input_features: int = 80
    triplet_input_features: int = 40
    cutoff: float = 8.0
    max_neighbors: int = 12
    three_body_cutoff: float = 3.5
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    epochs: int = 50
    seed: int = 123

    def graph_settings(self) -> dict[str, Any]:
        """The settings that decide the graph of a structure (part of the graph-cache key)."""
        return {"cutoff": self.cutoff, "max_neighbors": self.max_neighbors, "three_body_cutoff": self.three_body_cutoff}

    def model_config(self) -> dict[str, Any]:
        """alignn's ``ALIGNNAtomWisePureConfig`` fields for a one-number property model (no forces)."""
        names = ["alignn_layers", "gcn_layers", "edge_input_features", "triplet_input_features", "hidden_features"]
        fixed = {"name": "alignn_atomwise_pure", "atom_input_features": CGCNN_FEATURES, "output_features": 1}
        no_forces = {"calculate_gradient": False, "gradwise_weight": 0.0, "stresswise_weight": 0.0}
        no_atomwise = {
            "atomwise_weight": 0.0,
            "atomwise_output_features": 0,
            "graphwise_weight": 1.0,
            "use_penalty": False,
        }
        sizes = {k: getattr(self, k) for k in [*names, "embedding_features"]}
        return {**fixed, **no_forces, **no_atomwise, **sizes}


def make_model(cfg: GNNConfig):
    """A fresh ``ALIGNNAtomWisePure`` model for ``cfg`` (seeded with ``cfg.seed``)."""
    import torch
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig

    torch.manual_seed(cfg.seed)
    return ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**cfg.model_config()))


def property_split(
    records: list[Record], prop: str, max_structures: int | None = None, seed: int = 42, min_records: int = 10
) -> Split:
    """Train/val/test records for ``prop``: the JARVIS-Leaderboard split (else seeded 80/10/10).

    With ``max_structures``, a seeded random subset of each part is kept, in the same proportions.
    Raises GNNError for an unknown property or one with too few values.
    """
    if not any(prop in rec for rec in records):
        known = sorted({k for rec in records[:50] for k in rec if not k.startswith("_") and k != "atoms"})
        raise GNNError(f"Unknown property {prop!r}. Properties in these records: {', '.join(known)}.")
    try:
        split = split_records(records, prop, min_records=min_records)
    except DatasetError as exc:
        raise GNNError(str(exc)) from exc
    total = sum(len(part) for part in split.values())
    if max_structures is None or max_structures >= total:
        return split
    rng = random.Random(seed)
    out = {}
    for name, part in split.items():
        n = max(1, round(len(part) * max_structures / total))
        out[name] = rng.sample(part, min(n, len(part)))
    return Split(out, f"{split.source}; a seeded subset of {max_structures} of its {total} records kept")


def targets(records: list[Record], prop: str) -> np.ndarray:
    """The values of ``prop`` as a float array (raises GNNError on a missing value)."""
    values = []
    for rec in records:
        value = rec.get(prop)
        if is_missing(value):
            raise GNNError(f"{rec.get('jid', 'record')} has no value for {prop!r}; filter with utils.with_property.")
        values.append(float(value))
    return np.asarray(values, dtype=float)


def atoms_from_poscar(poscar: str):
    """jarvis-tools ``Atoms`` from the text of a POSCAR file (clear GNNError when it does not parse)."""
    from jarvis.io.vasp.inputs import Poscar

    try:
        return Poscar.from_string(poscar.strip("\n")).atoms
    except Exception as exc:  # jarvis raises IndexError/ValueError on malformed text
        raise GNNError(
            f"Could not read the POSCAR text ({type(exc).__name__}: {exc}). Expected: comment line, scale, "
            "3 lattice vectors, element symbols, counts, 'Direct' or 'Cartesian', one line per atom."
        ) from exc


def build_graph(atoms, cfg: GNNConfig, ident: str = "structure"):
    """The crystal graph ``g`` and line graph ``lg`` of ``atoms`` (alignn's pure-torch builder).

    ``g``: one node per atom (92 CGCNN features), one directed edge per neighbour within ``cfg.cutoff``
    (at most ``cfg.max_neighbors`` per atom), edge data ``r`` = bond vector (Å).
    ``lg``: one node per bond of ``g``, one edge per bond pair (i→j, j→k) with both bonds shorter than
    ``cfg.three_body_cutoff``; the model turns these into bond-angle cosines.
    Only what the property model reads is kept. Raises GNNError when the graph has no edge.
    """
    from alignn.graphs import Graph

    settings = {**cfg.graph_settings(), "cutoff": float(cfg.cutoff), "neighbor_strategy": "pure_torch"}
    g, lg = Graph.atom_dgl_multigraph(atoms, atom_features="cgcnn", compute_line_graph=True, **settings)
    if g.num_edges == 0:
        raise GNNError(
            f"{ident}: the graph is empty: no atom has a neighbour within the cutoff of {cfg.cutoff} Å "
            f"({atoms.num_atoms} atoms, cell lengths {np.round(atoms.lattice.abc, 2).tolist()} Å). "
            "Increase the cutoff or check the structure (units in Å? a molecule in a huge box?)."
        )
    g.ndata, g.edata = {"atom_features": g.ndata["atom_features"]}, {"r": g.edata["r"].detach()}
    lg.ndata, lg.edata = {}, {}
    return g, lg


class GraphDataset:
    """Cached ``(g, lg)`` pairs with their targets and ids: a map-style dataset for ``DataLoader``."""

    def __init__(self, graphs: list, y: np.ndarray, ids: list[str], prop: str):
        self.graphs, self.y, self.ids, self.prop = graphs, np.asarray(y, dtype=np.float32), list(ids), prop
        self.skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int):
        g, lg = self.graphs[i]
        return g, lg, float(self.y[i])

    def subset(self, indices) -> GraphDataset:
        """A dataset holding the items at ``indices`` (no graph is rebuilt)."""
        indices = list(indices)
        return GraphDataset(
            [self.graphs[i] for i in indices], self.y[indices], [self.ids[i] for i in indices], self.prop
        )

    @staticmethod
    def collate(samples):
        """Batch ``(g, lg, y)`` samples into one big graph pair and a target tensor."""
        import torch
        from alignn.torch_graph_builder import batch_torch_graph_pairs

        graphs, line_graphs, ys = zip(*samples)
        g, lg = batch_torch_graph_pairs(list(zip(graphs, line_graphs)))
        return g, lg, torch.tensor(ys, dtype=torch.float32)


def _to_tensors(pair) -> dict:
    """A slim ``(g, lg)`` pair as plain tensors (loadable with ``torch.load(weights_only=True)``)."""
    g, lg = pair
    return dict(src=g.src, dst=g.dst, x=g.ndata["atom_features"], r=g.edata["r"], lsrc=lg.src, ldst=lg.dst)


def _from_tensors(t: dict):
    from alignn.torch_graph_builder import TorchGraph

    g = TorchGraph(
        num_nodes=len(t["x"]), src=t["src"], dst=t["dst"], ndata={"atom_features": t["x"]}, edata={"r": t["r"]}
    )
    return g, TorchGraph(num_nodes=len(t["src"]), src=t["lsrc"], dst=t["ldst"])


def cache_key(records: list[Record], cfg: GNNConfig) -> str:
    """Hash of the graph settings and every record's id, lattice, coordinates and elements."""
    content = [
        [str(r.get("jid")), {k: r["atoms"].get(k) for k in ("lattice_mat", "coords", "elements", "cartesian")}]
        for r in records
    ]
    text = json.dumps([cfg.graph_settings(), content], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _load_cache(path: Path, n_records: int) -> dict | None:
    """The graph cache at ``path``, or None when absent, unreadable or not of ``n_records`` records."""
    import torch

    if not path.exists():
        return None
    try:  # weights_only: tensors, lists, dicts and numbers only, so a crafted file cannot run code
        payload = torch.load(path, weights_only=True)
        if len(payload["kept"]) + len(payload["skipped"]) == n_records:
            return payload
    except Exception as exc:  # a damaged or foreign cache is rebuilt
        warnings.warn(
            f"Ignoring the unreadable graph cache {path} ({type(exc).__name__}); rebuilding it.", stacklevel=3
        )
    return None


def build_graphs(
    records: list[Record],
    prop: str,
    cfg: GNNConfig,
    cache_dir: Path | None = None,
    desc: str = "graphs",
    progress: bool = True,
    skip_empty: bool = False,
) -> GraphDataset:
    """Build (once) the graphs of ``records`` for ``prop``; with ``cache_dir`` they are saved and reused.

    The cache file is named by :func:`cache_key` (graph settings and structures), so a changed cutoff,
    lattice or atom builds new graphs. Raises GNNError for a record without a value, and for a structure
    whose graph is empty unless ``skip_empty`` (then it is left out and listed in ``.skipped``).
    """
    import torch
    from tqdm.auto import tqdm

    y = targets(records, prop)
    ids = [str(rec.get("jid", i)) for i, rec in enumerate(records)]
    path = Path(cache_dir) / f"{desc}-{cache_key(records, cfg)}.pt" if cache_dir else None
    payload = _load_cache(path, len(records)) if path else None
    if payload is None:
        payload = {"graphs": [], "kept": [], "skipped": {}}
        for i, (rec, ident) in enumerate(tqdm(list(zip(records, ids)), desc=desc, disable=not progress, leave=False)):
            try:
                payload["graphs"].append(_to_tensors(build_graph(atoms_from_record(rec), cfg, ident=ident)))
                payload["kept"].append(i)
            except GNNError as exc:
                if not skip_empty:
                    raise
                payload["skipped"][ident] = str(exc)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(payload, path.with_suffix(".part"))
            path.with_suffix(".part").replace(path)
    if payload["skipped"] and not skip_empty:
        raise GNNError(next(iter(payload["skipped"].values())))
    graphs = [_from_tensors(t) for t in payload["graphs"]]
    data = GraphDataset(graphs, y[payload["kept"]], [ids[i] for i in payload["kept"]], prop)
    data.skipped = dict(payload["skipped"])
    return data


def build_split_graphs(
    split: Split, prop: str, cfg: GNNConfig, cache_dir: Path | None = None, progress: bool = True
) -> tuple[dict[str, GraphDataset], Split]:
    """Graphs of every part of ``split``, leaving out (and printing) structures with an empty graph.

    Returns the datasets and the split without the left-out records, so that every model of a lesson
    (alignn's trainer, descriptors) sees exactly the same structures.
    """
    data, kept = {}, {}
    for name, part in split.items():
        data[name] = build_graphs(part, prop, cfg, cache_dir, desc=f"{prop}-{name}", progress=progress, skip_empty=True)
        for ident, reason in data[name].skipped.items():
            print(f"left out of {name}: {reason.split(': ', 1)[1].split(' (')[0]} ({ident})")
        keep = set(data[name].ids)
        kept[name] = [rec for rec in part if str(rec.get("jid")) in keep]
    return data, kept


def predict(model, dataset: GraphDataset, device: str = "cpu", batch_size: int = 64, bf16: bool = False) -> np.ndarray:
    """Predictions of ``model`` for ``dataset`` (in order); ``bf16``: under bfloat16 autocast (GPUs with bf16)."""
    import torch
    from torch.utils.data import DataLoader

    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=GraphDataset.collate)
    out = []
    with torch.no_grad(), torch.autocast(str(device).split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        for g, lg, _ in loader:
            out.append(model((g.to(device), lg.to(device), None))["out"].float().reshape(-1).cpu())
    return torch.cat(out).numpy().astype(float) if out else np.zeros(0)


def save_checkpoint(model, cfg: GNNConfig, path: Path, prop: str = "", extra: dict | None = None) -> Path:
    """Save weights, config, property and ``extra`` numbers (written atomically; loads with weights_only)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": asdict(cfg), "property": prop, "unit": unit_of(prop), **(extra or {})}
    torch.save(payload, path.with_suffix(".part"))
    path.with_suffix(".part").replace(path)
    return path


def load_checkpoint(path: Path, device: str = "cpu"):
    """``(model, cfg, info)`` from a :func:`save_checkpoint` file, the model in eval mode. Read with
    ``weights_only=True``: a file with more than tensors, numbers, strings, lists and dicts is refused."""
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise GNNError(f"No checkpoint at {path}. Train a model first (the lesson's loop saves best_model.pt).")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GNNError(f"{path} holds more than weights and numbers; it was not loaded ({exc}).") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise GNNError(f"{path} is not a checkpoint written by utils.gnn.save_checkpoint.")
    cfg = GNNConfig(**payload["config"])
    model = make_model(cfg)
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return model, cfg, {k: v for k, v in payload.items() if k not in ("state_dict", "config")}


def predict_poscar(model, poscar: str, cfg: GNNConfig, device: str = "cpu") -> float:
    """Prediction of ``model`` for a structure given as the text of a POSCAR file."""
    title = poscar.strip().splitlines()[0].strip() if poscar.strip() else "POSCAR"
    g, lg = build_graph(atoms_from_poscar(poscar), cfg, ident=title)
    return float(predict(model, GraphDataset([(g, lg)], np.zeros(1), [title], ""), device, batch_size=1)[0])


def write_leaderboard_csv(ids: list[str], predictions, out_dir: Path, prop: str, dataset: str = "dft_3d") -> Path:
    """Write ``id,prediction`` rows as the zipped JARVIS-Leaderboard file of ``prop``, e.g.
    ``AI-SinglePropertyPrediction-formation_energy_peratom-dft_3d-test-mae.csv.zip``.

    Raises GNNError when ids and predictions differ in length, an id repeats or a prediction is not finite.
    """
    predictions = np.asarray(predictions, dtype=float).reshape(-1)
    ids = [str(i) for i in ids]
    if len(ids) != len(predictions):
        raise GNNError(f"{len(ids)} ids but {len(predictions)} predictions; pass one prediction per id.")
    if len(set(ids)) != len(ids):
        raise GNNError("Repeated ids: the leaderboard expects one row per test structure.")
    if not np.all(np.isfinite(predictions)):
        raise GNNError("Some predictions are NaN or infinite; check the model before writing the file.")
    name = f"AI-SinglePropertyPrediction-{prop}-{dataset}-test-mae.csv"
    text = "id,prediction\n" + "".join(f"{i},{p:.6f}\n" for i, p in zip(ids, predictions))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(Path(out_dir) / f"{name}.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
    return Path(out_dir) / f"{name}.zip"


def alignn_training_config(cfg: GNNConfig, n_train: int, n_val: int, n_test: int, out_dir: Path) -> dict[str, Any]:
    """An alignn ``TrainingConfig`` dict for ``train_for_folder`` with the same settings as ``cfg``.

    ``keep_data_order`` + ``n_train/n_val/n_test`` make alignn use exactly our split when the records are
    written train, then val, then test.
    """
    out_dir = Path(out_dir)
    return {
        **{"dataset": "user_data", "target": "target", "id_tag": "jid", "atom_features": "cgcnn"},
        **{"neighbor_strategy": "pure_torch", **cfg.graph_settings()},
        **{"n_train": n_train, "n_val": n_val, "n_test": n_test, "keep_data_order": True, "random_seed": cfg.seed},
        **{"epochs": cfg.epochs, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate},
        **{"weight_decay": cfg.weight_decay, "optimizer": "adamw", "scheduler": "onecycle", "criterion": "l1"},
        **{"num_workers": 0, "pin_memory": False, "use_lmdb": True, "read_existing": False},
        **{"write_predictions": True, "filename": str(out_dir / "lmdb_"), "output_dir": str(out_dir)},
        "model": cfg.model_config(),
    }


@dataclass
class ReferenceResult:
    """What :func:`train_reference` measured (MAE in the property's unit)."""

    test_mae: float
    y_true: np.ndarray
    y_pred: np.ndarray
    history: dict[str, list[float]]
    train_seconds: float
    structures_per_s: float


_EPOCH_ROW = re.compile(r"^\s+(\d+)\s+([-\d.eE+naninf]+)(?:\s+[-\d.eE+naninf]+){5}\s+([\d.]+)")


def _parse_epoch_times(log: str) -> tuple[list[float], list[float], list[float]]:
    """(train losses, val losses, train epoch seconds) from the tables alignn's ``train_dgl`` prints."""
    train, val, seconds, section = [], [], [], None
    for line in log.splitlines():
        if line.startswith(("Train Loss:", "Val Loss:")):
            section = line.split()[0].lower()
            continue
        match = _EPOCH_ROW.match(line)
        if match and section == "train":
            train.append(float(match.group(2)))
            seconds.append(float(match.group(3)))
        elif match and section == "val":
            val.append(float(match.group(2)))
        section = None if match else section
    return train, val, seconds


def _write_folder(split: Split, prop: str, cfg: GNNConfig, out_dir: Path) -> Path:
    """``id_prop.json`` (train, val, test in that order) and ``config_in.json`` for ``train_for_folder``."""
    for name in ("train", "val", "test"):
        if not split.get(name):
            raise GNNError(f"The {name} set is empty; alignn's trainer needs train, val and test structures.")
    if len(split["val"]) < cfg.batch_size:
        warnings.warn(
            f"{len(split['val'])} val structures < batch size {cfg.batch_size}: alignn drops incomplete val "
            "batches, so its validation loss is 0 and its best_model.pt is the first epoch.",
            stacklevel=3,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [split[name] for name in ("train", "val", "test")]
    rows = [
        {"jid": str(rec["jid"]), "atoms": rec["atoms"], "target": float(rec[prop])} for part in parts for rec in part
    ]
    (out_dir / "id_prop.json").write_text(json.dumps(rows))
    config = alignn_training_config(cfg, *(len(part) for part in parts), out_dir)
    (out_dir / "config_in.json").write_text(json.dumps(config, indent=1))
    return out_dir / "config_in.json"


def train_reference(split: Split, prop: str, cfg: GNNConfig, out_dir: Path) -> ReferenceResult:
    """Train with alignn's ``train_for_folder`` on ``split`` and read back its test predictions.

    Trains in ``out_dir``; alignn's log (stdout and stderr) goes to ``out_dir/train.log``.
    Note: alignn drops the last incomplete batch of the train and val sets (``drop_last``): with fewer
    val structures than ``cfg.batch_size`` it has no validation loss at all.
    """
    import pandas as pd
    from alignn.train_alignn import train_for_folder

    out_dir = Path(out_dir)
    config = _write_folder(split, prop, cfg, out_dir)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_for_folder(
            root_dir=str(out_dir), config_name=str(config), target_key="target", id_key="jid", output_dir=str(out_dir)
        )
    (out_dir / "train.log").write_text(buffer.getvalue())
    pred_file = out_dir / "prediction_results_test_set.csv"
    if not pred_file.exists():
        raise GNNError(f"alignn wrote no {pred_file.name}; see {out_dir / 'train.log'}.")
    table = pd.read_csv(pred_file, skipinitialspace=True)
    train_loss, val_loss, seconds = _parse_epoch_times(buffer.getvalue())
    processed = len(split["train"]) // cfg.batch_size * cfg.batch_size * len(seconds)  # drop_last
    y_true, y_pred = table["target"].to_numpy(float), table["prediction"].to_numpy(float)
    return ReferenceResult(
        test_mae=float(np.mean(np.abs(y_true - y_pred))),
        y_true=y_true,
        y_pred=y_pred,
        history={"train MAE": train_loss, "val MAE": val_loss},
        train_seconds=float(sum(seconds)),
        structures_per_s=processed / sum(seconds) if sum(seconds) > 0 else float("nan"),
    )


def draw_graphs(atoms, cfg: GNNConfig, title: str = ""):
    """Draw the crystal graph (atoms + bonds to periodic images) and its line graph (bonds + angles).

    Left: atoms of the cell (large dots) and neighbours in other cells (small), a line per bond.
    Right: one node per bond (at its midpoint), a line per bond pair sharing an atom (an angle).
    """
    import matplotlib.pyplot as plt

    g, lg = build_graph(atoms, cfg)
    pos = np.asarray(atoms.cart_coords)
    start = pos[g.src.numpy()]
    end = start + g.edata["r"].numpy()
    mid = (start + end) / 2
    fig = plt.figure(figsize=(9, 4.2))
    ax1, ax2 = (fig.add_subplot(1, 2, i, projection="3d") for i in (1, 2))
    for a, b in zip(start, end):
        ax1.plot(*zip(a, b), color="0.6", lw=0.8)
    ax1.scatter(*end.T, s=12, color="tab:blue", alpha=0.4, label="neighbour (any cell)")
    ax1.scatter(*pos.T, s=80, color="tab:red", label="atom in the cell")
    ax1.set_title(f"crystal graph: {g.num_nodes} nodes, {g.num_edges} edges", fontsize=9)
    ax1.legend(fontsize=7, loc="upper left")
    for a, b in zip(mid[lg.src.numpy()], mid[lg.dst.numpy()]):
        ax2.plot(*zip(a, b), color="tab:green", lw=0.5, alpha=0.6)
    ax2.scatter(*mid.T, s=10, color="tab:purple")
    ax2.set_title(f"line graph: {lg.num_nodes} nodes (bonds), {lg.num_edges} edges (angles)", fontsize=9)
    for ax in (ax1, ax2):
        ax.set(xlabel="x (Å)", ylabel="y (Å)", zlabel="z (Å)")
        ax.tick_params(labelsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
