"""The dataset registry and the one loader of the curriculum, and the meaning of a record's values.

Where the data comes from (``data_source()``):

* ``AIMS_DATA_DIR`` set: that folder, in every mode (it must exist). It holds ``<name>.json`` or
  ``<name>.json.zip`` (a JSON list of records in jarvis-tools' plain schema) and, optionally, leaderboard
  benchmark files under ``jarvis_leaderboard/<path below benchmarks/>``.
* fast mode (``AIMS_MODE=fast``) otherwise: the workshop sample shipped in ``data/sample`` (same layout), so
  nothing is downloaded.
* workshop and full mode otherwise: jarvis-tools' figshare registry, downloaded once into a cache folder (env
  ``AIMS_CACHE_DIR``, default ``<repo>/.cache/datasets``), and the leaderboard's benchmark files from the
  jarvis_leaderboard repository at a pinned commit. Every download goes to a temporary file, is validated
  and only then renamed into place; a damaged cache file is reported and fetched again.

``load_dataset`` never returns other data than asked for, unless the caller says
``fallback_to_sample=True``: then a failed download is reported and the shipped sample is used instead, for
that call only. docs/DATA.md explains all this to learners. Reading files is ``utils.files``' job, the
leaderboard's splits ``utils.leaderboard``'s.
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

from .files import (
    DatasetError,
    Record,
    check_records,
    download,
    iter_records,
    network_failure,
    read_cache,
    read_records,
    sample_stream,
)
from .runtime import REPO_ROOT, env, is_fast

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
    reg = registry()
    names = list(reg["datasets"])
    names += [MLEARN_PREFIX + el for el in reg["families"]["mlearn_<Element>"]["elements"]]
    return names


def cache_dir() -> Path:
    """Where downloads and built datasets are kept (env ``AIMS_CACHE_DIR`` or ``<repo>/.cache/datasets``)."""
    path = Path(env("AIMS_CACHE_DIR") or REPO_ROOT / ".cache" / "datasets")
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(f"no write permission for {path}")
    except OSError as exc:
        raise DatasetError(
            f"Cannot write the data cache folder {path} ({exc}). Set AIMS_CACHE_DIR to a writable folder, "
            "e.g. export AIMS_CACHE_DIR=$HOME/.cache/aims (a read-only checkout cannot hold the cache)."
        ) from exc
    return path


def data_folder() -> Path | None:
    """The folder datasets are read from: ``AIMS_DATA_DIR``, else the shipped sample in fast mode, else None
    (workshop and full mode: download); the sample inside a ``load_dataset(..., fallback_to_sample=True)`` call
    whose download failed. Raises DatasetError when ``AIMS_DATA_DIR`` names no folder."""
    if _SAMPLE_FALLBACK.get():
        return SAMPLE_DIR
    value = env("AIMS_DATA_DIR")
    if value is None:
        return SAMPLE_DIR if is_fast() else None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise DatasetError(
            f"AIMS_DATA_DIR names {folder}, which is not a folder. Create it and put the data files there, "
            "or unset AIMS_DATA_DIR (fast mode then uses the shipped sample, full mode downloads)."
        )
    return folder


def data_source() -> str:
    """One line saying where ``load_dataset`` reads from now."""
    folder = data_folder()
    return "online (jarvis-tools figshare, cached)" if folder is None else folder_label(folder)


def required_keys(name: str) -> list[str]:
    reg = registry()
    if name.startswith(MLEARN_PREFIX):
        return reg["families"]["mlearn_<Element>"]["required_keys"]
    return reg["datasets"][name]["required_keys"]


def check_name(name: str) -> None:
    if name in registry()["datasets"]:
        return
    if name.startswith(MLEARN_PREFIX):
        elements = registry()["families"]["mlearn_<Element>"]["elements"]
        if name[len(MLEARN_PREFIX) :] in elements:
            return
        raise DatasetError(
            f"Unknown mlearn element in {name!r}: mlearn has {', '.join(elements)}. Use e.g. 'mlearn_Si'."
        )
    raise DatasetError(f"Unknown dataset {name!r}. Known datasets: {', '.join(known_datasets())}.")


# --- Files in a data folder (AIMS_DATA_DIR or the shipped sample) ---


def folder_label(folder: Path) -> str:
    return "the shipped sample (data/sample)" if folder == SAMPLE_DIR else f"AIMS_DATA_DIR ({folder})"


def _folder_file(name: str, folder: Path) -> Path:
    """``<name>.json`` or ``<name>.json.zip`` in ``folder`` (for ``mlearn_<El>`` also the whole ``mlearn``);
    DatasetError saying what to do when there is none."""
    names = [name] + (["mlearn"] if name.startswith(MLEARN_PREFIX) else [])
    for stem in names:
        found = [c for c in (folder / f"{stem}.json", folder / f"{stem}.json.zip") if c.is_file()]
        if len(found) == 2:
            warnings.warn(
                f"{folder} holds both {stem}.json and {stem}.json.zip; reading {stem}.json. Remove the one that "
                "should not be read.",
                stacklevel=4,
            )
        if found:
            return found[0]
    raise _missing_in_folder(name, folder)


def _missing_in_folder(name: str, folder: Path) -> DatasetError:
    if folder == SAMPLE_DIR:
        held = sorted(p.name.split(".")[0] for p in SAMPLE_DIR.glob("*.json*"))
        return DatasetError(
            f"The shipped sample has no {name} (it holds {', '.join(held)}). Run in workshop or full mode "
            f"to download it, or set AIMS_DATA_DIR to a folder holding {name}.json."
        )
    return DatasetError(
        f"No {name}.json or {name}.json.zip in AIMS_DATA_DIR ({folder}). Put the file there (a JSON list of "
        f"records in jarvis-tools' schema), or unset AIMS_DATA_DIR to use the sample (fast) or download (full)."
    )


# --- Downloads ---



def _figshare_source(figshare_name: str) -> tuple[str, str]:
    """(url, tag) of a jarvis-tools figshare dataset."""
    from jarvis.db.figshare import get_db_info

    info = get_db_info()
    if figshare_name not in info:
        raise DatasetError(f"jarvis-tools knows no figshare dataset {figshare_name!r}; update jarvis-tools.")
    url, tag = info[figshare_name][0], info[figshare_name][1]
    return url, tag


def _no_data_message(name: str, reason: str) -> str:
    return (
        f"Could not load dataset {name!r}: {reason}\n"
        f"To work offline, put {name}.json or {name}.json.zip (a JSON list of records in jarvis-tools' "
        f"schema) into a folder and set AIMS_DATA_DIR to it; fast mode (AIMS_MODE=fast) uses the shipped sample."
    )


def _figshare_file(name: str) -> Path:
    """The cached figshare download of dataset ``name``, downloaded (and validated) first if absent."""
    entry = registry()["datasets"][name]
    required = entry["required_keys"]
    try:
        url, tag = _figshare_source(entry["figshare_name"])
    except DatasetError:
        raise
    except Exception as exc:  # jarvis-tools missing or broken
        raise DatasetError(_no_data_message(name, f"jarvis-tools could not tell its source ({exc}).")) from exc
    cached = cache_dir() / f"{tag}.zip"
    if cached.is_file():  # validated when it was downloaded; _read_source repairs later damage
        return cached
    if network_failure():
        reason = f"the network failed earlier in this session ({network_failure()})."
        raise DatasetError(_no_data_message(name, reason))
    try:
        check_all = lambda p: sum(1 for _ in iter_records(p, required, f"downloaded {name}"))  # noqa: E731
        download(url, cached, check_all, label=name)
    except DatasetError as exc:
        raise DatasetError(_no_data_message(name, str(exc))) from exc
    return cached


def _read_source(
    name: str, path: Path | None, limit: int | None, required: list[str], sample=None, where=None
) -> list[Record]:
    """Records of ``name`` from ``path`` (a data-folder file), or (None) from the cached download, which a
    damaged file re-fetches (``read_records`` applies ``limit``, ``sample`` and ``where``)."""
    if path is not None:
        return read_records(path, required, f"{name} ({path})", limit, sample, where)
    read = lambda cached: read_records(cached, required, f"cached {name}", limit, sample, where)  # noqa: E731
    records = read_cache(_figshare_file(name), read)
    return read(_figshare_file(name)) if records is None else records  # None: fetched again just now


def _read_records_of(name: str, folder: Path | None, limit: int | None, sample=None, where=None) -> list[Record]:
    """``_read_source``; ``mlearn_<El>`` is a per-element file, or the single-element configurations of the
    whole mlearn set (``energy`` copied to ``total_energy`` where absent; forcefields decides its unit)."""
    path = None if folder is None else _folder_file(name, folder)
    if not name.startswith(MLEARN_PREFIX) or (path is not None and path.name.startswith(name)):
        return _read_source(name, path, limit, required_keys(name), sample, where)
    element = name[len(MLEARN_PREFIX) :]  # path: None (download) or the whole mlearn set of the folder
    records = [dict(r) for r in _read_source("mlearn", path, None, required_keys("mlearn"), where=where)]
    records = [r for r in records if set(r["atoms"]["elements"]) == {element}]
    for rec in records:
        if "total_energy" not in rec and "energy" in rec:
            rec["total_energy"] = rec["energy"]
    if not records:
        raise DatasetError(f"mlearn holds no single-element {element} configurations.")
    check_records(records, required_keys(name), name)
    return records[:limit] if sample is None else sample_stream(records[:limit], *sample)


def dataset_path(name: str) -> Path:
    """The file dataset ``name`` is read from now (folder file or cached download; downloads if needed)."""
    folder = data_folder()
    return _figshare_file(name) if folder is None else _folder_file(name, folder)


# --- JARVIS-Leaderboard benchmark files ---


# --- Built datasets: chipsff_reference ---

# --- The one loader ---


def load_dataset(
    name: str,
    verbose: bool = True,
    fallback_to_sample: bool = False,
    max_records: int | None = None,
    seed: int = 42,
    where: Callable[[Record], bool] | None = None,
) -> list[Record]:
    """Records of dataset ``name`` (see ``known_datasets()``) from ``data_source()``.

    With ``where`` only the records for which ``where(record)`` is true are kept; with ``max_records`` a seeded
    uniform random sample of that many records. Both act while the file is streamed, so memory holds only the
    records kept (the whole dft_3d holds several GB as Python objects).

    With ``verbose`` one line says where the records came from. Env ``AIMS_MAX_RECORDS=N`` keeps only the
    first N records, read as a stream (small machines). With ``fallback_to_sample``, a failed download is
    reported in two lines and the shipped sample is read instead, by this call only (the environment is left
    alone); without it, it raises DatasetError. Exact duplicate records are dropped with a warning, and two
    different records with one jid are a DatasetError.

    >>> records = load_dataset("dft_3d")            # doctest: +SKIP
    >>> records[0]["jid"], records[0]["formation_energy_peratom"]  # doctest: +SKIP
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
            sample = None if max_records is None else (max_records, seed)
            records = _read_records_of(name, folder, limit, sample, where)
            source = folder_label(folder) if folder else f"jarvis-tools figshare (cache {cache_dir()})"
    except DatasetError as exc:
        if folder is not None or not fallback_to_sample:
            raise
        print(f"{name}: could not be loaded online ({str(exc).splitlines()[0][:300]})")
        print(f"{name}: continuing on the shipped workshop sample instead; results differ from the full dataset.")
        # this call only reads the sample, and the environment is left alone: split_records falls back to the
        # sample's split files by itself when their download fails
        token = _SAMPLE_FALLBACK.set(True)
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
        raise DatasetError(
            f"{label}: {len(twins)} jid{' occurs' if len(twins) == 1 else 's occur'} twice with different values: "
            f"{', '.join(twins[:10])}{' ...' if len(twins) > 10 else ''}. Keep one record per jid in the data file "
            "(a twin would land in train and its copy in test)."
        )
    if repeats:
        names = ", ".join(repeats[:10]) + (" ..." if len(repeats) > 10 else "")
        warnings.warn(f"{label}: dropped {len(repeats)} duplicate records (exact repeats): {names}.", stacklevel=3)
    return list(first.values()) if repeats else records


