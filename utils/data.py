"""One loader for every dataset of the curriculum, and the JARVIS-Leaderboard splits.

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
that call only. docs/DATA.md explains all this to learners.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import numbers
import os
import random
import re
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from .runtime import REPO_ROOT, env, is_fast

REGISTRY_PATH = REPO_ROOT / "data" / "datasets.json"
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
LEADERBOARD_DIR = "jarvis_leaderboard"  # benchmark files live in <data folder>/jarvis_leaderboard/<path>
MLEARN_PREFIX = "mlearn_"
_SAMPLE_FALLBACK: ContextVar[bool] = ContextVar("sample_fallback", default=False)  # set by one load_dataset call
_SPACE = re.compile(r"[ \t\r\n]*")  # JSON white space
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")  # a number written as text
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
    return "online (jarvis-tools figshare, cached)" if folder is None else _folder_label(folder)


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
    decoder, buf, pos, eof = json.JSONDecoder(), "", 0, False

    def read_more() -> None:
        nonlocal buf, pos, eof
        piece = stream.read(chunk_size)
        eof, buf, pos = not piece, buf[pos:] + piece, 0

    def next_char() -> str:
        """The next character that is not white space ('' at the end), reading more as needed."""
        nonlocal pos
        while (pos := _SPACE.match(buf, pos).end()) == len(buf) and not eof:
            read_more()
        return buf[pos : pos + 1]

    if next_char() != "[":
        raise ValueError("the top level is not a JSON list")
    pos += 1
    if next_char() == "]":
        return
    while True:
        while True:  # one item; an item cut off at the end of the buffer is decoded again with more text
            try:
                item, end = decoder.raw_decode(buf, pos)
                if end < len(buf) or eof:
                    break
            except json.JSONDecodeError:
                if eof:
                    raise
            read_more()
        yield item
        pos = end
        separator = next_char()
        pos += 1
        if separator == "]":
            return
        if separator != ",":
            raise json.JSONDecodeError("expected ',' or ']' after a list item", buf, pos - 1)
        next_char()


def _looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return path.suffix == ".zip" or fh.read(4) == b"PK\x03\x04"


def _looks_like_html(path: Path) -> bool:
    with open(path, "rb") as fh:
        start = fh.read(512).lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))


def _open_text(path: Path, label: str) -> TextIO:
    """A text stream of a ``.json`` file or of the first data member of a zip archive (``__MACOSX/`` and
    dot-files skipped); a UTF-8 byte order mark at the start is skipped."""
    if _looks_like_zip(path):
        if not zipfile.is_zipfile(path):
            raise DatasetError(f"{label}: not a valid zip archive (truncated or damaged download?).")
        zf = zipfile.ZipFile(path)
        members = [m for m in zf.namelist() if not (m.endswith("/") or m.startswith("__MACOSX/"))]
        members = [m for m in members if not Path(m).name.startswith(".")]
        if not members:
            raise DatasetError(f"{label}: the zip archive holds no data file (only {zf.namelist()[:5]}).")
        return io.TextIOWrapper(zf.open(members[0]), encoding="utf-8-sig")
    if _looks_like_html(path):
        raise DatasetError(
            f"{label}: the server sent a web page instead of the data file (a refused or rate-limited download)."
        )
    return open(path, encoding="utf-8-sig")


@contextmanager
def _parsing(label: str):
    """Turn a damaged zip or malformed JSON met inside the block into a DatasetError naming ``label``."""
    try:
        yield
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DatasetError(f"{label}: not a valid zip archive, truncated or damaged ({exc}).") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise DatasetError(f"{label}: not valid JSON ({exc}).") from exc
    except RecursionError as exc:
        raise DatasetError(f"{label}: the JSON is nested too deeply to read; is it a list of records?") from exc


def iter_records(path: Path, required_keys: list[str], label: str | None = None) -> Iterator[Record]:
    """Validated records of a ``.json`` or ``.json.zip`` file, one at a time.

    Raises DatasetError when the zip does not open, the JSON does not parse, the top level is not a
    non-empty list of objects, or a record lacks one of ``required_keys``.
    """
    label = label or str(path)
    count = 0
    with _parsing(label), _open_text(path, label) as stream:
        for record in iter_json_list(stream):
            check_records([record], required_keys, label, offset=count)
            count += 1
            yield record
    if not count:
        raise DatasetError(f"{label}: expected a non-empty JSON list of records, found an empty list.")


def read_records(
    path: Path,
    required_keys: list[str],
    label: str | None = None,
    max_records: int | None = None,
    sample: tuple[int, int] | None = None,
) -> list[Record]:
    """Every validated record of ``path`` (see ``iter_records``), or only the first ``max_records``; with
    ``sample=(k, seed)`` a seeded uniform sample of k of them, drawn while streaming (memory for k records)."""
    records = itertools.islice(iter_records(path, required_keys, label), max_records)
    return list(records) if sample is None else sample_stream(records, *sample)


def sample_stream(items: Iterable[Any], k: int, seed: int) -> list[Any]:
    """A seeded uniform random sample of ``k`` items of a stream, in stream order (reservoir sampling: one pass,
    memory for ``k`` items); every item when there are at most ``k``."""
    rng, kept = random.Random(seed), []
    for n, item in enumerate(items):
        if n < k:
            kept.append((n, item))
        elif (slot := rng.randrange(n + 1)) < k:
            kept[slot] = (n, item)
    return [item for _, item in sorted(kept, key=lambda pair: pair[0])]


def check_records(records: list[Record], required_keys: list[str], label: str, offset: int = 0) -> None:
    """Raise DatasetError naming the first record that is not an object with every key in ``required_keys``."""
    for i, rec in enumerate(records, start=offset):
        missing = [k for k in required_keys if not isinstance(rec, dict) or k not in rec]
        if missing:
            ident = rec.get("jid", f"#{i}") if isinstance(rec, dict) else f"#{i}"
            raise DatasetError(
                f"{label}: record {ident} lacks {', '.join(missing)} (every record needs {', '.join(required_keys)})."
            )


# --- Files in a data folder (AIMS_DATA_DIR or the shipped sample) ---


def _folder_label(folder: Path) -> str:
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

RETRY_ADVICE = (
    "This is often temporary (figshare and GitHub refuse scripted downloads at times): retry later, or put "
    "the file into a folder and set AIMS_DATA_DIR to it (docs/DATA.md, section 'Working offline')."
)
_network_failed: list[str] = []  # the first network failure of this process; later downloads are not tried


def _figshare_source(figshare_name: str) -> tuple[str, str]:
    """(url, tag) of a jarvis-tools figshare dataset."""
    from jarvis.db.figshare import get_db_info

    info = get_db_info()
    if figshare_name not in info:
        raise DatasetError(f"jarvis-tools knows no figshare dataset {figshare_name!r}; update jarvis-tools.")
    url, tag = info[figshare_name][0], info[figshare_name][1]
    return url, tag


def _temporary_beside(dest: Path) -> Path:
    """A fresh temporary file in ``dest``'s folder (unique name: two writers never share it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    return Path(name)


