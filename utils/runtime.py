"""Run mode (fast/full), device choice, seeding and versions: the things every notebook sets up."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import socket
import threading
import time
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

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


def setup(packages: list[str] | None = None, seed: int = 42) -> str:
    """Seed everything, print mode, device and versions; return the device string."""
    seed_everything(seed)
    mode = "FAST (AIMS_FAST=1: small data, few epochs)" if is_fast() else "FULL (workshop size)"
    print(f"Mode: {mode}")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}")
    versions = []
    for name in ["numpy", "jarvis-tools", *(packages or [])]:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    print("Versions: " + ", ".join(versions))
    return get_device()


def reachable(url: str, timeout: float = 3.0, offline_vars: tuple[str, ...] = ()) -> tuple[bool, str]:
    """Whether the host of ``url`` accepts a TCP connection within ``timeout`` seconds, and why (not).

    The one network probe of the project. Returns at once when one of ``offline_vars`` (e.g. ``HF_HUB_OFFLINE``)
    is set. The probe, DNS lookup included, runs in a daemon thread: a stuck resolver never hangs the caller.
    """
    for var in offline_vars:
        if os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}:
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