def max_records_from_env() -> int | None:
    """The record cap set by env ``AIMS_MAX_RECORDS`` (None when unset or empty)."""
    value = env("AIMS_MAX_RECORDS")
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise DatasetError(f"AIMS_MAX_RECORDS must be a positive whole number, found {value!r}.")
    return int(value)


# --- Values, properties and splits ---


MISSING_WORDS = {"", "na", "n/a", "nan", "none", "null", "-", "--", "?"}
"""Text that stands for "no value" (compared lower-case, without surrounding white space)."""


def is_missing(value: Any) -> bool:
    """True for jarvis-tools' ``"na"`` placeholder and the other ``MISSING_WORDS`` (``"n/a"``, ``"-"``, ...), None
    and non-finite numbers (NaN, inf, NumPy's included)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in MISSING_WORDS
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return not math.isfinite(float(value))
    return False


def with_property(records: list[Record], prop: str) -> list[Record]:
    """Records whose ``prop`` holds a value (``"na"`` and the other ``is_missing`` placeholders dropped).

    Raises DatasetError for an empty record list, a property no record has, or text that is no number where
    the others hold numbers (naming the record).
    """
    if not records:
        raise DatasetError(f"No records given, so none has {prop!r}. Load a dataset first (utils.load_dataset).")
    if not any(prop in rec for rec in records):
        keys = sorted({k for rec in records[:50] for k in rec if not k.startswith("_")})
        raise DatasetError(f"Unknown property {prop!r}. Properties in these records: {', '.join(keys)}.")
    kept = [rec for rec in records if prop in rec and not is_missing(rec[prop])]
    numeric = any(isinstance(rec[prop], numbers.Real) for rec in kept)
    for rec in kept:
        if numeric and isinstance(rec[prop], str) and not _NUMBER.fullmatch(rec[prop].strip()):
            raise DatasetError(
                f"Record {rec.get('jid', '?')} holds {prop} = {rec[prop]!r} where a number was expected. Fix the "
                f"value in the data file, or write 'na' for a missing one."
            )
    return kept


def to_dataframe(records: list[Record], columns: list[str] | None = None):
    """A pandas DataFrame of ``records`` with ``"na"`` turned into NaN (``atoms`` left out unless asked)."""
    import numpy as np
    import pandas as pd

    if not records and columns is None:
        raise DatasetError("No records given: nothing to put in a table. Load a dataset first (utils.load_dataset).")
    columns = columns or [k for k in records[0] if k != "atoms" and not k.startswith("_")]
    rows = [{c: (np.nan if is_missing(rec.get(c)) else rec.get(c)) for c in columns} for rec in records]
    return pd.DataFrame(rows, columns=columns)
