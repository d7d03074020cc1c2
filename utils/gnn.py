"""ALIGNN graph neural networks with alignn's DGL-free model (``alignn_atomwise_pure``).

Two ways to train the same model on the same data and config:

* :func:`train_reference`: alignn's own trainer (``train_for_folder``) with
  ``neighbor_strategy: "pure_torch"``, as learners use it at scale;
* :func:`train_model`: a short, readable loop: graphs built once and cached (:func:`build_graphs`),
  a torch ``DataLoader``, AdamW + one-cycle, bf16 autocast where the GPU supports it, a tqdm bar,
  loss history and best-checkpoint saving.

Plus graph building with clear errors (:class:`GNNError`), prediction from a POSCAR string
(:func:`predict_poscar`), checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`) and the
JARVIS-Leaderboard CSV format (:func:`write_leaderboard_csv`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import random
import re
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
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


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


@dataclass
class GNNConfig:
    """Graph, model and training settings shared by both training paths.

    The defaults are the ALIGNN paper's: 4 ALIGNN + 4 GCN layers, 256 hidden features, cutoff 8 Å,
    12 neighbours, batch 64, learning rate 1e-3 with a one-cycle schedule, AdamW (weight decay 1e-5).
    ``three_body_cutoff`` is alignn's default for ``neighbor_strategy="pure_torch"``: only bonds
    shorter than it form bond-angle triplets in the line graph.
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
        """The settings that decide the graph of a structure (the graph-cache key)."""
        return {"cutoff": self.cutoff, "max_neighbors": self.max_neighbors, "three_body_cutoff": self.three_body_cutoff}

    def model_config(self) -> dict[str, Any]:
        """alignn's ``ALIGNNAtomWisePureConfig`` fields for a one-number property model (no forces)."""
        return {
            "name": "alignn_atomwise_pure",
            "alignn_layers": self.alignn_layers,
            "gcn_layers": self.gcn_layers,
            "atom_input_features": CGCNN_FEATURES,
            "edge_input_features": self.edge_input_features,
            "triplet_input_features": self.triplet_input_features,
            "embedding_features": self.embedding_features,
            "hidden_features": self.hidden_features,
            "output_features": 1,
            "calculate_gradient": False,
            "gradwise_weight": 0.0,
            "stresswise_weight": 0.0,
            "atomwise_weight": 0.0,
            "atomwise_output_features": 0,
            "graphwise_weight": 1.0,
            "use_penalty": False,
        }


def make_model(cfg: GNNConfig):
    """A fresh ``ALIGNNAtomWisePure`` model for ``cfg`` (seeded with ``cfg.seed``)."""
    import torch
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig

    torch.manual_seed(cfg.seed)
    return ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**cfg.model_config()))


def count_parameters(model) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------------
# Data: property split and subsets
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------------------------------


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


def build_graph(atoms, cfg: GNNConfig, ident: str = "structure", slim: bool = True):
    """The crystal graph ``g`` and line graph ``lg`` of ``atoms`` (alignn's pure-torch builder).

    ``g``: one node per atom (92 CGCNN features), one directed edge per neighbour within ``cfg.cutoff``
    (at most ``cfg.max_neighbors`` per atom), edge data ``r`` = bond vector (Å).
    ``lg``: one node per bond of ``g``, one edge per bond pair (i→j, j→k) with both bonds shorter than
    ``cfg.three_body_cutoff``; the model turns these into bond-angle cosines.
    ``slim`` drops the data the property model does not read (smaller cache, faster batching).
    Raises GNNError when no atom has a neighbour within the cutoff.
    """
    from alignn.graphs import Graph

    g, lg = Graph.atom_dgl_multigraph(
        atoms,
        neighbor_strategy="pure_torch",
        cutoff=float(cfg.cutoff),
        max_neighbors=cfg.max_neighbors,
        three_body_cutoff=cfg.three_body_cutoff,
        atom_features="cgcnn",
        compute_line_graph=True,
    )
    if g.num_edges == 0:
        raise GNNError(
            f"{ident}: the graph is empty: no atom has a neighbour within the cutoff of {cfg.cutoff} Å "
            f"({atoms.num_atoms} atoms, cell lengths {np.round(atoms.lattice.abc, 2).tolist()} Å). "
            "Increase the cutoff or check the structure (units in Å? a molecule in a huge box?)."
        )
    if slim:
        g.ndata = {"atom_features": g.ndata["atom_features"]}
        g.edata = {"r": g.edata["r"].detach()}
        lg.ndata, lg.edata = {}, {}
    return g, lg