def write_atomically(dest: Path, content: str | Callable[[Path], Any]) -> Path:
    """Write ``dest`` through a uniquely named temporary file beside it and return ``dest``: no reader sees half a
    file and two writers never share one. ``content`` is text, or a callable that writes the temporary path it is
    given (e.g. ``lambda tmp: torch.save(obj, tmp)``). If it fails, the temporary file is removed, ``dest`` kept."""
    tmp = _temporary_beside(Path(dest))
    try:
        content(tmp) if callable(content) else tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return Path(dest)


def download(url: str, dest: Path, validate: Callable[[Path], Any], label: str) -> None:
    """Fetch ``url`` into a temporary file beside ``dest``, ``validate(tmp)`` it, then rename it to ``dest``.

    A partial or invalid download never reaches ``dest``. Raises DatasetError (with advice) on any failure.
    """
    import requests
    from tqdm.auto import tqdm

    def fetch(tmp: Path) -> None:
        with open(tmp, "wb") as out, requests.get(url, stream=True, timeout=60) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {label}") as bar:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        try:
            validate(tmp)
        except DatasetError as exc:
            raise DatasetError(f"{exc} {RETRY_ADVICE}") from exc

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(dest, fetch)
    except DatasetError:
        raise
    except Exception as exc:  # network errors of any kind
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is None and not _network_failed:  # no answer at all: do not wait on the network again
            _network_failed.append(f"{type(exc).__name__}: {exc}")
        error = DatasetError(f"the download of {label} from {url} failed ({exc}). {RETRY_ADVICE}")
        error.status = status
        raise error from exc


