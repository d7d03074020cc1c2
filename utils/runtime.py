"""Run mode (fast/full), device choice, seeding and versions: the things every notebook sets up."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent


def is_fast() -> bool:
    """True when env ``AIMS_FAST`` is set to 1 (CI, quick checks); False for the full workshop size."""
    return os.environ.get("AIMS_FAST", "0").strip().lower() in {"1", "true", "yes"}


def pick(fast: T, full: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise: the one place sizes depend on the mode."""
    return fast if is_fast() else full


def get_device(verbose: bool = True) -> str:
    """``"cuda"`` when a CUDA GPU is visible to torch, else ``"cpu"`` (with a printed note)."""
    try:
        import torch

        if torch.cuda.is_available():
            if verbose:
                print(f"Device: cuda ({torch.cuda.get_device_name(0)})")
            return "cuda"
    except ImportError:
        pass
    if verbose:
        print("Device: cpu (no CUDA GPU found; training runs on the CPU, fine in fast mode, slow in full mode)")
    return "cpu"


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy and (if installed) torch so that a re-run prints the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:
        pass


def outputs_dir(*parts: str) -> Path:
    """A folder under the gitignored ``outputs/`` (or ``AIMS_OUTPUT_DIR``), created if needed."""
    base = Path(os.environ.get("AIMS_OUTPUT_DIR", REPO_ROOT / "outputs"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_versions(names: list[str]) -> dict[str, str]:
    """Installed versions of ``names`` ("not installed" where missing)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def setup(packages: list[str] | None = None, seed: int = 42) -> str:
    """Seed everything, print mode, device and versions; return the device string."""
    seed_everything(seed)
    mode = "FAST (AIMS_FAST=1: small data, few epochs)" if is_fast() else "FULL (workshop size)"
    print(f"Mode: {mode}")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}")
    names = ["numpy", "jarvis-tools"] + list(packages or [])
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in package_versions(names).items()))
    return get_device()
