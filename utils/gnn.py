"""ALIGNN plumbing for lesson 04: the shared config, graphs with clear errors and a content-keyed cache, prediction
in fp32, checkpoints that load with ``weights_only=True``, and the split and loop that 04b writes out and 04c reuses."""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .data import is_missing
from .files import DatasetError, read_cache, write_atomically
from .leaderboard import Split, split_records
from .properties import unit_of
from .structures import atoms_from_record

Record = dict[str, Any]

#: Length of alignn's "cgcnn" atom feature vector (``alignn.config.FEATURESET_SIZE``): 9 one-hot encoded element
#: properties (group, period, electronegativity, covalent radius, valence electrons, ionisation energy, ...).
CGCNN_FEATURES = 92


class GNNError(ValueError):
    """Bad input for graph building or training; the message says what was expected and what to do."""


@dataclass
class GNNConfig:
    """Graph, model and training settings shared by both training paths. Defaults: the ALIGNN paper's, and alignn's
    pure-torch ``three_body_cutoff`` (only shorter bonds form angles; the paper's line graph uses all)."""

    alignn_layers: int = 4
    gcn_layers: int = 4
    hidden_features: int = 256
    embedding_features: int = 64
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
        """alignn's ``ALIGNNAtomWisePureConfig`` fields for a one-number property model (no forces, no penalty)."""
        sizes = {k: getattr(self, k) for k in ("alignn_layers", "gcn_layers", "hidden_features", "embedding_features")}
        return {"name": "alignn_atomwise_pure", "atom_input_features": CGCNN_FEATURES, "calculate_gradient": False,
                "gradwise_weight": 0.0, "use_penalty": False, **sizes}


def make_model(cfg: GNNConfig):
    """A fresh ``ALIGNNAtomWisePure`` model for ``cfg`` (seeded with ``cfg.seed``)."""
    import torch
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig
    torch.manual_seed(cfg.seed)
    return ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**cfg.model_config()))


def property_split(records: list[Record], prop: str, max_structures: int | None = None, seed: int = 42) -> Split:
    """Train/val/test records for ``prop``: the JARVIS-Leaderboard split (else seeded 80/10/10); with
    ``max_structures``, a seeded random subset of each part, in the same proportions. Raises GNNError for an
    unknown property or one with too few values (the data layer's checks)."""
    try:
        split = split_records(records, prop)
    except DatasetError as exc:
        raise GNNError(str(exc)) from exc
    total = sum(len(part) for part in split.values())
    if max_structures is None or max_structures >= total:
        return split
    rng = random.Random(seed)
    out = {name: rng.sample(part, min(len(part), max(1, round(len(part) * max_structures / total))))
           for name, part in split.items()}
    return Split(out, f"{split.source}; a seeded subset of {max_structures} of its {total} records kept")


def targets(records: list[Record], prop: str) -> np.ndarray:
    """The values of ``prop`` as a float array (raises GNNError on a missing value)."""
    for rec in records:
        if is_missing(rec.get(prop)):
            raise GNNError(f"{rec.get('jid', 'record')} has no value for {prop!r}; filter with utils.with_property.")
    return np.asarray([rec[prop] for rec in records], dtype=float)


def build_graph(atoms, cfg: GNNConfig, ident: str = "structure"):
    """The crystal graph ``g`` (node data ``atom_features``, edge data ``r`` = bond vector in Å) and line graph ``lg``
    of ``atoms`` by alignn's pure-torch builder, slimmed to what the property model reads. GNNError if no edge."""
    from alignn.graphs import Graph
    settings = {**cfg.graph_settings(), "cutoff": float(cfg.cutoff), "neighbor_strategy": "pure_torch"}
    g, lg = Graph.atom_dgl_multigraph(atoms, atom_features="cgcnn", compute_line_graph=True, **settings)
    if g.num_edges == 0:
        raise GNNError(f"{ident}: the graph is empty: no atom has a neighbour within the cutoff of {cfg.cutoff} Å "
                       f"({atoms.num_atoms} atoms, cell lengths {np.round(atoms.lattice.abc, 2).tolist()} Å). "
                       "Increase the cutoff or check the structure (units in Å? a molecule in a huge box?).")
    g.ndata, g.edata = {"atom_features": g.ndata["atom_features"]}, {"r": g.edata["r"].detach()}
    lg.ndata, lg.edata = {}, {}
    return g, lg