def graph_counts(atoms, cutoff: float, max_neighbors: int | None, three_body_cutoff: float | None = None) -> dict:
    """Nodes, edges and triplets of the graphs of ``atoms`` for one cutoff / k setting."""
    cfg = GNNConfig(cutoff=cutoff, max_neighbors=max_neighbors or 0, three_body_cutoff=three_body_cutoff or cutoff)
    g, lg = build_graph(atoms, cfg)
    return {
        "cutoff (Å)": cutoff,
        "max neighbours": max_neighbors or "all",
        "three-body cutoff (Å)": cfg.three_body_cutoff,
        "atoms (nodes)": g.num_nodes,
        "bonds (directed edges)": g.num_edges,
        "angles (line-graph edges)": lg.num_edges,
    }


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


def _cache_key(records: list[Record], prop: str, cfg: GNNConfig) -> str:
    text = json.dumps([cfg.graph_settings(), prop, [str(r.get("jid")) for r in records]])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


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

    The cache file name hashes the graph settings, the property and the ids, so a change of cutoff or
    data builds new graphs. Raises GNNError for a record without a value, and for a structure whose
    graph is empty at the cutoff unless ``skip_empty`` (then it is left out and listed in ``.skipped``).
    """
    import torch
    from tqdm.auto import tqdm

    y = targets(records, prop)
    ids = [str(rec.get("jid", i)) for i, rec in enumerate(records)]
    path = Path(cache_dir) / f"{desc}-{_cache_key(records, prop, cfg)}.pt" if cache_dir else None
    payload = None
    if path is not None and path.exists():
        try:
            payload = torch.load(path, weights_only=False)
            if not isinstance(payload, dict) or len(payload["kept"]) + len(payload["skipped"]) != len(records):
                payload = None
        except Exception as exc:  # a damaged cache is rebuilt
            warnings.warn(f"Ignoring the unreadable graph cache {path} ({exc}).", stacklevel=2)
            payload = None
    if payload is None:
        graphs, kept, skipped = [], [], {}
        for i, (rec, ident) in enumerate(
            tqdm(list(zip(records, ids)), desc=f"Building {desc}", disable=not progress, leave=False)
        ):
            try:
                graphs.append(build_graph(atoms_from_record(rec), cfg, ident=ident))
                kept.append(i)
            except GNNError as exc:
                if not skip_empty:
                    raise
                skipped[ident] = str(exc)
        payload = {"graphs": graphs, "kept": kept, "skipped": skipped}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            torch.save(payload, tmp)
            tmp.replace(path)
    if payload["skipped"] and not skip_empty:
        raise GNNError(next(iter(payload["skipped"].values())))
    data = GraphDataset(payload["graphs"], y[payload["kept"]], [ids[i] for i in payload["kept"]], prop)
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


# --------------------------------------------------------------------------------------------------
# The readable training loop
# --------------------------------------------------------------------------------------------------


def amp_dtype(device: str, amp: bool | str = "auto"):
    """``torch.bfloat16`` when mixed precision should be used, else None.

    ``amp="auto"``: only on a CUDA GPU that supports bf16 (``torch.cuda.is_bf16_supported()``);
    ``True`` forces it (also on CPU, for testing); ``False`` turns it off.
    """
    import torch

    if amp == "auto":
        use = str(device).startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    else:
        use = bool(amp)
    return torch.bfloat16 if use else None


@dataclass
class TrainResult:
    """What :func:`train_model` measured; MAEs in the property's unit."""

    history: dict[str, list[float]]
    best_epoch: int
    best_val_mae: float
    epochs_run: int
    train_seconds: float
    total_seconds: float
    structures_per_s: float
    checkpoint: Path | None
    amp: str
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


