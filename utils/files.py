"""Reading and writing data files: JSON lists streamed record by record, zip and web-page sniffing, validated
downloads, atomic writes, damaged-cache reading and the one network probe. Knows nothing of datasets (that is
``utils.data``)."""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import re
import socket
import tempfile
import threading
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

from . import runtime

_SPACE = re.compile(r"[ \t\r\n]*")  # JSON white space
Record = dict[str, Any]


class DatasetError(RuntimeError):
    """A dataset could not be found, downloaded or validated; the message says what to do."""


def iter_json_list(stream: TextIO, chunk_size: int = 1 << 20) -> Iterator[Any]:
    """Yield the items of a JSON list read from ``stream`` one at a time, in memory for one item plus ``chunk_size``
    (the full dft_3d fits a small machine). Raises ``json.JSONDecodeError`` (or ValueError) for malformed JSON."""
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


def looks_like_html(path: Path) -> bool:
    with open(path, "rb") as fh:
        start = fh.read(512).lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))


def open_text(path: Path, label: str) -> TextIO:
    """A text stream of a ``.json`` file or of the first data member of a zip archive (``__MACOSX/`` and
    dot-files skipped); a UTF-8 byte order mark at the start is skipped."""
    with open(path, "rb") as fh:
        zipped = path.suffix == ".zip" or fh.read(4) == b"PK\x03\x04"
    if zipped:  # a damaged archive raises zipfile.BadZipFile, which ``reading`` names
        zf = zipfile.ZipFile(path)
        members = [m for m in zf.namelist() if not (m.endswith("/") or m.startswith("__MACOSX/"))]
        members = [m for m in members if not Path(m).name.startswith(".")]
        if not members:
            raise DatasetError(f"{label}: the zip archive holds no data file (only {zf.namelist()[:5]}).")
        return io.TextIOWrapper(zf.open(members[0]), encoding="utf-8-sig")
    if looks_like_html(path):
        raise DatasetError(f"{label}: the server sent a web page instead of the data file "
                           "(a refused or rate-limited download).")
    return open(path, encoding="utf-8-sig")


@contextmanager
def reading(label: str):
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
    """Validated records of a ``.json`` or ``.json.zip`` file, one at a time. Raises DatasetError when the zip does
    not open, the JSON does not parse, the top level is not a non-empty list of objects, or a record lacks a key."""
    label, count = label or str(path), 0
    with reading(label), open_text(path, label) as stream:
        for record in iter_json_list(stream):
            check_records([record], required_keys, label, offset=count)
            count += 1
            yield record
    if not count:
        raise DatasetError(f"{label}: expected a non-empty JSON list of records, found an empty list.")


def read_records(path: Path, required_keys: list[str], label: str | None = None, max_records: int | None = None,
                 sample: tuple[int, int] | None = None, where: Callable[[Record], bool] | None = None) -> list[Record]:
    """The validated records of ``path`` (``iter_records``) for which ``where(record)`` holds, the first ``max_records``
    of them, or a seeded uniform sample ``sample=(k, seed)``; streamed: memory holds only the records kept."""
    records = iter_records(path, required_keys, label)
    records = itertools.islice(records if where is None else filter(where, records), max_records)
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
            raise DatasetError(f"{label}: record {ident} lacks {', '.join(missing)} "
                               f"(every record needs {', '.join(required_keys)}).")


_RETRY_ADVICE = ("This is often temporary (figshare and GitHub refuse scripted downloads at times): retry later, "
                 "or put the file into a folder and set AIMS_DATA_DIR to it (docs/DATA.md, section 'Working offline').")
_network_failed: list[str] = []  # the first network failure of this process; later downloads are not tried


def network_failure() -> str | None:
    """The first failure of this process to reach a download server (later downloads are not tried), or None."""
    return _network_failed[0] if _network_failed else None


def write_atomically(dest: Path, content: str | Callable[[Path], Any]) -> Path:
    """Write ``dest`` through a uniquely named temporary file beside it and return ``dest``: no reader sees half a
    file and two writers never share one. ``content`` is text, or a callable that writes the temporary path it is
    given (e.g. ``lambda tmp: torch.save(obj, tmp)``). If it fails, the temporary file is removed, ``dest`` kept."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        content(tmp) if callable(content) else tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download(url: str, dest: Path, validate: Callable[[Path], Any], label: str) -> None:
    """Fetch ``url`` into a temporary file beside ``dest``, ``validate(tmp)`` it, then rename it to ``dest``: a
    partial or invalid download never reaches ``dest``. Raises DatasetError (with advice) on any failure."""
    import requests
    def fetch(tmp: Path) -> None:
        with open(tmp, "wb") as out, requests.get(url, stream=True, timeout=60) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            with runtime.progress(total=total, unit="B", unit_scale=True, desc=f"Downloading {label}") as bar:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        try:
            validate(tmp)
        except DatasetError as exc:
            raise DatasetError(f"{exc} {_RETRY_ADVICE}") from exc

    try:
        write_atomically(dest, fetch)
    except DatasetError:
        raise
    except Exception as exc:  # network errors of any kind
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is None and not _network_failed:  # no answer at all: do not wait on the network again
            _network_failed.append(f"{type(exc).__name__}: {exc}")
        error = DatasetError(f"the download of {label} from {url} failed ({exc}). {_RETRY_ADVICE}")
        error.status = status
        raise error from exc


def read_cache(cached: Path, read: Callable[[Path], Any], errors: tuple[type[BaseException], ...] = (DatasetError,)):
    """``read(cached)``; None when the file is absent, or damaged (``read`` raised one of ``errors``: a warning
    names the file, which is deleted and made again). The one policy of every cache in the project."""
    if not cached.exists():
        return None
    try:
        return read(cached)
    except errors as exc:
        warnings.warn(f"{exc} The cache file {cached} is damaged: deleting it; it is made again.", stacklevel=3)
        cached.unlink(missing_ok=True)
        return None


def reachable(url: str, timeout: float = 3.0, offline_vars: tuple[str, ...] = ()) -> tuple[bool, str]:
    """Whether the host of ``url`` accepts a TCP connection within ``timeout`` seconds, and why (not); at once False
    when one of ``offline_vars`` is set. DNS lookup included, it runs in a daemon thread: it never hangs the caller."""
    for var in offline_vars:
        if os.environ.get(var, "").strip().lower() in runtime.TRUE_WORDS:
            return False, f"{var}=1 is set"
    parsed = urlparse(url)
    host, port = parsed.hostname or url, parsed.port or (80 if parsed.scheme == "http" else 443)
    result: dict[str, object] = {}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if result.get("ok"):
        return True, f"{host}:{port} answered in {time.monotonic() - start:.1f} s"
    if "error" in result:
        return False, f"{host}:{port} unreachable ({type(result['error']).__name__}: {result['error']})"
    return False, f"no answer from {host}:{port} within {timeout:.0f} s"