class GraphDataset:
    """Cached ``(g, lg)`` pairs with their targets and ids: a map-style dataset for ``DataLoader``; ``skipped``
    maps the id of each structure left out to why."""

    def __init__(self, graphs: list, y: np.ndarray, ids: list[str], prop: str, skipped: dict[str, str] | None = None):
        self.graphs, self.y, self.ids, self.prop = graphs, np.asarray(y, dtype=np.float32), list(ids), prop
        self.skipped = dict(skipped or {})

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int):
        return (*self.graphs[i], float(self.y[i]))

    def subset(self, indices) -> GraphDataset:
        """A dataset holding the items at ``indices`` (no graph is rebuilt)."""
        indices = list(indices)
        return GraphDataset([self.graphs[i] for i in indices], self.y[indices], [self.ids[i] for i in indices],
                            self.prop)

    @staticmethod
    def collate(samples):
        """Batch ``(g, lg, y)`` samples into one big graph pair and a target tensor."""
        import torch
        from alignn.torch_graph_builder import batch_torch_graph_pairs
        graphs, line_graphs, ys = zip(*samples)
        g, lg = batch_torch_graph_pairs(list(zip(graphs, line_graphs)))
        return g, lg, torch.tensor(ys, dtype=torch.float32)


def cache_key(records: list[Record], cfg: GNNConfig) -> str:
    """Hash of the graph settings and every record's id, lattice, coordinates and elements."""
    content = [[str(r.get("jid")), {k: r["atoms"].get(k) for k in ("lattice_mat", "coords", "elements", "cartesian")}]
               for r in records]
    text = json.dumps([cfg.graph_settings(), content], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def build_graphs(records: list[Record], prop: str, cfg: GNNConfig, cache_dir: Path | None = None,
                 desc: str = "graphs", skip_empty: bool = False) -> GraphDataset:
    """Build (once) the graphs of ``records`` for ``prop``; with ``cache_dir`` they are saved (a failed write only
    warns) and reused, in a file named by :func:`cache_key` read with ``weights_only=True``. Raises GNNError for a
    record without a value, and for an empty graph unless ``skip_empty`` (then it is listed in ``.skipped``)."""
    import torch
    from alignn.torch_graph_builder import TorchGraph
    y, ids = targets(records, prop), [str(rec.get("jid", i)) for i, rec in enumerate(records)]
    path = Path(cache_dir) / f"{desc}-{cache_key(records, cfg)}.pt" if cache_dir else None
    payload = read_cache(path, lambda p: torch.load(p, weights_only=True), errors=(Exception,)) if path else None
    whole = isinstance(payload, dict) and len(payload.get("kept", [])) + len(payload.get("skipped", {})) == len(records)
    if not whole:  # absent, damaged or of other records: build
        payload = {"graphs": [], "kept": [], "skipped": {}}
        for i, (rec, ident) in enumerate(zip(records, ids)):
            try:
                g, lg = build_graph(atoms_from_record(rec), cfg, ident=ident)
            except GNNError as exc:
                if not skip_empty:
                    raise
                payload["skipped"][ident] = str(exc)
                continue
            payload["graphs"].append(dict(src=g.src, dst=g.dst, x=g.ndata["atom_features"], r=g.edata["r"],
                                          lsrc=lg.src, ldst=lg.dst))
            payload["kept"].append(i)
        try:
            if path is not None:
                write_atomically(path, lambda tmp: torch.save(payload, tmp))
        except OSError as exc:  # a read-only folder or a full disk must not lose the graphs just built
            warnings.warn(f"Could not save the graph cache {path} ({exc}); the graphs are used now and built again "
                          "next time. Pass a writable cache_dir to keep them.", stacklevel=2)
    if payload["skipped"] and not skip_empty:
        raise GNNError(next(iter(payload["skipped"].values())))
    graphs = [(TorchGraph(num_nodes=len(t["x"]), src=t["src"], dst=t["dst"], ndata={"atom_features": t["x"]},
                          edata={"r": t["r"]}), TorchGraph(num_nodes=len(t["src"]), src=t["lsrc"], dst=t["ldst"]))
              for t in payload["graphs"]]
    kept = payload["kept"]
    return GraphDataset(graphs, y[kept], [ids[i] for i in kept], prop, payload["skipped"])


def predict(model, dataset: GraphDataset, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """Predictions of ``model`` for ``dataset`` (in order), always in fp32 (autocast off even inside an autocast
    block): in bf16 the sums over neighbours differ by about 1e-3 from GPU run to run, too much to compare."""
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
        graphs[name] = build_graphs(part, prop, cfg, cache_dir, desc=f"{prop}-{name}", skip_empty=True)
        for ident, reason in graphs[name].skipped.items():
            print(f"left out of {name}: {reason} ({ident})")
        ids = set(graphs[name].ids)
        kept[name] = [rec for rec in part if str(rec["jid"]) in ids]
    return graphs, Split(kept, split.source)


def train_loop(model, train_set: GraphDataset, val_set: GraphDataset, cfg: GNNConfig, device: str,
               precision) -> dict[str, Any]:
    """Train ``model`` for ``cfg.epochs`` with L1 loss, AdamW and one-cycle in ``precision`` (a ``runtime.Precision``)
    and load back the weights of the best validation epoch. Returns the per-epoch ``train MAE``, ``val MAE``, the
    ``best epoch`` and ``train seconds`` (training epochs only). Written out in notebook 04b, section 3."""
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
    best_state = None
    for epoch in range(1, cfg.epochs + 1):
        t0, loss_sum = time.perf_counter(), 0.0
        model.train()
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
            loss_sum += loss.item() * len(y)
        out["train MAE"].append(loss_sum / len(train_set))
        out["train seconds"] += time.perf_counter() - t0
        out["val MAE"].append(float(np.mean(np.abs(predict(model, val_set, device) - val_set.y))))
        if out["val MAE"][-1] == min(out["val MAE"]):
            out["best epoch"], best_state = epoch, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return out


def read_weights(path: Path, device: str) -> dict:
    """A state dict read with ``weights_only=True`` (GNNError when the file holds more than weights)."""
    import torch
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise GNNError(f"{path} holds more than weights and numbers, so it was not loaded (unpickling it could run "
                       f"code): {exc} Delete it, and train or download the model again.") from exc


def save_checkpoint(model, cfg: GNNConfig, path: Path, prop: str = "", extra: dict | None = None) -> Path:
    """Save weights, config, property and ``extra`` numbers (written atomically; loads with weights_only)."""
    import torch
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "config": asdict(cfg), "property": prop, "unit": unit_of(prop), **(extra or {})}
    return write_atomically(Path(path), lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path, device: str = "cpu"):
    """``(model, cfg, info)`` from a :func:`save_checkpoint` file, the model in eval mode. Read with
    ``weights_only=True``: a file with more than tensors, numbers, strings, lists and dicts is refused."""
    if not Path(path).exists():
        raise GNNError(f"No checkpoint at {path}. Train a model first (the lesson's loop saves best_model.pt).")
    payload = read_weights(Path(path), device)
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise GNNError(f"{path} is not a checkpoint written by utils.gnn.save_checkpoint.")
    known = {f.name for f in fields(GNNConfig)}  # settings of older versions are ignored
    cfg = GNNConfig(**{k: v for k, v in payload.pop("config").items() if k in known})
    return model_from_weights(payload.pop("state_dict"), cfg, device), cfg, payload


def model_from_weights(weights: Path | dict, cfg: GNNConfig, device: str = "cpu"):
    """The model of ``cfg`` in eval mode with ``weights``: a state dict, or a file of one (alignn's
    ``best_model.pt``) read with ``weights_only=True``."""
    model = make_model(cfg)
    model.load_state_dict(weights if isinstance(weights, dict) else read_weights(Path(weights), device))
    return model.to(device).eval()
