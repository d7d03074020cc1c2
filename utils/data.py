"""One loader for every dataset of the curriculum, online (jarvis-tools' figshare) or offline.

Rule: if the folder named by env ``AIMS_DATA_DIR`` holds ``<name>.json`` or ``<name>.json.zip`` (a JSON
list of records in jarvis-tools' schema), that file is used and nothing is downloaded. Otherwise the
dataset is downloaded once through jarvis-tools' figshare registry into a cache folder (env
``AIMS_CACHE_DIR``, default ``<repo>/.cache/datasets``): written to a temporary file, validated (the zip
opens, the JSON parses, records carry the required keys) and only then renamed into place. A damaged
cache file is reported and fetched again.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

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


def read_records(path: Path, required_keys: list[str], label: str | None = None) -> list[Record]:
    """Read and validate a ``.json`` or ``.json.zip`` file holding a list of records.

    Raises DatasetError when the zip does not open, the JSON does not parse, the top level is not a
    non-empty list of objects, or a record lacks one of ``required_keys``.
    """
    label = label or str(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if not m.endswith("/")]
                if not members:
                    raise DatasetError(f"{label}: the zip archive is empty.")
                text = zf.read(members[0])
        elif path.suffix == ".zip":
            raise DatasetError(f"{label}: not a valid zip archive (truncated or damaged download?).")
        else:
            text = path.read_bytes()
        data = json.loads(text)
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"{label}: not a valid zip archive ({exc}).") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{label}: not valid JSON ({exc}).") from exc
    if not isinstance(data, list) or not data:
        raise DatasetError(f"{label}: expected a non-empty JSON list of records, found {type(data).__name__}.")
    check_records(data, required_keys, label)
    return data


def check_records(records: list[Record], required_keys: list[str], label: str) -> None:
    """Raise DatasetError naming the first record that is not an object with every key in ``required_keys``."""
    for i, rec in enumerate(records):
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
        read_records(tmp, required_keys, label=f"downloaded {label}")
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


def _load_figshare(name: str) -> list[Record]:
    entry = registry()["datasets"][name]
    required = entry["required_keys"]
    try:
        url, tag = _figshare_source(entry["figshare_name"])
    except DatasetError:
        raise
    except Exception as exc:  # jarvis-tools missing or broken
        raise DatasetError(_no_data_message(name, f"jarvis-tools could not tell its source ({exc}).")) from exc
    cached = cache_dir() / f"{tag}.zip"
    if cached.exists():
        try:
            return read_records(cached, required, label=f"cached {name}")
        except DatasetError as exc:
            warnings.warn(f"{exc} Deleting the damaged cache file {cached} and downloading again.", stacklevel=3)
            cached.unlink()
    try:
        download(url, cached, required, label=name)
    except DatasetError:
        raise
    except Exception as exc:  # network errors of any kind
        raise DatasetError(_no_data_message(name, f"the download from {url} failed ({exc}).")) from exc
    return read_records(cached, required, label=f"cached {name}")


def _mlearn_element(records: list[Record], element: str) -> list[Record]:
    """The single-element configurations of the mlearn set, with ``total_energy`` in eV/cell."""
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

    With ``verbose`` one line says where the records came from.

    >>> records = load_dataset("dft_3d")            # doctest: +SKIP
    >>> records[0]["jid"], records[0]["formation_energy_peratom"]  # doctest: +SKIP
    """
    _check_name(name)
    local = _offline_file(name)
    if local is not None:
        records = read_records(local, _required_keys(name), label=f"{name} ({local})")
        source = f"offline file {local}"
    else:
        records = _download_or_cache(name)
        source = f"jarvis-tools figshare (cache {cache_dir()})"
    if verbose:
        print(f"{name}: {len(records)} records from {source}")
    return records


def _download_or_cache(name: str) -> list[Record]:
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
    return _load_figshare(name)


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
