"""One loader for every dataset of the curriculum, online (jarvis-tools' figshare) or offline.

Rule: if the folder named by env ``AIMS_DATA_DIR`` holds ``<name>.json`` or ``<name>.json.zip`` (a JSON
list of records in jarvis-tools' schema), that file is used and nothing is downloaded. Otherwise the
dataset is downloaded once through jarvis-tools' figshare registry into a cache folder (env
``AIMS_CACHE_DIR``, default ``<repo>/.cache/datasets``): written to a temporary file, validated (the zip
opens, the JSON parses, records carry the required keys) and only then renamed into place. A damaged
cache file is reported and fetched again.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import random
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from .runtime import REPO_ROOT

REGISTRY_PATH = REPO_ROOT / "data" / "datasets.json"
MLEARN_PREFIX = "mlearn_"
Record = dict[str, Any]


class DatasetError(RuntimeError):
    """A dataset could not be found, downloaded or validated; the message says what to do."""


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
    """Where downloads are kept (env ``AIMS_CACHE_DIR`` or ``<repo>/.cache/datasets``)."""
    path = Path(os.environ.get("AIMS_CACHE_DIR", REPO_ROOT / ".cache" / "datasets"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline_dir() -> Path | None:
    """The folder named by ``AIMS_DATA_DIR``, or None when the variable is unset."""
    value = os.environ.get("AIMS_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def _required_keys(name: str) -> list[str]:
    reg = registry()
    if name.startswith(MLEARN_PREFIX):
        return reg["families"]["mlearn_<Element>"]["required_keys"]
    return reg["datasets"][name]["required_keys"]


def _check_name(name: str) -> None:
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


def iter_json_list(stream: TextIO, chunk_size: int = 1 << 20) -> Iterator[Any]:
    """Yield the items of a JSON list read from ``stream`` one at a time.

    Memory stays at about one item plus ``chunk_size``, so the full dft_3d can be validated or sampled
    on a small machine. Raises ``json.JSONDecodeError`` (or ValueError) for malformed JSON.
    """
    decoder = json.JSONDecoder()
    buf, pos, eof = "", 0, False

    def refill() -> None:
        nonlocal buf, pos, eof
        piece = stream.read(chunk_size)
        eof = not piece
        buf, pos = buf[pos:] + piece, 0

    def skip_space() -> None:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or eof:
                return
            refill()

    refill()
    skip_space()
    if buf[pos : pos + 1] != "[":
        raise ValueError("the top level is not a JSON list")
    pos += 1
    skip_space()
    if buf[pos : pos + 1] == "]":
        return
    while True:
        while True:
            try:
                item, end = decoder.raw_decode(buf, pos)
                if end < len(buf) or eof:
                    break
            except json.JSONDecodeError:
                if eof:
                    raise
            refill()
        yield item
        pos = end
        skip_space()
        sep = buf[pos : pos + 1]
        pos += 1
        if sep == "]":
            return
        if sep != ",":
            raise json.JSONDecodeError("expected ',' or ']' after a list item", buf, pos - 1)
        skip_space()


def _open_text(path: Path, label: str) -> TextIO:
    """A text stream of a ``.json`` file or of the first member of a zip archive."""
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        members = [m for m in zf.namelist() if not m.endswith("/")]
        if not members:
            raise DatasetError(f"{label}: the zip archive is empty.")
        return io.TextIOWrapper(zf.open(members[0]), encoding="utf-8")
    if path.suffix == ".zip":
        raise DatasetError(f"{label}: not a valid zip archive (truncated or damaged download?).")
    return open(path, encoding="utf-8")


def iter_records(path: Path, required_keys: list[str], label: str | None = None) -> Iterator[Record]:
    """Validated records of a ``.json`` or ``.json.zip`` file, one at a time.

    Raises DatasetError when the zip does not open, the JSON does not parse, the top level is not a
    non-empty list of objects, or a record lacks one of ``required_keys``.
    """
    label = label or str(path)
    count = 0
    try:
        with _open_text(path, label) as stream:
            for record in iter_json_list(stream):
                check_records([record], required_keys, label, offset=count)
                count += 1
                yield record
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{label}: not a valid zip archive ({exc}).") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise DatasetError(f"{label}: not valid JSON ({exc}).") from exc
    if not count:
        raise DatasetError(f"{label}: expected a non-empty JSON list of records, found an empty list.")


def read_records(
    path: Path, required_keys: list[str], label: str | None = None, max_records: int | None = None
) -> list[Record]:
    """Every validated record of ``path`` (see ``iter_records``), or only the first ``max_records``."""
    return list(itertools.islice(iter_records(path, required_keys, label), max_records))


def validate_file(path: Path, required_keys: list[str], label: str | None = None) -> int:
    """Check a whole file record by record without keeping the records; return how many it holds."""
    return sum(1 for _ in iter_records(path, required_keys, label))


def check_records(records: list[Record], required_keys: list[str], label: str, offset: int = 0) -> None:
    """Raise DatasetError naming the first record that is not an object with every key in ``required_keys``."""
    for i, rec in enumerate(records, start=offset):
        missing = [k for k in required_keys if not isinstance(rec, dict) or k not in rec]
        if missing:
            ident = rec.get("jid", f"#{i}") if isinstance(rec, dict) else f"#{i}"
            raise DatasetError(
                f"{label}: record {ident} lacks {', '.join(missing)} (every record needs {', '.join(required_keys)})."
            )


def _offline_file(name: str) -> Path | None:
    folder = offline_dir()
    if folder is None:
        return None
    for candidate in (folder / f"{name}.json", folder / f"{name}.json.zip"):
        if candidate.is_file():
            return candidate
    return None


def _figshare_source(figshare_name: str) -> tuple[str, str]:
    """(url, tag) of a jarvis-tools figshare dataset."""
    from jarvis.db.figshare import get_db_info

    info = get_db_info()
    if figshare_name not in info:
        raise DatasetError(f"jarvis-tools knows no figshare dataset {figshare_name!r}; update jarvis-tools.")
    url, tag = info[figshare_name][0], info[figshare_name][1]
    return url, tag


def download(url: str, dest: Path, required_keys: list[str], label: str) -> None:
    """Fetch ``url`` into a temporary file beside ``dest``, validate it, then rename it to ``dest``.

    A partial or invalid download never reaches ``dest``.
    """
    import requests
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, requests.get(url, stream=True, timeout=60) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {label}") as bar:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        validate_file(tmp, required_keys, label=f"downloaded {label}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _no_data_message(name: str, reason: str) -> str:
    folder = offline_dir()
    where = f"the folder AIMS_DATA_DIR names ({folder})" if folder else "a folder and set AIMS_DATA_DIR to it"
    return (
        f"Could not load dataset {name!r}: {reason}\n"
        f"To work offline, put {name}.json or {name}.json.zip (a JSON list of records in "
        f"jarvis-tools' schema) into {where}."
    )


def _read_cache(cached: Path, required: list[str], name: str, limit: int | None) -> list[Record] | None:
    """Records of a cache file; None when it is absent, or damaged (then reported and deleted for a re-fetch)."""
    if not cached.exists():
        return None
    try:
        return read_records(cached, required, label=f"cached {name}", max_records=limit)
    except DatasetError as exc:
        warnings.warn(f"{exc} Deleting the damaged cache file {cached} and fetching it again.", stacklevel=4)
        cached.unlink()
        return None


def _load_built(name: str, entry: dict[str, Any]) -> list[Record]:
    """A dataset assembled from several online sources by ``entry["builder"]`` ("module:function"), cached."""
    import importlib

    required = entry["required_keys"]
    cached = cache_dir() / f"{name}.json"
    records = _read_cache(cached, required, name, limit=None)
    if records is not None:
        return records
    module, func = entry["builder"].split(":")
    try:
        records = getattr(importlib.import_module(module), func)()
    except DatasetError:
        raise
    except Exception as exc:  # network errors of any kind
        raise DatasetError(_no_data_message(name, f"building it from its online sources failed ({exc}).")) from exc
    check_records(records, required, name)
    partial = cached.with_suffix(".json.part")
    partial.write_text(json.dumps(records))
    os.replace(partial, cached)  # never a half-written cache file
    return records


def _load_figshare(name: str, limit: int | None = None) -> list[Record]:
    entry = registry()["datasets"][name]
    if "builder" in entry:  # assembled from several online sources (e.g. chipsff_reference)
        return _load_built(name, entry)
    required = entry["required_keys"]
    try:
        url, tag = _figshare_source(entry["figshare_name"])
    except DatasetError:
        raise
    except Exception as exc:  # jarvis-tools missing or broken
        raise DatasetError(_no_data_message(name, f"jarvis-tools could not tell its source ({exc}).")) from exc
    cached = cache_dir() / f"{tag}.zip"
    records = _read_cache(cached, required, name, limit)
    if records is not None:
        return records
    try:
        download(url, cached, required, label=name)
    except DatasetError:
        raise
    except Exception as exc:  # network errors of any kind
        raise DatasetError(_no_data_message(name, f"the download from {url} failed ({exc}).")) from exc
    return read_records(cached, required, label=f"cached {name}", max_records=limit)


def _mlearn_element(records: list[Record], element: str) -> list[Record]:
    """The single-element configurations of the mlearn set, ``energy`` copied to ``total_energy`` where absent.

    The unit of the online set's energy (per atom or per cell) is not checked here; utils.forcefields
    decides it from the data.
    """
    selected = []
    for rec in records:
        if set(rec["atoms"]["elements"]) != {element}:
            continue
        rec = dict(rec)
        if "total_energy" not in rec and "energy" in rec:
            rec["total_energy"] = rec["energy"]
        selected.append(rec)
    return selected


def load_dataset(name: str, verbose: bool = True) -> list[Record]:
    """Records of dataset ``name`` (see ``known_datasets()``), offline file first, else download.

    With ``verbose`` one line says where the records came from. On small machines (Binder) env
    ``AIMS_MAX_RECORDS=N`` keeps only the first N records, read as a stream, so memory stays small.

    >>> records = load_dataset("dft_3d")            # doctest: +SKIP
    >>> records[0]["jid"], records[0]["formation_energy_peratom"]  # doctest: +SKIP
    """
    _check_name(name)
    limit = max_records_from_env()
    local = _offline_file(name)
    if local is not None:
        records = read_records(local, _required_keys(name), label=f"{name} ({local})", max_records=limit)
        source = f"offline file {local}"
    else:
        records = _download_or_cache(name, limit)
        source = f"jarvis-tools figshare (cache {cache_dir()})"
    if verbose:
        capped = f" (capped by AIMS_MAX_RECORDS={limit})" if limit is not None and len(records) >= limit else ""
        print(f"{name}: {len(records)} records from {source}{capped}")
    return records


def max_records_from_env() -> int | None:
    """The record cap set by env ``AIMS_MAX_RECORDS`` (None when unset or empty)."""
    value = os.environ.get("AIMS_MAX_RECORDS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise DatasetError(f"AIMS_MAX_RECORDS must be a positive whole number, found {value!r}.")
    return int(value)


def _download_or_cache(name: str, limit: int | None) -> list[Record]:
    if name.startswith(MLEARN_PREFIX):
        element = name[len(MLEARN_PREFIX) :]
        try:
            parent = load_dataset("mlearn", verbose=False)
        except DatasetError as exc:
            raise DatasetError(_no_data_message(name, str(exc).splitlines()[0])) from exc
        records = _mlearn_element(parent, element)
        if not records:
            raise DatasetError(f"mlearn holds no single-element {element} configurations.")
        check_records(records, _required_keys(name), name)
        return records
    return _load_figshare(name, limit)


def is_missing(value: Any) -> bool:
    """True for jarvis-tools' ``"na"`` placeholder, None, NaN and empty strings."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in {"", "na", "nan", "none"}
    if isinstance(value, float):
        return math.isnan(value)
    return False


