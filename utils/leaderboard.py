"""JARVIS-Leaderboard benchmark files and the train/val/test splits they define (a seeded random split where a
property has no benchmark)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from . import data, files
from .files import DatasetError, Record

LEADERBOARD_DIR = "jarvis_leaderboard"  # benchmark files live in <data folder>/jarvis_leaderboard/<path>


def read_benchmark(path: Path, label: str | None = None) -> dict[str, dict[str, Any]]:
    """A leaderboard benchmark zip: ``{"train": {id: value}, "val": {...}, "test": {...}}`` (parts may be absent);
    DatasetError when the zip does not open or the JSON is not such an object."""
    label = label or str(path)
    with files.reading(label), files.open_text(path, label) as stream:
        table = json.load(stream)
    parts = set(table) if isinstance(table, dict) else set()
    if not parts or not parts <= {"train", "val", "test"} or not all(isinstance(v, dict) for v in table.values()):
        raise DatasetError(f"{label}: expected a JSON object with train/val/test tables of id -> value.")
    if not any(table.values()):
        raise DatasetError(f"{label}: every part of the benchmark is empty.")
    return table


def benchmark_table(path: str) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Benchmark file ``path`` (below ``jarvis_leaderboard/benchmarks/``, e.g.
    ``AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip``) and where it came from: the data folder
    when there is one, else the cache or a download at the registry's pinned commit, else (printed) the sample's
    copy, which covers the sample's records only. ``(None, reason)`` when no such file is available."""
    if not re.fullmatch(r"[\w./-]+\.json\.zip", path) or ".." in path:
        raise DatasetError(f"Not a leaderboard benchmark path: {path!r}.")
    folder = data.data_folder()
    if folder is not None:
        local, label = folder / LEADERBOARD_DIR / path, data.folder_label(folder)
        if local.is_file():
            return read_benchmark(local, f"{path} ({label})"), label
        return None, f"{label} has no {LEADERBOARD_DIR}/{path}"
    entry = data.registry()["leaderboard"]
    origin = f"jarvis_leaderboard@{entry['commit'][:7]}"
    cached = data.cache_dir() / LEADERBOARD_DIR / entry["commit"][:7] / path
    table = files.read_cache(cached, lambda p: read_benchmark(p, f"cached {path}"))
    if table is not None:
        return table, origin
    try:
        if files.network_failure():
            raise DatasetError(f"the network failed earlier in this session ({files.network_failure()})")
        url = f"{entry['raw_base']}/{entry['commit']}/jarvis_leaderboard/benchmarks/{path}"
        files.download(url, cached, read_benchmark, label=Path(path).name)
        return read_benchmark(cached), origin
    except DatasetError as exc:
        if getattr(exc, "status", None) == 404:
            return None, f"the leaderboard has no benchmark {path}"
        reason = str(exc)
    sample = data.SAMPLE_DIR / LEADERBOARD_DIR / path
    if sample.is_file():
        print(
            f"Leaderboard file {path} not available online ({reason[:200]}); using the shipped sample's copy, "
            "which covers the sample's records only."
        )
        return read_benchmark(sample), "the shipped sample's copy (download failed)"
    return None, reason


def _benchmark_path(records: list[Record], prop: str) -> str | None:
    """The leaderboard benchmark that splits ``records`` for ``prop``: mlearn energies for single-element
    force-field configurations, ``dft_3d_<prop>`` otherwise; None when there can be none."""
    if not re.fullmatch(r"[\w-]+", prop):
        return None
    if prop in {"total_energy", "energy"}:
        elements = {el for rec in records for el in rec["atoms"]["elements"]}
        return f"AI/MLFF/mlearn_{elements.pop()}_energy.json.zip" if len(elements) == 1 else None
    return f"AI/SinglePropertyPrediction/dft_3d_{prop.replace('-', '_')}.json.zip"  # n-Seebeck -> dft_3d_n_Seebeck


class Split(dict):
    """``{"train": [...], "val": [...], "test": [...]}`` plus ``source`` (one line: which split this is) and
    ``labels`` (jid -> part of the leaderboard benchmark; empty for a random split)."""

    def __init__(self, parts: dict[str, list[Record]], source: str, labels: dict[str, str] | None = None):
        super().__init__(parts)
        self.source = source
        self.labels = labels or {}


def split_records(records: list[Record], prop: str, seed: int = 42) -> Split:
    """Train/val/test split of the records that have ``prop``: exactly the ids of the JARVIS-Leaderboard benchmark
    of ``prop`` when ``benchmark_table`` has it (records outside it left out), else a seeded random 80/10/10 split;
    ``split.source`` says which. DatasetError when fewer than 10 records have a value."""
    usable = data.with_property(records, prop)
    if len(usable) < 10:
        raise DatasetError(f"Only {len(usable)} records have a value for {prop!r}; a train/val/test split needs at "
                           "least 10. Choose another property or load more data (full mode).")
    path = _benchmark_path(usable, prop)
    table, origin = benchmark_table(path) if path else (None, f"no leaderboard benchmark for {prop}")
    if table is not None:
        labels = {}  # id -> part; mlearn ids ``Si-12`` also answer to the record jid ``12``
        for part, ids in table.items():
            for key in map(str, ids):
                labels[key] = part
                if path.startswith("AI/MLFF/") and "-" in key:
                    labels[key.split("-", 1)[1]] = part
        parts: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
        for rec in usable:
            if str(rec["jid"]) in labels:
                parts[labels[str(rec["jid"])]].append(rec)
        if parts["train"] and parts["test"]:
            kept = sum(len(p) for p in parts.values())
            name = Path(path).name.removesuffix(".json.zip")
            source = f"JARVIS-Leaderboard split {name} ({kept} of the {len(usable)} records with a value are in it)"
            return Split(parts, source, {str(r["jid"]): p for p, recs in parts.items() for r in recs})
        origin = f"no record is in both the train and test sets of {Path(path).name}"
    return Split(random_split(usable, seed), f"seeded random split (0.8, 0.1, 0.1) (seed {seed}): {origin}")


def random_split(items: list, seed: int) -> dict[str, list]:
    """The project's one seeded random 80/10/10 train/val/test split of ``items`` (where no benchmark split exists)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_train, n_val = round(0.8 * len(order)), round(0.1 * len(order))
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(order))}
    return {part: [items[i] for i in order[lo:hi]] for part, (lo, hi) in bounds.items()}