def _batch_to(batch, device: str, non_blocking: bool = False):
    g, lg, y = batch
    return g.to(device), lg.to(device), y.to(device, non_blocking=non_blocking)


def _group_decay(model) -> list[dict]:
    """No weight decay on biases and normalisation weights (alignn's ``group_decay``)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if ("bias" in name or "norm" in name or "bn" in name) else decay).append(p)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def predict(
    model, dataset: GraphDataset, device: str = "cpu", batch_size: int = 64, amp: bool | str = "auto"
) -> np.ndarray:
    """Predictions of ``model`` for every item of ``dataset`` (in order), as a float array."""
    import torch
    from torch.utils.data import DataLoader

    dtype = amp_dtype(device, amp)
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=GraphDataset.collate)
    out = []
    with torch.no_grad():
        for batch in loader:
            g, lg, _ = _batch_to(batch, device)
            with torch.autocast(
                device_type=str(device).split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                pred = model((g, lg, None))["out"]
            out.append(pred.float().reshape(-1).cpu())
    return torch.cat(out).numpy().astype(float) if out else np.zeros(0)


def train_model(
    model,
    train_set: GraphDataset,
    val_set: GraphDataset,
    cfg: GNNConfig,
    device: str = "cpu",
    out_dir: Path | None = None,
    amp: bool | str = "auto",
    max_seconds: float | None = None,
    progress: bool = True,
    init_bias_to_mean: bool = True,
    num_workers: int | None = None,
) -> TrainResult:
    """Train ``model`` with L1 loss, AdamW and a one-cycle learning rate for ``cfg.epochs`` epochs.

    After every epoch the validation MAE is computed; the best model is kept (``best_model.pt`` in
    ``out_dir`` when given, and loaded back into ``model`` at the end). ``max_seconds`` stops training
    after the epoch during which the budget ran out. ``init_bias_to_mean`` starts the output at the
    training mean (a learner's baseline) instead of 0, which shortens the first epochs.
    ``num_workers``: DataLoader processes that batch graphs while the GPU computes (default: 2 on a
    GPU, 0 on a CPU, where the cores are busy with the model itself).
    """
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    if len(train_set) == 0 or len(val_set) == 0:
        raise GNNError(f"Training needs non-empty train and val sets; found {len(train_set)} and {len(val_set)}.")
    torch.manual_seed(cfg.seed)
    dtype = amp_dtype(device, amp)
    device_type = str(device).split(":")[0]
    workers = (2 if device_type == "cuda" else 0) if num_workers is None else num_workers
    model.to(device)
    if init_bias_to_mean:
        with torch.no_grad():
            model.fc.bias.fill_(float(np.mean(train_set.y)))
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        shuffle=True,
        collate_fn=GraphDataset.collate,
        generator=torch.Generator().manual_seed(cfg.seed),
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    optimizer = torch.optim.AdamW(_group_decay(model), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.learning_rate, epochs=cfg.epochs, steps_per_epoch=len(loader), pct_start=0.3
    )
    history: dict[str, list[float]] = {"train MAE": [], "val MAE": []}
    best_mae, best_epoch, best_state = math.inf, 0, None
    checkpoint = Path(out_dir) / "best_model.pt" if out_dir else None
    train_seconds, start = 0.0, time.perf_counter()
    bar = tqdm(range(1, cfg.epochs + 1), desc="epochs", disable=not progress)
    for epoch in bar:
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        for batch in loader:
            g, lg, y = _batch_to(batch, device, non_blocking=True)
            with torch.autocast(device_type=device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
                pred = model((g, lg, None))["out"]
            loss = torch.nn.functional.l1_loss(pred.float().reshape(-1), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(y)
        train_mae = float(loss_sum) / len(train_set)  # one GPU sync per epoch
        train_seconds += time.perf_counter() - t0
        val_mae = float(np.mean(np.abs(predict(model, val_set, device, cfg.batch_size, amp) - val_set.y)))
        history["train MAE"].append(train_mae)
        history["val MAE"].append(val_mae)
        if val_mae < best_mae:
            best_mae, best_epoch = val_mae, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint is not None:
                save_checkpoint(model, cfg, checkpoint, prop=train_set.prop, extra={"epoch": epoch, "val_mae": val_mae})
        bar.set_postfix(train=f"{train_mae:.3f}", val=f"{val_mae:.3f}", best=f"{best_mae:.3f}")
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    bar.close()
    total = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    epochs_run = len(history["val MAE"])
    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        best_val_mae=best_mae,
        epochs_run=epochs_run,
        train_seconds=train_seconds,
        total_seconds=total,
        structures_per_s=epochs_run * len(train_set) / train_seconds if train_seconds > 0 else float("nan"),
        checkpoint=checkpoint,
        amp="bf16" if dtype is not None else "fp32",
        device=str(device),
    )


# --------------------------------------------------------------------------------------------------
# Checkpoints and prediction from a POSCAR
# --------------------------------------------------------------------------------------------------


def save_checkpoint(model, cfg: GNNConfig, path: Path, prop: str = "", extra: dict | None = None) -> Path:
    """Save weights + everything needed to rebuild the model and its graphs (written atomically)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": asdict(cfg), "property": prop, "unit": unit_of(prop), **(extra or {})}
    tmp = path.with_suffix(".part")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: Path, device: str = "cpu"):
    """``(model, cfg, info)`` from a :func:`save_checkpoint` file; the model is in eval mode."""
    import torch

    path = Path(path)
    if not path.exists():
        raise GNNError(f"No checkpoint at {path}. Train a model first (train_model saves best_model.pt).")
    payload = torch.load(path, map_location=device, weights_only=False)
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise GNNError(f"{path} is not a checkpoint written by utils.gnn.save_checkpoint.")
    cfg = GNNConfig(**payload["config"])
    model = make_model(cfg)
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    info = {k: v for k, v in payload.items() if k not in ("state_dict", "config")}
    return model, cfg, info


