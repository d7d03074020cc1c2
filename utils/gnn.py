"""ALIGNN plumbing for lesson 04 (its training loop, ALIGNN layer and forces by autograd are in the notebooks).

The shared config, graphs with clear errors and a content-keyed cache, prediction (always in fp32), checkpoints
that load with ``weights_only=True``, the driver of alignn's trainer (with its multi-GPU command line and the
platforms it cannot run on), and alignn's published ALIGNN 2.0 models (downloaded once, online only; offline
one line says why not).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import platform
import random
import re
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import DatasetError, Split, is_missing, split_records, write_atomically
from .properties import unit_of
from .structures import atoms_from_record

Record = dict[str, Any]

#: Length of alignn's "cgcnn" atom feature vector (``alignn.config.FEATURESET_SIZE``): 9 element properties
#: (group, period, electronegativity, covalent radius, valence electrons, ionisation energy, electron affinity,
#: block, atomic volume), each one-hot encoded into bins, 92 entries in all.
CGCNN_FEATURES = 92


class GNNError(ValueError):
    """Bad input for graph building or training; the message says what was expected and what to do."""


@dataclass
class GNNConfig:
    """Graph, model and training settings shared by both training paths. Defaults: the ALIGNN paper's (4 ALIGNN
    + 4 GCN layers, 256 hidden, cutoff 8 Å, 12 neighbours, batch 64, AdamW 1e-3 one-cycle, weight decay 1e-5), and
    alignn's pure-torch ``three_body_cutoff`` (only shorter bonds form angles; the paper's line graph uses all)."""

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
        no_atomwise = {"atomwise_weight": 0.0, "atomwise_output_features": 0, "graphwise_weight": 1.0}
        sizes = {k: getattr(self, k) for k in [*names, "embedding_features"]}
        return {**fixed, **no_forces, **no_atomwise, "use_penalty": False, **sizes}


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
    Raises GNNError for an unknown property or one with too few values (the data layer's checks).
    """
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


def build_graph(atoms, cfg: GNNConfig, ident: str = "structure"):
    """The crystal graph ``g`` (a node per atom with its 92 one-hot CGCNN entries; an edge per neighbour within
    ``cfg.cutoff``, at most ``cfg.max_neighbors``, data ``r`` = bond vector in Å) and line graph ``lg`` (a node per
    bond, an edge per bond pair shorter than ``cfg.three_body_cutoff``) of ``atoms``, by alignn's pure-torch builder,
    slimmed to what the property model reads. Raises GNNError when the graph has no edge."""
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


def _save_atomically(payload: dict, path: Path) -> Path:
    """``torch.save`` through ``data.write_atomically``: a reader never sees half a file, two writers never clash."""
    import torch

    return write_atomically(Path(path), lambda tmp: torch.save(payload, tmp))


def build_graphs(
    records: list[Record],
    prop: str,
    cfg: GNNConfig,
    cache_dir: Path | None = None,
    desc: str = "graphs",
    progress: bool = True,
    skip_empty: bool = False,
) -> GraphDataset:
    """Build (once) the graphs of ``records`` for ``prop``; with ``cache_dir`` they are saved (a failed write only
    warns) and reused.

    The cache file is named by :func:`cache_key` (graph settings and structures), so a changed cutoff,
    lattice or atom builds new graphs. Raises GNNError for a record without a value, and for a structure
    whose graph is empty unless ``skip_empty`` (then it is left out and listed in ``.skipped``).
    """
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
        try:
            if path is not None:
                _save_atomically(payload, path)
        except OSError as exc:  # a read-only folder or a full disk must not lose the graphs just built
            warnings.warn(
                f"Could not save the graph cache {path} ({exc}); the graphs are used now and built again next time. "
                "Pass a writable cache_dir to keep them.",
                stacklevel=2,
            )
    if payload["skipped"] and not skip_empty:
        raise GNNError(next(iter(payload["skipped"].values())))
    graphs = [_from_tensors(t) for t in payload["graphs"]]
    data = GraphDataset(graphs, y[payload["kept"]], [ids[i] for i in payload["kept"]], prop)
    data.skipped = dict(payload["skipped"])
    return data


