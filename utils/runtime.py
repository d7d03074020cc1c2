"""Run mode, device and precision, seeds, threads and output folders: what every notebook sets up.

Modes (env ``AIMS_MODE``): ``workshop`` (the default: meaningful results on 2 CPU cores), ``fast`` (seconds per
lesson, what the tests run; ``AIMS_FAST=1`` too) and ``full`` (paper scale, a GPU recommended)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import random
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
MODES = ("fast", "workshop", "full")
DEFAULT_MODE = "workshop"
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class ModeError(ValueError):
    """An environment setting of the curriculum has a value it does not accept; the message lists the valid ones."""


def env(name: str) -> str | None:
    """The value of environment variable ``name``, stripped; None when it is unset or empty."""
    return os.environ.get(name, "").strip() or None


def _requested_mode() -> str | None:
    """The mode the environment asks for (``AIMS_MODE``, or ``AIMS_FAST=1`` for fast), None when it asks none."""
    asked, fast = env("AIMS_MODE"), env("AIMS_FAST") or "0"
    if fast.lower() not in TRUE_WORDS | FALSE_WORDS:
        raise ModeError(f"AIMS_FAST={fast!r} is neither on ({', '.join(sorted(TRUE_WORDS))}) nor off "
                        f"({', '.join(sorted(FALSE_WORDS))}). Set it to one of these, or unset it.")
    if asked is not None and asked.lower() not in MODES:
        raise ModeError(f"AIMS_MODE={asked!r} is not a mode. Valid modes: {', '.join(MODES)} "
                        f"(default {DEFAULT_MODE}); e.g. %env AIMS_MODE=fast before the setup cell.")
    if fast.lower() in TRUE_WORDS:
        if asked is not None and asked.lower() != "fast":
            raise ModeError(f"AIMS_FAST=1 asks for fast mode but AIMS_MODE={asked.lower()}: unset one of them.")
        return "fast"
    return asked.lower() if asked else None


@dataclass(frozen=True)
class Precision:
    """How tensors are computed: ``fp32``, or mixed precision (``bf16``/``fp16`` autocast, fp32 weights)."""
    name: str
    reason: str

    @property
    def dtype(self):
        """The autocast dtype (torch.bfloat16 or torch.float16), None for fp32."""
        import torch
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    @property
    def needs_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling (``torch.amp.GradScaler``); bf16 and fp32 need none."""
        return self.name == "fp16"

    def autocast(self, device: str):
        """A context in which the forward pass runs in this precision (no-op for fp32)."""
        import torch
        return nullcontext() if self.name == "fp32" else torch.autocast(str(device).split(":")[0], self.dtype)


def precision_for(device: str) -> Precision:
    """The one precision rule: bf16 autocast on GPUs of compute capability 8.0 or newer (A100, L4, H100),
    fp16 autocast with a gradient scaler on 7.x (T4, V100: bf16 there is only emulated, slower than fp32),
    fp32 on older GPUs and on the CPU."""
    if not str(device).startswith("cuda"):
        return Precision("fp32", "CPU")
    import torch
    major, minor = torch.cuda.get_device_capability(device)
    gpu = f"{torch.cuda.get_device_name(device)}, compute capability {major}.{minor}"
    if major >= 8:
        return Precision("bf16", f"{gpu}: bf16 tensor cores")
    if major == 7:
        return Precision("fp16", f"{gpu}: fp16 tensor cores, no bf16")
    return Precision("fp32", f"{gpu}: no fast half precision")


@dataclass
class Session:
    """What ``setup`` decided for the running lesson."""
    lesson: str
    mode: str
    device: str
    precision: Precision
    started: float

    @property
    def seconds(self) -> float:
        return time.time() - self.started


_session: Session | None = None


def session() -> Session | None:
    """The running lesson's session (None before ``setup``)."""
    return _session


def mode() -> str:
    """The run mode: what the environment asks for, else what ``setup`` chose, else workshop."""
    return _requested_mode() or (_session.mode if _session is not None else DEFAULT_MODE)


def by_mode(*, fast: T, workshop: T, full: T) -> T:
    """The value for the current mode: the one place sizes depend on it (the notebooks' parameters cells)."""
    return {"fast": fast, "workshop": workshop, "full": full}[mode()]