def _no_data_message(name: str, reason: str) -> str:
    return (
        f"Could not load dataset {name!r}: {reason}\n"
        f"To work offline, put {name}.json or {name}.json.zip (a JSON list of records in jarvis-tools' "
        f"schema) into a folder and set AIMS_DATA_DIR to it; fast mode (AIMS_MODE=fast) uses the shipped sample."
    )


def _read_cache(cached: Path, read: Callable[[Path], Any]) -> Any:
    """``read(cached)``; None when the file is absent, or damaged (then reported and deleted for a re-fetch)."""
    if not cached.exists():
        return None
    try:
        return read(cached)
    except DatasetError as exc:
        warnings.warn(f"{exc} Deleting the damaged cache file {cached} and fetching it again.", stacklevel=4)
        cached.unlink(missing_ok=True)
        return None


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
    if _network_failed:
        reason = f"the network failed earlier in this session ({_network_failed[0]})."
        raise DatasetError(_no_data_message(name, reason))
    try:
        check_all = lambda p: sum(1 for _ in iter_records(p, required, f"downloaded {name}"))  # noqa: E731
        download(url, cached, check_all, label=name)
    except DatasetError as exc:
        raise DatasetError(_no_data_message(name, str(exc))) from exc
    return cached


def _read_source(
    name: str, path: Path | None, limit: int | None, required: list[str], sample: tuple[int, int] | None = None
) -> list[Record]:
    """Records of ``name`` from ``path`` (a data-folder file), or (None) from the cached download, which a
    damaged file re-fetches."""
    if path is not None:
        return read_records(path, required, label=f"{name} ({path})", max_records=limit, sample=sample)
    read = lambda cached: read_records(cached, required, f"cached {name}", limit, sample)  # noqa: E731
    records = _read_cache(_figshare_file(name), read)
    return read(_figshare_file(name)) if records is None else records  # None: fetched again just now


def _read_records_of(
    name: str, folder: Path | None, limit: int | None, sample: tuple[int, int] | None = None
) -> list[Record]:
    """``_read_source``; ``mlearn_<El>`` is a per-element file, or the single-element configurations of the
    whole mlearn set (``energy`` copied to ``total_energy`` where absent; forcefields decides its unit)."""
    path = None if folder is None else _folder_file(name, folder)
    if not name.startswith(MLEARN_PREFIX) or (path is not None and path.name.startswith(name)):
        return _read_source(name, path, limit, _required_keys(name), sample)
    element = name[len(MLEARN_PREFIX) :]  # path: None (download) or the whole mlearn set of the folder
    records = [dict(r) for r in _read_source("mlearn", path, None, _required_keys("mlearn"))]
    records = [r for r in records if set(r["atoms"]["elements"]) == {element}]
    for rec in records:
        if "total_energy" not in rec and "energy" in rec:
            rec["total_energy"] = rec["energy"]
    if not records:
        raise DatasetError(f"mlearn holds no single-element {element} configurations.")
    check_records(records, _required_keys(name), name)
    return records[:limit] if sample is None else sample_stream(records[:limit], *sample)


def dataset_path(name: str) -> Path:
    """The file dataset ``name`` is read from now (folder file or cached download; downloads if needed)."""
    folder = data_folder()
    return _figshare_file(name) if folder is None else _folder_file(name, folder)


# --- JARVIS-Leaderboard benchmark files ---