def predict(model, dataset: GraphDataset, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """Predictions of ``model`` for ``dataset`` (in order), always in fp32, whatever precision trained it.

    Autocast is switched off here even inside an autocast block: in bf16 the sums over neighbours (added in a
    different order on each GPU run) differ by about 1e-3 from run to run, too much to compare two evaluations
    (a reloaded checkpoint with the original) or to report an error in the third decimal."""
    import torch
    from torch.utils.data import DataLoader

    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=GraphDataset.collate)
    out = []
    with torch.no_grad(), torch.autocast(str(device).split(":")[0], enabled=False):
        for g, lg, _ in loader:
            out.append(model((g.to(device), lg.to(device), None))["out"].float().reshape(-1).cpu())
    return torch.cat(out).numpy().astype(float) if out else np.zeros(0)


def split_graphs(split: Split, prop: str, cfg: GNNConfig, cache_dir: Path | None = None) -> tuple[dict, Split]:
    """``(graphs, kept)``: the graphs of every part of ``split`` and the split without the structures whose
    graph is empty (printed), so that every model sees the same structures. Written out in notebook 04b,
    section 2."""
    graphs, kept = {}, {}
    for name, part in split.items():
        graphs[name] = build_graphs(part, prop, cfg, cache_dir, desc=f"{prop}-{name}", progress=False,
                                    skip_empty=True)
        for ident, reason in graphs[name].skipped.items():
            print(f"left out of {name}: {reason} ({ident})")
        ids = set(graphs[name].ids)
        kept[name] = [rec for rec in part if str(rec["jid"]) in ids]
    return graphs, Split(kept, split.source)


def _train_one_epoch(model, loader, optimizer, scheduler, scaler, device: str, precision) -> float:
    import torch

    model.train()
    loss_sum, count = 0.0, 0
    for g, lg, y in loader:
        g, lg, y = g.to(device), lg.to(device), y.to(device)
        with precision.autocast(device):
            pred = model((g, lg, None))["out"]
        loss = torch.nn.functional.l1_loss(pred.float().reshape(-1), y)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_sum, count = loss_sum + loss.item() * len(y), count + len(y)
    return loss_sum / count


def train_loop(model, train_set: GraphDataset, val_set: GraphDataset, cfg: GNNConfig, device: str, precision,
               max_minutes: float | None = None) -> dict[str, Any]:
    """Train ``model`` for ``cfg.epochs`` (or ``max_minutes``) with L1 loss, AdamW and a one-cycle schedule in
    ``precision`` (a ``utils.runtime.Precision``; fp16 with a gradient scaler), keep the weights of the best
    validation epoch (loaded back at the end). Returns the per-epoch ``train MAE``, ``val MAE``, the
    ``best epoch`` and ``train seconds`` (training epochs only). Written out in notebook 04b, section 3."""
    import copy
    import time

    import torch
    from torch.utils.data import DataLoader

    torch.manual_seed(cfg.seed)
    model.to(device)
    with torch.no_grad():
        model.fc.bias.fill_(float(train_set.y.mean()))  # start from the training mean
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, collate_fn=GraphDataset.collate,
                        generator=torch.Generator().manual_seed(cfg.seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.learning_rate, epochs=cfg.epochs,
                                                    steps_per_epoch=len(loader), pct_start=0.3)
    scaler = torch.amp.GradScaler(str(device).split(":")[0], enabled=precision.needs_scaler)
    out: dict[str, Any] = {"train MAE": [], "val MAE": [], "best epoch": 0, "train seconds": 0.0}
    start, best_state = time.perf_counter(), None
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        out["train MAE"].append(_train_one_epoch(model, loader, optimizer, scheduler, scaler, device, precision))
        out["train seconds"] += time.perf_counter() - t0
        out["val MAE"].append(float(np.mean(np.abs(predict(model, val_set, device) - val_set.y))))
        if out["val MAE"][-1] == min(out["val MAE"]):
            out["best epoch"], best_state = epoch, copy.deepcopy(model.state_dict())
        if max_minutes and time.perf_counter() - start > 60 * max_minutes:
            break
    model.load_state_dict(best_state)
    return out


def save_checkpoint(model, cfg: GNNConfig, path: Path, prop: str = "", extra: dict | None = None) -> Path:
    """Save weights, config, property and ``extra`` numbers (written atomically; loads with weights_only)."""

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": asdict(cfg), "property": prop, "unit": unit_of(prop), **(extra or {})}
    return _save_atomically(payload, Path(path))


