"""Shared fixtures: an isolated offline folder and cache for each test, and a tiny dft_3d-like record set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_record(jid: str, value: float = -1.0) -> dict:
    return {
        "jid": jid,
        "formation_energy_peratom": value,
        "optb88vdw_bandgap": "na",
        "atoms": {
            "lattice_mat": [[0.0, 2.7, 2.7], [2.7, 0.0, 2.7], [2.7, 2.7, 0.0]],
            "coords": [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]],
            "elements": ["Si", "Si"],
            "cartesian": False,
        },
    }


@pytest.fixture
def records() -> list[dict]:
    return [make_record(f"JVASP-{i}", -0.1 * i) for i in range(1, 21)]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """AIMS_DATA_DIR and AIMS_CACHE_DIR pointing at empty temporary folders."""
    offline, cache = tmp_path / "offline", tmp_path / "cache"
    offline.mkdir()
    cache.mkdir()
    monkeypatch.setenv("AIMS_DATA_DIR", str(offline))
    monkeypatch.setenv("AIMS_CACHE_DIR", str(cache))
    return offline, cache


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def write_benchmark(folder: Path, path: str, table: dict) -> Path:
    """A JARVIS-Leaderboard benchmark zip ``{"train": {id: value}, ...}`` at ``folder/jarvis_leaderboard/path``."""
    import zipfile

    target = folder / "jarvis_leaderboard" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr(target.name[: -len(".zip")], json.dumps(table))
    return target