def with_property(records: list[Record], prop: str) -> list[Record]:
    """Records whose ``prop`` holds a number (``"na"`` and friends dropped).

    Raises DatasetError for a property no record has.
    """
    if not any(prop in rec for rec in records):
        keys = sorted({k for rec in records[:50] for k in rec if not k.startswith("_")})
        raise DatasetError(f"Unknown property {prop!r}. Properties in these records: {', '.join(keys)}.")
    return [rec for rec in records if prop in rec and not is_missing(rec[prop])]


def split_records(
    records: list[Record],
    prop: str,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    min_records: int = 10,
) -> dict[str, list[Record]]:
    """Train/val/test split of the records that have ``prop``.

    Uses the JARVIS-Leaderboard split carried in ``_leaderboard_split[prop]`` when every record has one,
    else a seeded random split with ``fractions``. Raises DatasetError when fewer than ``min_records``
    records have a value.
    """
    usable = with_property(records, prop)
    if len(usable) < min_records:
        raise DatasetError(
            f"Only {len(usable)} records have a value for {prop!r}; a train/val/test split needs at "
            f"least {min_records}. Choose another property or load more data (full mode)."
        )
    labels = [rec.get("_leaderboard_split", {}).get(prop) for rec in usable]
    if all(lab in {"train", "val", "test"} for lab in labels) and "test" in labels and "train" in labels:
        split = {"train": [], "val": [], "test": []}
        for rec, lab in zip(usable, labels):
            split[lab].append(rec)
        return split
    order = list(range(len(usable)))
    random.Random(seed).shuffle(order)
    n_train = int(round(fractions[0] * len(order)))
    n_val = int(round(fractions[1] * len(order)))
    pick = lambda idx: [usable[i] for i in idx]  # noqa: E731
    return {
        "train": pick(order[:n_train]),
        "val": pick(order[n_train : n_train + n_val]),
        "test": pick(order[n_train + n_val :]),
    }


def to_dataframe(records: list[Record], columns: list[str] | None = None):
    """A pandas DataFrame of ``records`` with ``"na"`` turned into NaN (``atoms`` left out unless asked)."""
    import numpy as np
    import pandas as pd

    columns = columns or [k for k in records[0] if k != "atoms" and not k.startswith("_")]
    rows = [{c: (np.nan if is_missing(rec.get(c)) else rec.get(c)) for c in columns} for rec in records]
    return pd.DataFrame(rows, columns=columns)