@lru_cache(maxsize=1)
def workshop_benchmark() -> dict[str, Any]:
    """The measured workshop runs (``docs/workshop_benchmark.json``, written by ``make workshop-bench``): machine,
    date and, per lesson, seconds, peak memory (GB) and results; empty when not measured yet."""
    try:
        return json.loads((REPO_ROOT / "docs" / "workshop_benchmark.json").read_text())
    except (OSError, ValueError):
        return {}


def memory_limit_gb() -> float | None:
    """The memory this process may use: env ``AIMS_MEMORY_LIMIT_GB`` (Binder's start script sets 2), else the
    container's cgroup limit, else None (no limit known)."""
    value = env("AIMS_MEMORY_LIMIT_GB")
    if value is not None:
        try:
            return float(value)
        except ValueError:
            raise ModeError(f"AIMS_MEMORY_LIMIT_GB={value!r} is not a number of GB (e.g. 2).") from None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = int(Path(path).read_text().strip())
        except (OSError, ValueError):  # absent, or "max" (no limit)
            continue
        if limit < 1 << 40:
            return limit / 1e9
    return None


def default_mode(lesson: str) -> tuple[str, str]:
    """(mode, reason) when the environment asks for none: workshop, or fast where the lesson's measured
    workshop peak memory does not fit the memory limit (Binder's 2 GB)."""
    limit = memory_limit_gb()
    peak = workshop_benchmark().get("lessons", {}).get(lesson, {}).get("peak_gb")
    if limit is not None and peak is not None and peak > limit:
        return "fast", (f"the default here: workshop mode needs about {peak:.1f} GB, this machine allows "
                        f"{limit:.1f} GB")
    return DEFAULT_MODE, "the default"


def _torch() -> Any:
    """torch, or None where this lesson's extra does not install it."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def get_device() -> str:
    """``"cuda"`` when a CUDA GPU is visible to torch, else ``"cpu"``."""
    torch = _torch()
    return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"


def cpu_threads() -> int:
    """CPU cores this process may use (its affinity mask), never more than the threads torch uses by default."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        available = os.cpu_count() or 1
    torch = _torch()
    return max(1, min(available, torch.get_num_threads()) if torch is not None else available)


def progress(iterable: Any = None, **kwargs: Any) -> Any:
    """tqdm's progress bar: the notebook widget where ipywidgets is installed, else the text bar (no warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy and (if installed) torch, on every device, so that a re-run prints the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch = _torch()
    if torch is not None:
        torch.manual_seed(seed)  # seeds the GPUs too


def outputs_dir(*parts: str) -> Path:
    """A folder under the gitignored ``outputs/`` (or ``AIMS_OUTPUT_DIR``), created if needed."""
    base = Path(env("AIMS_OUTPUT_DIR") or REPO_ROOT / "outputs").expanduser()
    (path := base.joinpath(*parts)).mkdir(parents=True, exist_ok=True)
    return path


def setup(lesson: str, packages: list[str] | None = None) -> str:
    """Start lesson ``lesson`` (its notebook's name, e.g. ``"02a_classical_regression"``): choose the mode, seed,
    print mode, device, precision and versions, start its results card's clock; return ``"cuda"`` or ``"cpu"``."""
    global _session
    if not isinstance(lesson, str) or not lesson:
        raise TypeError(f"setup needs the lesson's notebook name first, e.g. utils.setup('01a_jarvis_dft'); "
                        f"found {lesson!r}.")
    asked = _requested_mode()
    chosen, reason = (asked, "set by AIMS_MODE/AIMS_FAST") if asked else default_mode(lesson)
    device = get_device()
    _session = Session(lesson, chosen, device, precision := precision_for(device), time.time())
    seed_everything()
    others = " or ".join(m for m in MODES if m != chosen)
    print(f"Mode: {chosen} ({reason}; for another, run %env AIMS_MODE={others} before this cell)")
    print(f"Device: cuda; where a part trains on it, mixed precision {precision.name} ({precision.reason})"
          if device == "cuda" else f"Device: cpu ({cpu_threads()} threads); precision fp32")
    versions = []
    for name in ["numpy", "jarvis-tools", *(packages or [])]:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}; {', '.join(versions)}")
    return device