def predict_atoms(model, atoms, cfg: GNNConfig, device: str = "cpu", ident: str = "structure") -> float:
    """Prediction of ``model`` for one jarvis-tools ``Atoms``."""
    g, lg = build_graph(atoms, cfg, ident=ident)
    ds = GraphDataset([(g, lg)], np.zeros(1), [ident], "")
    return float(predict(model, ds, device, batch_size=1)[0])


def predict_poscar(model, poscar: str, cfg: GNNConfig, device: str = "cpu") -> float:
    """Prediction of ``model`` for a structure given as the text of a POSCAR file."""
    atoms = atoms_from_poscar(poscar)
    title = poscar.strip().splitlines()[0].strip() if poscar.strip() else "POSCAR"
    return predict_atoms(model, atoms, cfg, device, ident=title)


# --------------------------------------------------------------------------------------------------
# JARVIS-Leaderboard CSV
# --------------------------------------------------------------------------------------------------


def leaderboard_filename(prop: str, dataset: str = "dft_3d", split: str = "test", metric: str = "mae") -> str:
    """The benchmark file name the leaderboard expects, e.g.
    ``AI-SinglePropertyPrediction-formation_energy_peratom-dft_3d-test-mae.csv``."""
    return f"AI-SinglePropertyPrediction-{prop}-{dataset}-{split}-{metric}.csv"


