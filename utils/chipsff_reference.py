"""The built dataset ``chipsff_reference``: the CHIPS-FF materials with their dft_3d structure, the leaderboard's
CHIPS-FF DFT values and the experimental ones, joined once and cached (rebuilt when a source changes)."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable
from typing import Any

from . import data, files, leaderboard
from .files import DatasetError, Record

CHIPSFF_TABLES = ["a", "b", "c", "vol", "kv", "c11", "c44", "form_en", "surf_en", "vac_en"]
CHIPSFF_SCALARS = ["a", "b", "c", "vol", "kv", "c11", "c44", "form_en"]
CHIPSFF_EXPERIMENTS = {"bulk_modulus": "dft_3d_bulk_modulus", "cubic_a": "dft_3d_cubic_lattice_param_a",
                       "bandgap": "dft_3d_bandgap"}  # fmt: skip


def _flat(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: v for part in table.values() for k, v in part.items()}


def reference_records(structures: dict[str, Any], tables: dict[str, dict], experiments: dict[str, dict],
                      jids: Iterable[str]) -> list[Record]:  # fmt: skip
    """``chipsff_reference`` records: jid, atoms, reference (DFT) and experiment values per material, from ``tables``
    (a ``CHIPSFF_TABLES`` property -> the leaderboard's {id: value}; surface ids look like
    ``Surface-JVASP-1002_miller_1_0_0``, vacancy ids like ``JVASP-39_Al``). Materials without a structure are skipped.
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


def _build_chipsff_reference() -> list[Record]:
    """The CHIPS-FF materials with their dft_3d structure (streamed and filtered by jid, never capped by
    ``AIMS_MAX_RECORDS``), DFT references and experimental values. DatasetError when a reference table is missing
    or no material has a structure; online, also when fewer than 90 % have one (a truncated dft_3d)."""
    tables = {}
    for prop in CHIPSFF_TABLES:
        path = f"AI/SinglePropertyPrediction/dft_3d_chipsff_{prop}.json.zip"
        table, origin = leaderboard.benchmark_table(path)
        if table is None:
            raise DatasetError(f"chipsff_reference needs the leaderboard file {path}: {origin}.")
        tables[prop] = _flat(table)
    experiments = {
        key: _flat(leaderboard.benchmark_table(f"ES/SinglePropertyPrediction/{stem}.json.zip")[0] or {})
        for key, stem in CHIPSFF_EXPERIMENTS.items()
    }
    jids, path = sorted(tables["kv"]), data.dataset_path("dft_3d")
    chipsff = files.read_records(path, data.required_keys("dft_3d"), where=lambda rec: rec["jid"] in tables["kv"])
    records = reference_records({rec["jid"]: rec["atoms"] for rec in chipsff}, tables, experiments, jids)
    if not records:
        raise DatasetError(f"None of the {len(jids)} CHIPS-FF materials has a structure in dft_3d ({path}).")
    if data.data_folder() is None and len(records) < 0.9 * len(jids):
        raise DatasetError(f"Only {len(records)} of the {len(jids)} CHIPS-FF materials have a structure in dft_3d "
                           f"({path}): the file looks truncated. Delete it from {data.cache_dir()} and run again.")
    return records


def cached_records(name: str) -> tuple[list[Record], str]:
    """chipsff_reference from the cache when its recorded sources are today's, else built and cached."""
    folder, dft_3d = data.data_folder(), data.dataset_path("dft_3d")
    commit = data.registry()["leaderboard"]["commit"]
    sources = {  # what a build reads: the cache key
        "dft_3d": f"{dft_3d.resolve()}:{dft_3d.stat().st_size}:{dft_3d.stat().st_mtime_ns}",
        "leaderboard": data.folder_label(folder) if folder is not None else f"jarvis_leaderboard@{commit}",
        "tables": ",".join(CHIPSFF_TABLES) + ";" + ",".join(CHIPSFF_EXPERIMENTS.values()),
    }
    key = hashlib.sha1(json.dumps(sources, sort_keys=True).encode()).hexdigest()[:12]
    cached = data.cache_dir() / f"{name}-{key}.json"
    required = data.required_keys(name)
    records = files.read_cache(cached, lambda p: files.read_records(p, required, f"cached {name}"))
    if records is None:
        records = _build_chipsff_reference()
        files.check_records(records, required, name)
        try:
            files.write_atomically(cached.with_suffix(".sources.json"), json.dumps(sources, indent=1))
            files.write_atomically(cached, json.dumps(records))
        except OSError as exc:  # a full disk must not lose the records just built
            warnings.warn(
                f"Could not save {name} to the cache {cached} ({exc}). The records are used now and built again "
                "next time; free some disk space or set AIMS_CACHE_DIR to a writable folder.",
                stacklevel=3,
            )
    return records, f"dft_3d joined with the leaderboard tables of {sources['leaderboard']} (cache {cached.name})"