def load_checkpoint(path: Path, device: str = "cpu"):
    """``(model, cfg, info)`` from a :func:`save_checkpoint` file, the model in eval mode. Read with
    ``weights_only=True``: a file with more than tensors, numbers, strings, lists and dicts is refused."""
    path = Path(path)
    if not path.exists():
        raise GNNError(f"No checkpoint at {path}. Train a model first (the lesson's loop saves best_model.pt).")
    payload = _weights(path, device)
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise GNNError(f"{path} is not a checkpoint written by utils.gnn.save_checkpoint.")
    cfg = GNNConfig(**payload["config"])
    model = make_model(cfg)
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return model, cfg, {k: v for k, v in payload.items() if k not in ("state_dict", "config")}


def alignn_training_config(
    cfg: GNNConfig, n_train: int, n_val: int, n_test: int, out_dir: Path, use_amp: bool = False
) -> dict[str, Any]:
    """An alignn ``TrainingConfig`` dict for ``train_for_folder`` with the settings of ``cfg``; ``keep_data_order``
    and ``n_train/n_val/n_test`` make alignn use our split when the records are written train, val, test.
    ``use_amp``: alignn's bf16 autocast (CUDA only), to compare with a loop that trains in bf16."""
    out_dir = Path(out_dir)
    return {
        **{"dataset": "user_data", "target": "target", "id_tag": "jid", "atom_features": "cgcnn"},
        **{"neighbor_strategy": "pure_torch", **cfg.graph_settings()},
        **{"n_train": n_train, "n_val": n_val, "n_test": n_test, "keep_data_order": True, "random_seed": cfg.seed},
        **{"epochs": cfg.epochs, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate},
        **{"weight_decay": cfg.weight_decay, "optimizer": "adamw", "scheduler": "onecycle", "criterion": "l1"},
        **{"num_workers": 0, "pin_memory": False, "use_lmdb": True, "read_existing": False},
        **{"write_predictions": True, "filename": str(out_dir / "lmdb_"), "output_dir": str(out_dir)},
        "use_amp": bool(use_amp),
        "model": cfg.model_config(),
    }


@dataclass
class ReferenceResult:
    """What :func:`train_reference` measured (MAE in the property's unit).

    alignn saves the weights of its best validation epoch as ``best_model.pt`` but writes its test predictions
    (``prediction_results_test_set.csv``) with the weights of the last epoch: ``last_epoch_test_mae`` is that
    file's MAE. The best epoch's test MAE comes from ``best_model`` (load it with :func:`model_from_weights`)."""

    last_epoch_test_mae: float
    best_model: Path
    best_epoch: int
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


def _write_folder(split: Split, prop: str, cfg: GNNConfig, out_dir: Path, use_amp: bool = False) -> Path:
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
    rows = [  # atoms re-serialised by jarvis-tools: alignn reads every field of its own schema (e.g. props)
        {"jid": str(rec["jid"]), "atoms": atoms_from_record(rec).to_dict(), "target": float(rec[prop])}
        for part in parts
        for rec in part
    ]
    (out_dir / "id_prop.json").write_text(json.dumps(rows))
    config = alignn_training_config(cfg, *(len(part) for part in parts), out_dir, use_amp=use_amp)
    (out_dir / "config_in.json").write_text(json.dumps(config, indent=1))
    return out_dir / "config_in.json"


def run_alignn_trainer(data_dir: Path, config: Path, out_dir: Path, **kwargs: Any) -> str:
    """alignn's ``train_for_folder`` on ``data_dir/id_prop.json`` with the config file ``config``, into ``out_dir``.

    alignn's console output (stdout, stderr) goes to ``out_dir/train.log`` and is returned; ``kwargs`` go to
    ``train_for_folder`` (e.g. ``target_key``, ``restart_model_path``).
    """
    from alignn.train_alignn import train_for_folder

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_for_folder(root_dir=str(data_dir), config_name=str(config), output_dir=str(out_dir), **kwargs)
    (Path(out_dir) / "train.log").write_text(buffer.getvalue())
    return buffer.getvalue()