def write_leaderboard_csv(
    ids: list[str], predictions, out_dir: Path, prop: str, dataset: str = "dft_3d", zipped: bool = True
) -> Path:
    """Write ``id,prediction`` rows in the JARVIS-Leaderboard contribution format (zipped by default).

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
    name = leaderboard_filename(prop, dataset)
    text = "id,prediction\n" + "".join(f"{i},{p:.6f}\n" for i, p in zip(ids, predictions))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if zipped:
        path = out_dir / (name + ".zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(name, text)
    else:
        path = out_dir / name
        path.write_text(text)
    return path


def read_leaderboard_csv(path: Path):
    """The ``id,prediction`` table of a file written by :func:`write_leaderboard_csv` (pandas DataFrame)."""
    import pandas as pd

    return pd.read_csv(path)


# --------------------------------------------------------------------------------------------------
# The reference path: alignn's own trainer
# --------------------------------------------------------------------------------------------------


def alignn_training_config(cfg: GNNConfig, n_train: int, n_val: int, n_test: int, out_dir: Path) -> dict[str, Any]:
    """An alignn ``TrainingConfig`` dict for ``train_for_folder`` with the same settings as ``cfg``.

    ``keep_data_order`` + ``n_train/n_val/n_test`` make alignn use exactly our split when the records are
    written train, then val, then test.
    """
    out_dir = Path(out_dir)
    return {
        "dataset": "user_data",
        "target": "target",
        "id_tag": "jid",
        "atom_features": "cgcnn",
        "neighbor_strategy": "pure_torch",
        "cutoff": cfg.cutoff,
        "max_neighbors": cfg.max_neighbors,
        "three_body_cutoff": cfg.three_body_cutoff,
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "keep_data_order": True,
        "random_seed": cfg.seed,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "weight_decay": cfg.weight_decay,
        "optimizer": "adamw",
        "scheduler": "onecycle",
        "criterion": "l1",
        "num_workers": 0,
        "pin_memory": False,
        "use_lmdb": True,
        "read_existing": False,
        "write_predictions": True,
        "filename": str(out_dir / "lmdb_"),
        "output_dir": str(out_dir),
        "model": cfg.model_config(),
    }


@dataclass
class ReferenceResult:
    """What :func:`train_reference` measured (MAE in the property's unit)."""

    test_mae: float
    ids: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    history: dict[str, list[float]]
    train_seconds: float
    total_seconds: float
    structures_per_s: float
    out_dir: Path
    log: str


_EPOCH_ROW = re.compile(r"^\s+(\d+)\s+([-\d.eE+naninf]+)(?:\s+[-\d.eE+naninf]+){5}\s+([\d.]+)")


def _parse_epoch_times(log: str) -> tuple[list[float], list[float], list[float]]:
    """(train losses, val losses, train epoch seconds) from the tables alignn's ``train_dgl`` prints."""
    train, val, seconds, section = [], [], [], None
    for line in log.splitlines():
        if line.startswith("Train Loss:"):
            section = "train"
            continue
        if line.startswith("Val Loss:"):
            section = "val"
            continue
        match = _EPOCH_ROW.match(line)
        if match and section == "train":
            train.append(float(match.group(2)))
            seconds.append(float(match.group(3)))
        elif match and section == "val":
            val.append(float(match.group(2)))
        section = None if match else section
    return train, val, seconds


def train_reference(split: Split, prop: str, cfg: GNNConfig, out_dir: Path, quiet: bool = True) -> ReferenceResult:
    """Train with alignn's ``train_for_folder`` on ``split`` and read back its test predictions.

    Writes ``id_prop.json`` (train, val, test in that order) and ``config.json`` into ``out_dir`` and
    trains there. alignn prints a lot; with ``quiet`` it goes (stdout and stderr) to ``out_dir/train.log``.
    Note: alignn drops the last incomplete batch of the train and val sets (``drop_last``): with fewer
    val structures than ``cfg.batch_size`` it has no validation loss at all.
    """
    from alignn.train_alignn import train_for_folder

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("train", "val", "test"):
        if not split.get(name):
            raise GNNError(f"The {name} set is empty; alignn's trainer needs train, val and test structures.")
    if len(split["val"]) < cfg.batch_size:
        warnings.warn(
            f"{len(split['val'])} val structures < batch size {cfg.batch_size}: alignn drops incomplete val "
            "batches, so its validation loss is 0 and its best_model.pt is the first epoch.",
            stacklevel=2,
        )
    rows = [
        {"jid": str(rec["jid"]), "atoms": rec["atoms"], "target": float(rec[prop])}
        for name in ("train", "val", "test")
        for rec in split[name]
    ]
    (out_dir / "id_prop.json").write_text(json.dumps(rows))
    config = alignn_training_config(cfg, len(split["train"]), len(split["val"]), len(split["test"]), out_dir)
    (out_dir / "config_in.json").write_text(json.dumps(config, indent=1))
    buffer = io.StringIO()
    start = time.perf_counter()
    quiet_out = contextlib.redirect_stdout(buffer) if quiet else contextlib.nullcontext()
    quiet_err = contextlib.redirect_stderr(buffer) if quiet else contextlib.nullcontext()
    with quiet_out, quiet_err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_for_folder(
            root_dir=str(out_dir),
            config_name=str(out_dir / "config_in.json"),
            target_key="target",
            id_key="jid",
            output_dir=str(out_dir),
        )
    total = time.perf_counter() - start
    log = buffer.getvalue()
    if quiet:
        (out_dir / "train.log").write_text(log)
    import pandas as pd

    pred_file = out_dir / "prediction_results_test_set.csv"
    if not pred_file.exists():
        raise GNNError(f"alignn wrote no {pred_file.name}; see {out_dir / 'train.log'}.")
    table = pd.read_csv(pred_file, skipinitialspace=True)
    train_loss, val_loss, seconds = _parse_epoch_times(log)
    n_batches = len(split["train"]) // cfg.batch_size  # alignn drops the incomplete last batch
    processed = n_batches * cfg.batch_size * len(seconds)
    y_true, y_pred = table["target"].to_numpy(float), table["prediction"].to_numpy(float)
    return ReferenceResult(
        test_mae=float(np.mean(np.abs(y_true - y_pred))),
        ids=[str(i) for i in table["id"]],
        y_true=y_true,
        y_pred=y_pred,
        history={"train MAE": train_loss, "val MAE": val_loss},
        train_seconds=float(sum(seconds)),
        total_seconds=total,
        structures_per_s=processed / sum(seconds) if seconds and sum(seconds) > 0 else float("nan"),
        out_dir=out_dir,
        log=log if not quiet else "",
    )


# --------------------------------------------------------------------------------------------------
# Drawing a graph and its line graph
# --------------------------------------------------------------------------------------------------


def draw_graphs(atoms, cfg: GNNConfig, title: str = ""):
    """Draw the crystal graph (atoms + bonds to periodic images) and its line graph (bonds + angles).

    Left: atoms of the cell (large dots) and neighbours in other cells (small), a line per bond.
    Right: one node per bond (at its midpoint), a line per bond pair sharing an atom (an angle).
    """
    import matplotlib.pyplot as plt

    g, lg = build_graph(atoms, cfg, slim=False)
    pos = np.asarray(atoms.cart_coords)
    src = g.src.numpy()
    r = g.edata["r"].detach().numpy()
    start, end = pos[src], pos[src] + r
    mid = (start + end) / 2
    fig = plt.figure(figsize=(9, 4.2))
    ax1 = fig.add_subplot(1, 2, 1, projection="3d")
    ax2 = fig.add_subplot(1, 2, 2, projection="3d")
    for a, b in zip(start, end):
        ax1.plot(*zip(a, b), color="0.6", lw=0.8)
    ax1.scatter(*end.T, s=12, color="tab:blue", alpha=0.4, label="neighbour (any cell)")
    ax1.scatter(*pos.T, s=80, color="tab:red", label="atom in the cell")
    ax1.set_title(f"crystal graph: {g.num_nodes} nodes, {g.num_edges} edges", fontsize=9)
    ax1.legend(fontsize=7, loc="upper left")
    ls, ld = lg.src.numpy(), lg.dst.numpy()
    for a, b in zip(mid[ls], mid[ld]):
        ax2.plot(*zip(a, b), color="tab:green", lw=0.5, alpha=0.6)
    ax2.scatter(*mid.T, s=10, color="tab:purple")
    ax2.set_title(f"line graph: {lg.num_nodes} nodes (bonds), {lg.num_edges} edges (angles)", fontsize=9)
    for ax in (ax1, ax2):
        ax.set_xlabel("x (Å)", fontsize=8)
        ax.set_ylabel("y (Å)", fontsize=8)
        ax.set_zlabel("z (Å)", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def copy_model(model):
    """A deep copy of ``model`` (e.g. to keep a trained model while training another)."""
    return copy.deepcopy(model)