def leaderboard_url(path: str) -> str:
    """Where benchmark file ``path`` (below ``benchmarks/``) lies in the jarvis_leaderboard repository."""
    entry = registry()["leaderboard"]
    return f"{entry['raw_base']}/{entry['commit']}/jarvis_leaderboard/benchmarks/{path}"


def read_benchmark(path: Path, label: str | None = None) -> dict[str, dict[str, Any]]:
    """A leaderboard benchmark zip: ``{"train": {id: value}, "val": {...}, "test": {...}}`` (parts may be absent).

    Raises DatasetError when the zip does not open or the JSON is not such an object.
    """
    label = label or str(path)
    with _parsing(label), _open_text(path, label) as stream:
        table = json.load(stream)
    parts = set(table) if isinstance(table, dict) else set()
    if not parts or not parts <= {"train", "val", "test"} or not all(isinstance(v, dict) for v in table.values()):
        raise DatasetError(f"{label}: expected a JSON object with train/val/test tables of id -> value.")
    if not any(table.values()):
        raise DatasetError(f"{label}: every part of the benchmark is empty.")
    return table


def _installed_benchmark(path: str) -> Path | None:
    """The benchmark file inside an installed ``jarvis_leaderboard`` package, if there is one."""
    import importlib.util

    spec = importlib.util.find_spec("jarvis_leaderboard")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(list(spec.submodule_search_locations)[0]) / "benchmarks" / path
    return candidate if candidate.is_file() else None