def train_reference(split: Split, prop: str, cfg: GNNConfig, out_dir: Path, use_amp: bool = False) -> ReferenceResult:
    """Train with alignn's ``train_for_folder`` on ``split`` in ``out_dir``; read back its epochs, its best
    checkpoint and the MAE of its test predictions (those of the last epoch, see :class:`ReferenceResult`).
    alignn drops the last incomplete train and val batch: with fewer val structures than a batch, no val loss."""
    import pandas as pd

    blocker = alignn_trainer_unavailable()
    if blocker:
        raise GNNError(blocker)
    out_dir = Path(out_dir)
    config = _write_folder(split, prop, cfg, out_dir, use_amp=use_amp)
    log = run_alignn_trainer(out_dir, config, out_dir, target_key="target", id_key="jid")
    pred_file, best = out_dir / "prediction_results_test_set.csv", out_dir / "best_model.pt"
    if not pred_file.exists() or not best.exists():
        raise GNNError(f"alignn wrote no {pred_file.name} or {best.name}; see {out_dir / 'train.log'}.")
    table = pd.read_csv(pred_file, skipinitialspace=True)
    train_loss, val_loss, seconds = _parse_epoch_times(log)
    processed = len(split["train"]) // cfg.batch_size * cfg.batch_size * len(seconds)  # drop_last
    y_true, y_pred = table["target"].to_numpy(float), table["prediction"].to_numpy(float)
    return ReferenceResult(
        last_epoch_test_mae=float(np.mean(np.abs(y_true - y_pred))),
        best_model=best,
        best_epoch=int(np.argmin(val_loss)) + 1 if val_loss else 0,
        history={"train MAE": train_loss, "val MAE": val_loss},
        train_seconds=float(sum(seconds)),
        structures_per_s=processed / sum(seconds) if sum(seconds) > 0 else float("nan"),
    )


def model_from_weights(path: Path, cfg: GNNConfig, device: str = "cpu"):
    """The model of ``cfg`` with the weights of a plain state-dict file (alignn's ``best_model.pt``), in eval
    mode; read with ``weights_only=True``."""
    model = make_model(cfg)
    model.load_state_dict(_weights(Path(path), device))
    return model.to(device).eval()


def alignn_trainer_unavailable(system: str | None = None) -> str:
    """Why alignn's trainer cannot run on this platform ('' when it can). On Windows alignn's LMDB graph store
    asks for a 1 TB memory map, which Windows reserves on disk ('not enough space'): use WSL there."""
    if (system or platform.system()) == "Windows":
        return (
            "alignn's trainer is skipped on Windows: its LMDB graph store reserves 1 TB of disk there. "
            "Run this section in WSL (Windows Subsystem for Linux); the lesson's own loop needs no LMDB."
        )
    return ""


def multi_gpu_command(run_dir: Path, out_dir: Path) -> list[str]:
    """``train_alignn.py`` arguments that train ``run_dir`` (a folder :func:`train_reference` has trained once,
    on one device) on every visible GPU, one process per GPU, into ``out_dir``.

    The command names the target and id keys of our ``id_prop.json`` (alignn's defaults are ``total_energy`` and
    ``jid``), and its config (written to ``out_dir``) reads the graphs that the single-device run stored in
    LMDB: every rank reads them instead of rebuilding them at one shared path."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    config = json.loads((run_dir / "config_in.json").read_text())
    stores = [Path(f"{config['filename']}{part}_data") for part in ("train", "val", "test")]
    missing = [str(p) for p in stores if not (p / "data.mdb").exists()]
    if missing:
        raise GNNError(
            f"No graphs stored in {', '.join(missing)}: train {run_dir} once on one device first "
            "(utils.gnn.train_reference); every GPU process then reads those graphs."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    config.update(read_existing=True, output_dir=str(out_dir))
    (out_dir / "config_multi_gpu.json").write_text(json.dumps(config, indent=1))
    return [
        *("train_alignn.py", "--root_dir", str(run_dir)),
        *("--config_name", str(out_dir / "config_multi_gpu.json"), "--output_dir", str(out_dir)),
        *("--target_key", "target", "--id_key", "jid"),
    ]


# alignn's published ALIGNN 2.0 models (registry ``alignn.pretrained.ALIGNN2_MODELS``, one figshare zip each)
PUBLISHED_FILES = ("config.json", "best_model.pt", "ids_train_val_test.json")


def _unpack(archive: Path, folder: Path) -> str:
    """Unpack alignn's model files from ``archive`` into ``folder``: '' when done, else why not."""
    from .data import _looks_like_html

    if not zipfile.is_zipfile(archive):
        what = "an HTML page" if _looks_like_html(archive) else "not a zip archive"
        return f"the answer was {what} ({archive.stat().st_size} bytes)"
    with zipfile.ZipFile(archive) as zf:
        members = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
        missing = [f for f in PUBLISHED_FILES[:2] if f not in members]
        if missing:
            return f"the archive lacks {' and '.join(missing)} (it holds {', '.join(sorted(members)) or 'nothing'})"
        folder.mkdir(parents=True, exist_ok=True)
        for name in set(PUBLISHED_FILES) & set(members):
            (folder / name).write_bytes(zf.read(members[name]))
    return ""


