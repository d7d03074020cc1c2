"""Descriptors of crystal structures for classical machine learning: CFID (jarvis-tools) and composition.

``kind``: ``"cfid_fast"``, the 820 CFID descriptors that need no neighbour search (ms per structure);
``"cfid_full"``, all 1557 (seconds per structure); ``"composition"``, the atomic fraction of each element H..Lr.
Features are cached (env ``AIMS_FEATURE_CACHE``) by kind, record id and structure hash; failures are skipped."""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import runtime
from .files import read_cache, write_atomically
from .runtime import REPO_ROOT, env
from .structures import atoms_from_record

Record = dict[str, Any]

KINDS = ("cfid_fast", "cfid_full", "composition")

# CFID column ranges (see the table in jarvis.ai.descriptors.cfid): group -> (start, stop).
CFID_GROUPS: dict[str, tuple[int, int]] = {
    "chem": (0, 438), "cell": (438, 442), "chg": (442, 820), "rdf": (820, 920),
    "adfa": (920, 1099), "adfb": (1099, 1278), "ddf": (1278, 1457), "nn": (1457, 1557),
}


class FeatureError(ValueError):
    """Features could not be computed or were asked for in a way that cannot work."""


@dataclass
class FeatureSet:
    """Features of the records that worked: ``X[i]`` belongs to ``jids[i]``; ``failures`` maps id -> reason."""

    X: np.ndarray
    jids: list[str]
    names: list[str]
    failures: dict[str, str]


@lru_cache(maxsize=None)
def _names(kind: str) -> tuple[str, ...]:
    if kind not in KINDS:
        raise FeatureError(f"Unknown feature kind {kind!r}; choose one of {', '.join(KINDS)}.")
    if kind == "composition":
        from ase.data import chemical_symbols
        return tuple(f"frac:{el}" for el in chemical_symbols[1:104])  # H .. Lr
    from jarvis.core.specie import get_descrp_arr_name
    chem = list(get_descrp_arr_name())
    if len(chem) != 438:
        raise FeatureError(f"jarvis-tools gave {len(chem)} chemical descriptor names, expected 438; check its version.")
    cell = ("volume_per_atom", "log_volume_per_atom", "packing_fraction", "density")
    names = [f"chem:{n}" for n in chem] + [f"cell:{n}" for n in cell] + [f"chg:{i}" for i in range(378)]
    for group in ("rdf", "adfa", "adfb", "ddf", "nn") if kind == "cfid_full" else ():
        start, stop = CFID_GROUPS[group]
        names += [f"{group}:{i}" for i in range(stop - start)]
    return tuple(names)


def feature_names(kind: str = "cfid_fast") -> list[str]:
    """Column names of feature set ``kind``, each ``"<group>:<name>"`` (groups: ``CFID_GROUPS``, ``frac``)."""
    return list(_names(kind))