def leaderboard_table(path: str) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Benchmark file ``path`` (below ``jarvis_leaderboard/benchmarks/``, e.g.
    ``AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip``) and where it came from.

    From the data folder (``AIMS_DATA_DIR`` or the sample) when there is one, else from an installed
    jarvis_leaderboard package, the cache, or a download at the registry's pinned commit; when the download
    fails, the sample's copy (which covers the sample's records only) with a printed note. Returns
    ``(None, reason)`` when no such file is available.
    """
    if not re.fullmatch(r"[\w./-]+\.json\.zip", path) or ".." in path:
        raise DatasetError(f"Not a leaderboard benchmark path: {path!r}.")
    folder = data_folder()
    if folder is not None:
        local = folder / LEADERBOARD_DIR / path
        if local.is_file():
            return read_benchmark(local, f"{path} ({_folder_label(folder)})"), _folder_label(folder)
        return None, f"{_folder_label(folder)} has no {LEADERBOARD_DIR}/{path}"
    installed = _installed_benchmark(path)
    if installed is not None:
        return read_benchmark(installed), "the installed jarvis_leaderboard package"
    commit = registry()["leaderboard"]["commit"]
    cached = cache_dir() / LEADERBOARD_DIR / commit[:7] / path
    origin = f"jarvis_leaderboard@{commit[:7]}"
    table = _read_cache(cached, lambda p: read_benchmark(p, f"cached {path}"))
    if table is not None:
        return table, origin
    reason = f"the network failed earlier in this session ({_network_failed[0]})" if _network_failed else ""
    if not reason:
        try:
            download(leaderboard_url(path), cached, read_benchmark, label=Path(path).name)
            return read_benchmark(cached), origin
        except DatasetError as exc:
            if getattr(exc, "status", None) == 404:
                return None, f"the leaderboard has no benchmark {path}"
            reason = str(exc)
    sample = SAMPLE_DIR / LEADERBOARD_DIR / path
    if sample.is_file():
        print(
            f"Leaderboard file {path} not available online ({reason[:200]}); using the shipped sample's copy, "
            "which covers the sample's records only."
        )
        return read_benchmark(sample), "the shipped sample's copy (download failed)"
    return None, reason


def benchmark_path(records: list[Record], prop: str) -> str | None:
    """The leaderboard benchmark that splits ``records`` for ``prop``: mlearn energies for single-element
    force-field configurations, ``dft_3d_<prop>`` otherwise; None when there can be none."""
    if not re.fullmatch(r"[\w-]+", prop):
        return None
    if prop in {"total_energy", "energy"}:
        elements = {el for rec in records for el in rec["atoms"]["elements"]}
        return f"AI/MLFF/mlearn_{elements.pop()}_energy.json.zip" if len(elements) == 1 else None
    return f"AI/SinglePropertyPrediction/dft_3d_{prop.replace('-', '_')}.json.zip"  # n-Seebeck -> dft_3d_n_Seebeck


def _split_labels(table: dict[str, dict[str, Any]], path: str) -> dict[str, str]:
    """id -> part of a benchmark table; mlearn ids ``Si-12`` also answer to the record jid ``12``."""
    labels = {}
    for part, ids in table.items():
        for key in ids:
            labels[str(key)] = part
            if path.startswith("AI/MLFF/") and "-" in str(key):
                labels[str(key).split("-", 1)[1]] = part
    return labels


# --- Built datasets: chipsff_reference ---

CHIPSFF_TABLES = ["a", "b", "c", "vol", "kv", "c11", "c44", "form_en", "surf_en", "vac_en"]
CHIPSFF_SCALARS = ["a", "b", "c", "vol", "kv", "c11", "c44", "form_en"]
CHIPSFF_EXPERIMENTS = {
    "bulk_modulus": "dft_3d_bulk_modulus",
    "cubic_a": "dft_3d_cubic_lattice_param_a",
    "bandgap": "dft_3d_bandgap",
}


def _flat(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: v for part in table.values() for k, v in part.items()}


def reference_records(
    structures: dict[str, dict[str, Any]],
    tables: dict[str, dict[str, Any]],
    experiments: dict[str, dict[str, Any]],
    jids: Iterable[str],
) -> list[Record]:
    """``chipsff_reference`` records: jid, atoms, reference (DFT) and experiment values per material.

    ``tables`` maps a CHIPS-FF property (a, b, c, vol, kv, c11, c44, form_en, surf_en, vac_en) to the
    leaderboard's {id: value}; surface ids look like ``Surface-JVASP-1002_miller_1_0_0`` and vacancy
    ids like ``JVASP-39_Al``. Materials without a structure are skipped.
    """
    records = []
    for jid in jids:
        if jid not in structures:
            continue
        ref: dict[str, Any] = {p: tables[p][jid] for p in CHIPSFF_SCALARS if jid in tables.get(p, {})}
        prefix = f"Surface-{jid}_miller_"
        ref["surf_en"] = {k[len(prefix) :]: v for k, v in tables.get("surf_en", {}).items() if k.startswith(prefix)}
        ref["vac_en"] = {k.split("_", 1)[1]: v for k, v in tables.get("vac_en", {}).items() if k.startswith(jid + "_")}
        exp = {key: t[jid] for key, t in experiments.items() if jid in t}
        records.append({"jid": jid, "atoms": structures[jid], "reference": ref, "experiment": exp})
    return records


def _file_identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _chipsff_sources() -> dict[str, str]:
    """What a chipsff_reference build reads: the dft_3d file and the leaderboard's origin (its cache key)."""
    folder = data_folder()
    entry = registry()["leaderboard"]
    return {
        "dft_3d": _file_identity(dataset_path("dft_3d")),
        "leaderboard": _folder_label(folder) if folder is not None else f"jarvis_leaderboard@{entry['commit']}",
        "tables": ",".join(CHIPSFF_TABLES) + ";" + ",".join(CHIPSFF_EXPERIMENTS.values()),
    }