def published_model(name: str, timeout: float = 5.0) -> tuple[Path | None, str]:
    """``(folder, line)``: alignn's published ALIGNN 2.0 model ``name`` (``config.json``, ``best_model.pt``,
    ``ids_train_val_test.json``), downloaded once from its figshare URL into the data cache.

    Online only: when the host gives no answer within ``timeout`` s (``utils.runtime.reachable``), the
    download fails (403 for a file figshare has not made public, an HTML page instead of a zip, a timeout)
    or the archive lacks a file, the folder is None and ``line`` says what would have been downloaded and why not.
    """
    from alignn.pretrained import ALIGNN2_MODELS

    from .data import cache_dir, download
    from .runtime import reachable

    if name not in ALIGNN2_MODELS:
        raise GNNError(f"alignn's registry has no model {name!r}; see alignn.pretrained.list_alignn2_models().")
    url, folder = ALIGNN2_MODELS[name]["url"], cache_dir() / "alignn2_models" / name
    if all((folder / f).exists() for f in PUBLISHED_FILES[:2]):
        return folder, f"Published ALIGNN model {name}: cached in {folder}"
    online, why = reachable(url, timeout)
    why = "" if online else f"no network ({why})"
    archive = folder.parent / f"{name}.zip"
    try:
        if online:
            download(url, archive, validate=lambda path: None, label=name)
            why = _unpack(archive, folder)
    except DatasetError as exc:  # data.download's error: the HTTP status, or the network error as its cause
        status, cause = getattr(exc, "status", None), exc.__cause__
        why = f"HTTP {status}" if status else f"the download failed ({type(cause).__name__}: {cause})"
        why += " (figshare serves a file only once its article is public)" if status == 403 else ""
    finally:
        archive.unlink(missing_ok=True)
    if why:
        return None, f"Published ALIGNN model {name} ({url}) not downloaded: {why}. The lesson goes on without it."
    return folder, f"Published ALIGNN model {name}: downloaded from {url} to {folder}"


def _weights(path: Path, device: str) -> dict:
    """A state dict read with ``weights_only=True`` (GNNError when the file holds more than weights)."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GNNError(
            f"{path} holds more than weights and numbers, so it was not loaded (unpickling it could run code): "
            f"{exc} Delete it, and train or download the model again."
        ) from exc


def alignn_model(config: dict[str, Any], weights: Path, device: str = "cpu"):
    """alignn's DGL-free ``ALIGNNAtomWisePure`` of an alignn ``config`` (its ``"model"`` section) in eval mode, with
    the weights of ``weights`` read with ``weights_only=True`` (GNNError when the file holds more)."""
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig

    name = config["model"].get("name", "alignn_atomwise_pure")
    if name != "alignn_atomwise_pure":
        raise GNNError(f"{weights}: its config names the model {name!r}; only 'alignn_atomwise_pure' loads here.")
    model = ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**config["model"]))
    model.load_state_dict(_weights(Path(weights), device))
    return model.to(device).eval()


def load_published(folder: Path, device: str = "cpu"):
    """``(model, cfg)`` of a :func:`published_model` folder: the model in eval mode, ``cfg`` the graph settings
    (cutoff, neighbours, three-body cutoff) of its ``config.json``."""
    config = json.loads((Path(folder) / "config.json").read_text())
    if config.get("atom_features", "cgcnn") != "cgcnn":
        raise GNNError(f"{folder}: atom features {config['atom_features']!r}; this lesson builds cgcnn graphs.")
    model = alignn_model(config, Path(folder) / "best_model.pt", device)
    cfg = GNNConfig(cutoff=float(config.get("cutoff", 8.0)), max_neighbors=config.get("max_neighbors", 12))
    cfg.three_body_cutoff = config.get("three_body_cutoff", 3.5) or cfg.cutoff  # alignn: None means the cutoff
    return model, cfg
