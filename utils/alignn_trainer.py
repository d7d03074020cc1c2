"""A driver of alignn's own trainer (``train_for_folder``): its input folder and config from a split and a
:class:`utils.gnn.GNNConfig`, its console output kept in ``train.log`` and read back (losses, epoch times, best
epoch), and where it cannot run (Windows)."""

from __future__ import annotations

import contextlib
import io
import json
import platform
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .gnn import GNNConfig, GNNError
from .leaderboard import Split
from .structures import atoms_from_record


def training_config(cfg: GNNConfig, n_train: int, n_val: int, n_test: int, out_dir: Path,
                    use_amp: bool = False) -> dict[str, Any]:
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
class TrainerRun:
    """What :func:`train` measured (MAE in the property's unit). alignn saves its best validation epoch as
    ``best_model`` but predicts the test set with the last epoch's weights: ``last_epoch_test_mae`` is their MAE."""

    last_epoch_test_mae: float
    best_model: Path
    best_epoch: int
    history: dict[str, list[float]]
    train_seconds: float
    structures_per_s: float


_EPOCH_ROW = re.compile(r"^\s+(\d+)\s+([-\d.eE+naninf]+)(?:\s+[-\d.eE+naninf]+){5}\s+([\d.]+)")


def parse_log(log: str) -> tuple[list[float], list[float], list[float]]:
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


def _write_folder(split: Split, prop: str, cfg: GNNConfig, out_dir: Path, use_amp: bool) -> Path:
    """``id_prop.json`` (train, val, test in that order) and ``config_in.json`` for ``train_for_folder``."""
    for name in ("train", "val", "test"):
        if not split.get(name):
            raise GNNError(f"The {name} set is empty; alignn's trainer needs train, val and test structures.")
    if len(split["val"]) < cfg.batch_size:
        warnings.warn(f"{len(split['val'])} val structures < batch size {cfg.batch_size}: alignn drops incomplete val "
                      "batches, so its validation loss is 0 and its best_model.pt is the first epoch.", stacklevel=3)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [split[name] for name in ("train", "val", "test")]
    # atoms re-serialised by jarvis-tools: alignn reads every field of its own schema (e.g. props)
    rows = [{"jid": str(rec["jid"]), "atoms": atoms_from_record(rec).to_dict(), "target": float(rec[prop])}
            for part in parts for rec in part]
    (out_dir / "id_prop.json").write_text(json.dumps(rows))
    config = training_config(cfg, *(len(part) for part in parts), out_dir, use_amp=use_amp)
    (out_dir / "config_in.json").write_text(json.dumps(config, indent=1))
    return out_dir / "config_in.json"


def run_in_folder(data_dir: Path, config: Path, out_dir: Path, **kwargs: Any) -> str:
    """alignn's ``train_for_folder`` on ``data_dir/id_prop.json`` with the config file ``config``, into ``out_dir``
    (``kwargs`` go to it); its console output is written to ``out_dir/train.log`` and returned."""
    from alignn.train_alignn import train_for_folder
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_for_folder(root_dir=str(data_dir), config_name=str(config), output_dir=str(out_dir), **kwargs)
    (Path(out_dir) / "train.log").write_text(buffer.getvalue())
    return buffer.getvalue()


def train(split: Split, prop: str, cfg: GNNConfig, out_dir: Path, use_amp: bool = False) -> TrainerRun:
    """Train with alignn's ``train_for_folder`` on ``split`` in ``out_dir``; read back its epochs, its best
    checkpoint and the MAE of its test predictions (those of the last epoch, see :class:`TrainerRun`)."""
    import pandas as pd
    if blocker := unavailable():
        raise GNNError(blocker)
    out_dir = Path(out_dir)
    config = _write_folder(split, prop, cfg, out_dir, use_amp=use_amp)
    log = run_in_folder(out_dir, config, out_dir, target_key="target", id_key="jid")
    pred_file, best = out_dir / "prediction_results_test_set.csv", out_dir / "best_model.pt"
    if not pred_file.exists() or not best.exists():
        raise GNNError(f"alignn wrote no {pred_file.name} or {best.name}; see {out_dir / 'train.log'}.")
    table = pd.read_csv(pred_file, skipinitialspace=True)
    train_loss, val_loss, seconds = parse_log(log)
    processed = len(split["train"]) // cfg.batch_size * cfg.batch_size * len(seconds)  # drop_last
    y_true, y_pred = table["target"].to_numpy(float), table["prediction"].to_numpy(float)
    return TrainerRun(last_epoch_test_mae=float(np.mean(np.abs(y_true - y_pred))), best_model=best,
                      best_epoch=int(np.argmin(val_loss)) + 1 if val_loss else 0,
                      history={"train MAE": train_loss, "val MAE": val_loss}, train_seconds=float(sum(seconds)),
                      structures_per_s=processed / sum(seconds) if sum(seconds) > 0 else float("nan"))


def unavailable() -> str:
    """Why alignn's trainer cannot run on this platform ('' when it can): on Windows alignn's LMDB graph store asks
    for a 1 TB memory map, which Windows reserves on disk."""
    if platform.system() != "Windows":
        return ""
    return ("alignn's trainer is skipped on Windows: its LMDB graph store reserves 1 TB of disk there. "
            "Run this section in WSL (Windows Subsystem for Linux); the lesson's own loop needs no LMDB.")