def build_chipsff_reference() -> list[Record]:
    """The CHIPS-FF materials with their dft_3d structure (streamed and filtered by jid, never capped by
    ``AIMS_MAX_RECORDS``), the leaderboard's CHIPS-FF DFT references and the experimental values.

    Raises DatasetError when a reference table is missing or no material has a structure; online, also
    when fewer than 90 % of the materials have one (a truncated dft_3d).
    """
    tables = {}
    for prop in CHIPSFF_TABLES:
        path = f"AI/SinglePropertyPrediction/dft_3d_chipsff_{prop}.json.zip"
        table, origin = leaderboard_table(path)
        if table is None:
            raise DatasetError(f"chipsff_reference needs the leaderboard file {path}: {origin}.")
        tables[prop] = _flat(table)
    experiments = {}
    for key, stem in CHIPSFF_EXPERIMENTS.items():
        table, _ = leaderboard_table(f"ES/SinglePropertyPrediction/{stem}.json.zip")
        experiments[key] = _flat(table) if table is not None else {}
    jids = sorted(tables["kv"])
    wanted = set(jids)
    path = dataset_path("dft_3d")
    structures = {
        rec["jid"]: rec["atoms"] for rec in iter_records(path, _required_keys("dft_3d")) if rec["jid"] in wanted
    }
    records = reference_records(structures, tables, experiments, jids)
    where = f"dft_3d ({path})"
    if not records:
        raise DatasetError(f"None of the {len(jids)} CHIPS-FF materials has a structure in {where}.")
    if data_folder() is None and len(records) < 0.9 * len(jids):
        raise DatasetError(
            f"Only {len(records)} of the {len(jids)} CHIPS-FF materials have a structure in {where}: the file "
            f"looks truncated. Delete it from {cache_dir()} and run again."
        )
    return records


def _load_built(name: str) -> tuple[list[Record], str]:
    """chipsff_reference from the cache when its recorded sources are today's, else built and cached."""
    sources = _chipsff_sources()
    key = hashlib.sha1(json.dumps(sources, sort_keys=True).encode()).hexdigest()[:12]
    cached = cache_dir() / f"{name}-{key}.json"
    required = _required_keys(name)
    records = _read_cache(cached, lambda p: read_records(p, required, f"cached {name}"))
    if records is None:
        records = build_chipsff_reference()
        check_records(records, required, name)
        try:
            write_atomically(cached.with_suffix(".sources.json"), json.dumps(sources, indent=1))
            write_atomically(cached, json.dumps(records))
        except OSError as exc:  # a full disk must not lose the records just built
            warnings.warn(
                f"Could not save {name} to the cache {cached} ({exc}). The records are used now and built again "
                "next time; free some disk space or set AIMS_CACHE_DIR to a writable folder.",
                stacklevel=3,
            )
    return records, f"dft_3d joined with the leaderboard tables of {sources['leaderboard']} (cache {cached.name})"


# --- The one loader ---


def load_dataset(
    name: str,
    verbose: bool = True,
    fallback_to_sample: bool = False,
    max_records: int | None = None,
    seed: int = 42,
) -> list[Record]:
    """Records of dataset ``name`` (see ``known_datasets()``) from ``data_source()``.

    With ``max_records`` a seeded uniform random sample of that many records is kept, drawn while the file is
    streamed, so memory holds only those (the whole dft_3d holds several GB as Python objects).

    With ``verbose`` one line says where the records came from. Env ``AIMS_MAX_RECORDS=N`` keeps only the
    first N records, read as a stream (small machines). With ``fallback_to_sample``, a failed download is
    reported in two lines and the shipped sample is read instead, by this call only (the environment is left
    alone); without it, it raises DatasetError. Exact duplicate records are dropped with a warning, and two
    different records with one jid are a DatasetError.

    >>> records = load_dataset("dft_3d")            # doctest: +SKIP
    >>> records[0]["jid"], records[0]["formation_energy_peratom"]  # doctest: +SKIP
    """
    _check_name(name)
    limit = max_records_from_env()
    folder = data_folder()
    try:
        if "builder" in registry()["datasets"].get(name, {}):
            records, source = _load_built(name)
            limit = None
        else:
            sample = None if max_records is None else (max_records, seed)
            records = _read_records_of(name, folder, limit, sample)
            source = _folder_label(folder) if folder else f"jarvis-tools figshare (cache {cache_dir()})"
    except DatasetError as exc:
        if folder is not None or not fallback_to_sample:
            raise
        print(f"{name}: could not be loaded online ({str(exc).splitlines()[0][:300]})")
        print(f"{name}: continuing on the shipped workshop sample instead; results differ from the full dataset.")
        # this call only reads the sample, and the environment is left alone: split_records falls back to the
        # sample's split files by itself when their download fails
        token = _SAMPLE_FALLBACK.set(True)
        try:
            return load_dataset(name, verbose=verbose, max_records=max_records, seed=seed)
        finally:
            _SAMPLE_FALLBACK.reset(token)
    records = _without_duplicates(records, f"{name} from {source}")
    if verbose:
        capped = f" (capped by AIMS_MAX_RECORDS={limit})" if limit is not None and len(records) >= limit else ""
        if max_records is not None and len(records) >= max_records:
            capped += f" (a random {max_records}, seed {seed})"
        print(f"{name}: {len(records)} records from {source}{capped}")
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


