"""The dataset registry and the one loader of the curriculum, and the meaning of a record's values.

Data come from ``AIMS_DATA_DIR`` (any folder of ``<name>.json`` or ``<name>.json.zip`` lists of plain jarvis-tools
records, leaderboard files under ``jarvis_leaderboard/``), else the shipped sample in fast mode, else validated
downloads cached in ``cache_dir()`` (docs/DATA.md). ``load_dataset`` never returns other data than asked for, unless
the caller says ``fallback_to_sample=True``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import files
from .files import DatasetError, Record, check_records, read_cache, read_records
from .runtime import REPO_ROOT, env, mode

REGISTRY_PATH = REPO_ROOT / "data" / "datasets.json"
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
MLEARN_PREFIX = "mlearn_"
_SAMPLE_FALLBACK: ContextVar[bool] = ContextVar("sample_fallback", default=False)  # set by one load_dataset call
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")  # a number written as text


@lru_cache(maxsize=1)
def registry() -> dict[str, Any]:
    """The dataset registry in ``data/datasets.json``."""
    return json.loads(REGISTRY_PATH.read_text())


def known_datasets() -> list[str]:
    """Every name ``load_dataset`` accepts."""
    elements = registry()["families"]["mlearn_<Element>"]["elements"]
    return list(registry()["datasets"]) + [MLEARN_PREFIX + el for el in elements]


def cache_dir() -> Path:
    """Where downloads and built datasets are kept (env ``AIMS_CACHE_DIR`` or ``<repo>/.cache/datasets``)."""
    path = Path(env("AIMS_CACHE_DIR") or REPO_ROOT / ".cache" / "datasets")
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(f"no write permission for {path}")
    except OSError as exc:
        raise DatasetError(f"Cannot write the data cache folder {path} ({exc}). Set AIMS_CACHE_DIR to a writable "
                           "folder, e.g. export AIMS_CACHE_DIR=$HOME/.cache/aims (a read-only checkout cannot hold "
                           "the cache).") from exc
    return path


def data_folder() -> Path | None:
    """The folder datasets are read from: ``AIMS_DATA_DIR``, else the shipped sample in fast mode, else None
    (workshop and full mode: download); the sample inside a ``load_dataset(..., fallback_to_sample=True)`` call
    whose download failed. Raises DatasetError when ``AIMS_DATA_DIR`` names no folder."""
    if _SAMPLE_FALLBACK.get():
        return SAMPLE_DIR
    value = env("AIMS_DATA_DIR")
    if value is None:
        return SAMPLE_DIR if mode() == "fast" else None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"AIMS_DATA_DIR names {folder}, which is not a folder. Create it and put the data files "
                           "there, or unset AIMS_DATA_DIR (fast mode then uses the shipped sample, full mode "
                           "downloads).")
    return folder


def folder_label(folder: Path) -> str:
    return "the shipped sample (data/sample)" if folder == SAMPLE_DIR else f"AIMS_DATA_DIR ({folder})"


def required_keys(name: str) -> list[str]:
    family = registry()["families"]["mlearn_<Element>"]
    return family["required_keys"] if name.startswith(MLEARN_PREFIX) else registry()["datasets"][name]["required_keys"]


def check_name(name: str) -> None:
    """DatasetError listing the known names when ``name`` is no dataset ``load_dataset`` knows."""
    elements = registry()["families"]["mlearn_<Element>"]["elements"]
    if name.startswith(MLEARN_PREFIX) and name[len(MLEARN_PREFIX) :] not in elements:
        raise DatasetError(f"Unknown mlearn element in {name!r}: mlearn has {', '.join(elements)}; e.g. 'mlearn_Si'.")
    if name not in known_datasets():
        raise DatasetError(f"Unknown dataset {name!r}. Known datasets: {', '.join(known_datasets())}.")


def dataset_path(name: str) -> Path:
    """The file dataset ``name`` is read from now: ``<name>.json`` or ``<name>.json.zip`` in the data folder (for
    ``mlearn_<El>`` also the whole ``mlearn``), or else the cached figshare download, downloaded and validated first
    if absent. DatasetError saying what to do when there is none."""
    folder = data_folder()
    if folder is None:
        return _figshare_file("mlearn" if name.startswith(MLEARN_PREFIX) else name)
    for stem in [name] + (["mlearn"] if name.startswith(MLEARN_PREFIX) else []):
        found = [c for c in (folder / f"{stem}.json", folder / f"{stem}.json.zip") if c.is_file()]
        if len(found) == 2:
            warnings.warn(f"{folder} holds both {stem}.json and {stem}.json.zip; reading {stem}.json. Remove the one "
                          "that should not be read.", stacklevel=4)
        if found:
            return found[0]
    if folder == SAMPLE_DIR:
        held = ", ".join(sorted(p.name.split(".")[0] for p in SAMPLE_DIR.glob("*.json*")))
        raise DatasetError(f"The shipped sample has no {name} (it holds {held}). Run in workshop or full mode "
                           f"to download it, or set AIMS_DATA_DIR to a folder holding {name}.json.")
    raise DatasetError(f"No {name}.json or {name}.json.zip in AIMS_DATA_DIR ({folder}). Put the file there (a JSON "
                       "list of records in jarvis-tools' schema), or unset AIMS_DATA_DIR to use the sample (fast) or "
                       "download (full).")


def _figshare_file(name: str) -> Path:
    """The cached figshare download of dataset ``name``, downloaded and validated first if absent."""
    required = required_keys(name)
    try:
        from jarvis.db.figshare import get_db_info
        url, tag = get_db_info()[registry()["datasets"][name]["figshare_name"]][:2]
        cached = cache_dir() / f"{tag}.zip"
        if not cached.is_file():  # a cached file was validated when it was downloaded; read_cache repairs damage
            if files.network_failure():
                raise DatasetError(f"the network failed earlier in this session ({files.network_failure()}).")
            check_all = lambda p: sum(1 for _ in files.iter_records(p, required, f"downloaded {name}"))  # noqa: E731
            files.download(url, cached, check_all, label=name)
    except Exception as exc:  # jarvis-tools missing, broken or too old to know the dataset; a failed download
        reason = exc if isinstance(exc, DatasetError) else f"jarvis-tools could not tell its source ({exc!r})."
        raise DatasetError(f"Could not load dataset {name!r}: {reason}\nTo work offline, put {name}.json or "
                           f"{name}.json.zip (a JSON list of records in jarvis-tools' schema) into a folder and set "
                           "AIMS_DATA_DIR to it; fast mode (AIMS_MODE=fast) uses the shipped sample.") from exc
    return cached


def _read_records_of(name: str, limit: int | None, sample=None, where=None) -> list[Record]:
    """Records of ``name`` from ``dataset_path`` (a damaged cached download is fetched again). ``mlearn_<El>`` is a
    per-element file, or the single-element configurations of the whole mlearn set (``energy`` copied to
    ``total_energy`` where absent; forcefields decides its unit)."""
    online, path = data_folder() is None, dataset_path(name)
    element, asked = name[len(MLEARN_PREFIX) :], where
    stem = "mlearn" if name.startswith(MLEARN_PREFIX) and (online or path.name.split(".")[0] != name) else name
    if stem != name:
        where = lambda rec: set(rec["atoms"]["elements"]) == {element} and (asked is None or asked(rec))  # noqa: E731
    read = lambda p: read_records(p, required_keys(stem), f"{stem} ({p})", limit, sample, where)  # noqa: E731
    records = read_cache(path, read) if online else read(path)
    records = read(dataset_path(name)) if records is None else records  # None: damaged, fetched again just now
    if stem == name:
        return records
    records = [r | {"total_energy": r["energy"]} if "total_energy" not in r and "energy" in r else r for r in records]
    if not records:
        raise DatasetError(f"mlearn holds no single-element {element} configurations.")
    check_records(records, required_keys(name), name)
    return records


def load_dataset(name: str, verbose: bool = True, fallback_to_sample: bool = False, max_records: int | None = None,
                 seed: int = 42, where: Callable[[Record], bool] | None = None) -> list[Record]:  # fmt: skip
    """Records of dataset ``name`` (see ``known_datasets()``) from ``data_folder()`` or the download.

    ``where`` keeps the records for which ``where(record)`` is true, ``max_records`` a seeded uniform random sample,
    env ``AIMS_MAX_RECORDS=N`` the first N: all act while the file streams, so memory holds only the records kept.
    With ``verbose`` one line says where the records came from. With ``fallback_to_sample`` a failed download is
    reported in two lines and this call reads the shipped sample (the environment is left alone); without it,
    DatasetError. Exact duplicate records are dropped with a warning; two different records with one jid are a
    DatasetError.
    """
    check_name(name)
    limit = max_records_from_env()
    folder = data_folder()
    try:
        if "builder" in registry()["datasets"].get(name, {}):
            from .chipsff_reference import cached_records
            records, source = cached_records(name)
            records, limit = [r for r in records if where is None or where(r)], None
        else:
            records = _read_records_of(name, limit, None if max_records is None else (max_records, seed), where)
            source = folder_label(folder) if folder else f"jarvis-tools figshare (cache {cache_dir()})"
    except DatasetError as exc:
        if folder is not None or not fallback_to_sample:
            raise
        print(f"{name}: could not be loaded online ({str(exc).splitlines()[0][:300]})")
        print(f"{name}: continuing on the shipped workshop sample instead; results differ from the full dataset.")
        token = _SAMPLE_FALLBACK.set(True)  # this call only reads the sample (split_records falls back by itself)
        try:
            return load_dataset(name, verbose=verbose, max_records=max_records, seed=seed, where=where)
        finally:
            _SAMPLE_FALLBACK.reset(token)
    records = _without_duplicates(records, f"{name} from {source}")
    if verbose:
        capped = f" (capped by AIMS_MAX_RECORDS={limit})" if limit is not None and len(records) >= limit else ""
        if max_records is not None and len(records) >= max_records:
            capped += f" (a random {max_records}, seed {seed})"
        kept = " matching the filter" if where is not None else ""
        print(f"{name}: {len(records)} records{kept} from {source}{capped}")
    return records


def _without_duplicates(records: list[Record], label: str) -> list[Record]:
    """``records`` with exact repeats of an earlier record dropped (a warning names them); DatasetError naming the
    jids given twice with different values (twins would land in train and test, and one value stand for both)."""
    first: dict[str, Record] = {}
    repeats, conflicts = [], []
    for rec in records:
        jid = str(rec["jid"])
        if jid not in first:
            first[jid] = rec
        else:
            (repeats if rec == first[jid] else conflicts).append(jid)
    if conflicts:
        twins = sorted(set(conflicts))
        raise DatasetError(f"{label}: {len(twins)} jid{' occurs' if len(twins) == 1 else 's occur'} twice with "
                           f"different values: {', '.join(twins[:10])}{' ...' if len(twins) > 10 else ''}. Keep one "
                           "record per jid in the data file (a twin would land in train and its copy in test).")
    if repeats:
        names = ", ".join(repeats[:10]) + (" ..." if len(repeats) > 10 else "")
        warnings.warn(f"{label}: dropped {len(repeats)} duplicate records (exact repeats): {names}.", stacklevel=3)
    return list(first.values()) if repeats else records


def max_records_from_env() -> int | None:
    """The record cap set by env ``AIMS_MAX_RECORDS`` (None when unset or empty)."""
    value = env("AIMS_MAX_RECORDS")
    if value is not None and (not value.isdigit() or int(value) < 1):
        raise DatasetError(f"AIMS_MAX_RECORDS must be a positive whole number, found {value!r}.")
    return None if value is None else int(value)


MISSING_WORDS = {"", "na", "n/a", "nan", "none", "null", "-", "--", "?"}  # "no value" (lower-case, stripped)


def is_missing(value: Any) -> bool:
    """True for jarvis-tools' ``"na"`` placeholder and the other ``MISSING_WORDS`` (``"n/a"``, ``"-"``, ...), None
    and non-finite numbers (NaN, inf, NumPy's included)."""
    if isinstance(value, str):
        return value.strip().lower() in MISSING_WORDS
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return not math.isfinite(float(value))
    return value is None


def with_property(records: list[Record], prop: str) -> list[Record]:
    """Records whose ``prop`` holds a value (``is_missing`` placeholders dropped). DatasetError for no records, a
    property no record has, or text that is no number where the others hold numbers (naming the record)."""
    if not records:
        raise DatasetError(f"No records given, so none has {prop!r}. Load a dataset first (utils.load_dataset).")
    if not any(prop in rec for rec in records):
        keys = sorted({k for rec in records[:50] for k in rec if not k.startswith("_")})
        raise DatasetError(f"Unknown property {prop!r}. Properties in these records: {', '.join(keys)}.")
    kept = [rec for rec in records if prop in rec and not is_missing(rec[prop])]
    numeric = any(isinstance(rec[prop], numbers.Real) for rec in kept)
    for rec in kept:
        if numeric and isinstance(rec[prop], str) and not _NUMBER.fullmatch(rec[prop].strip()):
            raise DatasetError(f"Record {rec.get('jid', '?')} holds {prop} = {rec[prop]!r} where a number was "
                               "expected. Fix the value in the data file, or write 'na' for a missing one.")
    return kept


def to_dataframe(records: list[Record]):
    """A pandas DataFrame of ``records`` with ``"na"`` turned into NaN (``atoms`` left out)."""
    import numpy as np
    import pandas as pd
    if not records:
        raise DatasetError("No records given: nothing to put in a table. Load a dataset first (utils.load_dataset).")
    columns = [k for k in records[0] if k != "atoms" and not k.startswith("_")]
    rows = [{c: (np.nan if is_missing(rec.get(c)) else rec.get(c)) for c in columns} for rec in records]
    return pd.DataFrame(rows, columns=columns)