def feature_groups(names: Sequence[str]) -> dict[str, list[int]]:
    """Group name -> column indices, from names of the form ``"<group>:<name>"`` (order kept)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.split(":", 1)[0], []).append(i)
    return groups


def composition_vector(elements: Iterable[str]) -> np.ndarray:
    """Atomic fraction of each element H..Lr for the list of site ``elements`` of a cell."""
    index = {name.removeprefix("frac:"): i for i, name in enumerate(_names("composition"))}
    elements = list(elements)
    if not elements:
        raise FeatureError("A structure without atoms has no composition.")
    vec = np.zeros(len(index))
    for el in elements:
        if el not in index:
            raise FeatureError(f"Unknown element {el!r} (expected a symbol from H to Lr).")
        vec[index[el]] += 1.0
    return vec / len(elements)


def structure_features(record: Record, kind: str = "cfid_fast") -> np.ndarray:
    """Feature vector of one record (no cache). Raises on a malformed structure or non-finite values."""
    names = _names(kind)
    atoms = atoms_from_record(record)
    if kind == "composition":
        vec = composition_vector(atoms.elements)
    else:
        from jarvis.ai.descriptors.cfid import CFID
        vec = np.asarray(CFID(atoms).get_comp_descp(jrdf_adf=(kind == "cfid_full")), dtype=float)
    if vec.shape != (len(names),):
        raise FeatureError(f"expected {len(names)} {kind} features, got shape {vec.shape}")
    if not np.all(np.isfinite(vec)):
        bad = [names[i] for i in np.flatnonzero(~np.isfinite(vec))[:3]]
        raise FeatureError(f"non-finite feature values (e.g. {', '.join(bad)})")
    # stored as float32 in the cache: round here too so that cached and fresh runs give equal numbers
    return vec.astype(np.float32).astype(np.float64)


def cache_root() -> Path:
    """Root of the feature cache (env ``AIMS_FEATURE_CACHE``, default ``<repo>/.cache/features``)."""
    return Path(env("AIMS_FEATURE_CACHE") or REPO_ROOT / ".cache" / "features")


def record_key(record: Record, position: int = 0) -> str:
    """Cache key of a record: its id plus a hash of its structure. Features depend on the structure alone, so the
    key needs no dataset version: a changed structure is recomputed, an unchanged one is read back."""
    jid = str(record.get("jid", f"record-{position}"))
    atoms = record.get("atoms")
    blob = json.dumps(atoms, sort_keys=True, default=str) if isinstance(atoms, dict) else repr(atoms)
    return f"{jid}|{hashlib.sha1(blob.encode()).hexdigest()[:12]}"


def _read_shard(shard: Path) -> dict[str, np.ndarray]:
    with np.load(shard, allow_pickle=False) as npz:
        return dict(zip(npz["keys"].tolist(), npz["X"]))


def _write_shard(folder: Path, keys: list[str], rows: list[np.ndarray]) -> None:
    """Save ``rows`` as one cache shard; a failed write (read-only folder, full disk) only warns."""
    if not keys:
        return
    digest = hashlib.sha1("|".join(keys).encode()).hexdigest()[:8]
    name = f"shard-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{digest}.npz"

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, keys=np.array(keys), X=np.stack(rows).astype(np.float32))

    try:
        write_atomically(folder / name, save)
    except OSError as exc:
        warnings.warn(f"Could not save {len(keys)} computed rows to the feature cache {folder} ({exc}). They are used "
                      "now and computed again next time; set AIMS_FEATURE_CACHE to a writable folder to keep them.",
                      stacklevel=4)


def _compute_missing(records, keys, todo, kind, featurizer, store, folder, progress) -> dict[str, str]:
    """Featurize ``records[i]`` for i in ``todo`` into ``store`` and cache shards; return {jid: failure}."""
    failures: dict[str, str] = {}
    new_keys, new_rows = [], []
    try:
        for i in runtime.progress(todo, desc=f"{kind} features", unit="structure", disable=not (progress and todo)):
            try:
                row = featurizer(records[i], kind)
            except Exception as exc:  # one bad structure must not stop the others
                failures[keys[i].split("|", 1)[0]] = f"{type(exc).__name__}: {exc}"
                continue
            store[keys[i]] = row
            new_keys.append(keys[i])
            new_rows.append(row)
            if len(new_keys) >= 5000:  # save progress on long runs
                _write_shard(folder, new_keys, new_rows)
                new_keys, new_rows = [], []
    finally:
        _write_shard(folder, new_keys, new_rows)
    return failures


def compute_features(records: Sequence[Record], kind: str = "cfid_fast", progress: bool = True, verbose: bool = True,
                     featurizer: Callable[[Record, str], np.ndarray] | None = None) -> FeatureSet:
    """Features of ``records`` (a failing structure is reported and skipped), read from / written to the cache (a
    damaged shard is dropped and its rows computed again). ``featurizer`` replaces ``structure_features``."""
    names = feature_names(kind)
    start = time.perf_counter()
    keys = [record_key(rec, i) for i, rec in enumerate(records)]
    folder = cache_root() / kind
    store: dict[str, np.ndarray] = {}
    for shard in sorted(folder.glob("shard-*.npz")) if folder.is_dir() else []:
        store.update(read_cache(shard, _read_shard, errors=(Exception,)) or {})
    todo = [i for i, key in enumerate(keys) if key not in store]
    failures = _compute_missing(records, keys, todo, kind, featurizer or structure_features, store, folder, progress)
    kept = [i for i, key in enumerate(keys) if key in store]
    X = np.stack([np.asarray(store[keys[i]], dtype=np.float64) for i in kept]) if kept else np.zeros((0, len(names)))
    if verbose:
        print(f"{kind}: {X.shape[0]} structures x {X.shape[1]} features ({len(records) - len(todo)} from cache, "
              f"{len(todo) - len(failures)} computed, {len(failures)} failed) in {time.perf_counter() - start:.1f} s")
        for jid, reason in list(failures.items())[:10]:
            print(f"  skipped {jid}: {reason}")
        if len(failures) > 10:
            print(f"  ... and {len(failures) - 10} more failures")
    return FeatureSet(X, [keys[i].split("|", 1)[0] for i in kept], names, failures)


@dataclass
class SplitData:
    """Feature matrix, target and ids of one part (train, val or test) of a split."""

    X: np.ndarray
    y: np.ndarray
    jids: list[str]


def featurize_split(split: Mapping[str, Sequence[Record]], prop: str, kind: str = "cfid_fast",
                    **kwargs) -> dict[str, SplitData]:
    """``{"train"|"val"|"test": SplitData}`` for a split from ``utils.split_records`` (failed structures dropped)."""
    out = {}
    for part, records in split.items():
        fs = compute_features(records, kind=kind, **kwargs)
        by_id = {str(rec.get("jid")): rec for rec in records}
        out[part] = SplitData(fs.X, np.array([float(by_id[j][prop]) for j in fs.jids]), fs.jids)
    return out


def elements_without_data(elements: Iterable[str]) -> set[str]:
    """The ``elements`` for which jarvis-tools stores most of CFID's 438 elemental properties as unknown (-9999):
    Xe, Rn, Eu, Pm, Po and the heavy radioactive ones; a material holding one gets chemical descriptors near -9999.
    Written out in notebook 02a, section 2."""
    from jarvis.core.specie import Specie
    missing = set()
    for element in set(elements):
        try:
            values = np.asarray(Specie(element).get_descrp_arr, dtype=float)
        except (KeyError, ValueError):  # an element jarvis-tools does not know at all
            missing.add(element)
            continue
        if np.mean(values == -9999) > 0.5:
            missing.add(element)
    return missing