class Split(dict):
    """``{"train": [...], "val": [...], "test": [...]}`` plus ``source`` (one line: which split this is) and
    ``labels`` (jid -> part of the leaderboard benchmark; empty for a random split)."""

    def __init__(self, parts: dict[str, list[Record]], source: str, labels: dict[str, str] | None = None):
        super().__init__(parts)
        self.source = source
        self.labels = labels or {}


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    ok = len(fractions) == 3 and all(isinstance(f, (int, float)) and 0 <= f <= 1 for f in fractions)
    if not ok or abs(sum(fractions) - 1) > 1e-6 or fractions[0] == 0 or fractions[2] == 0:
        raise DatasetError(
            f"fractions must be three numbers (train, val, test) between 0 and 1 that add up to 1, with train "
            f"and test above 0; found {fractions!r}. Example: (0.8, 0.1, 0.1)."
        )


def split_records(
    records: list[Record],
    prop: str,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    min_records: int = 10,
) -> Split:
    """Train/val/test split of the records that have ``prop``.

    The JARVIS-Leaderboard split of ``prop`` when its benchmark file is available (``leaderboard_table``):
    exactly the benchmark's train/val/test ids, records outside the benchmark left out. Otherwise (no such
    benchmark, or no record in it) a seeded random split with ``fractions``. ``split.source`` says which.
    Raises DatasetError when fewer than ``min_records`` records have a value or ``fractions`` is invalid.
    """
    _check_fractions(fractions)
    usable = with_property(records, prop)
    if len(usable) < min_records:
        raise DatasetError(
            f"Only {len(usable)} records have a value for {prop!r}; a train/val/test split needs at "
            f"least {min_records}. Choose another property or load more data (full mode)."
        )
    path = benchmark_path(usable, prop)
    table, origin = leaderboard_table(path) if path else (None, f"no leaderboard benchmark for {prop}")
    if table is not None:
        labels = _split_labels(table, path)
        parts: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
        for rec in usable:
            part = labels.get(str(rec["jid"]))
            if part is not None:
                parts[part].append(rec)
        if parts["train"] and parts["test"]:
            kept = sum(len(p) for p in parts.values())
            name = Path(path).name.removesuffix(".json.zip")
            source = f"JARVIS-Leaderboard split {name} ({kept} of the {len(usable)} records with a value are in it)"
            return Split(parts, source, {str(r["jid"]): p for p, recs in parts.items() for r in recs})
        origin = f"no record is in both the train and test sets of {Path(path).name}"
    order = list(range(len(usable)))
    random.Random(seed).shuffle(order)
    n_train = int(round(fractions[0] * len(order)))
    n_val = int(round(fractions[1] * len(order)))
    pick = lambda idx: [usable[i] for i in idx]  # noqa: E731
    parts = {
        "train": pick(order[:n_train]),
        "val": pick(order[n_train : n_train + n_val]),
        "test": pick(order[n_train + n_val :]),
    }
    return Split(parts, f"seeded random split {fractions} (seed {seed}): {origin}")


def to_dataframe(records: list[Record], columns: list[str] | None = None):
    """A pandas DataFrame of ``records`` with ``"na"`` turned into NaN (``atoms`` left out unless asked)."""
    import numpy as np
    import pandas as pd

    if not records and columns is None:
        raise DatasetError("No records given: nothing to put in a table. Load a dataset first (utils.load_dataset).")
    columns = columns or [k for k in records[0] if k != "atoms" and not k.startswith("_")]
    rows = [{c: (np.nan if is_missing(rec.get(c)) else rec.get(c)) for c in columns} for rec in records]
    return pd.DataFrame(rows, columns=columns)
