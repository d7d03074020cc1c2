"""Run lessons in workshop mode and record what a learner would see: wall time, peak memory and results.

    python tools/workshop_bench.py                       # every notebook, one after the other
    python tools/workshop_bench.py 02a 04b               # the notebooks whose names start so
    python tools/workshop_bench.py --mode fast 01a       # another mode (not written to the benchmark file)

Each notebook runs top to bottom with papermill in a fresh kernel (``AIMS_MODE=workshop``, offline model hubs,
outputs in a temporary folder). Peak memory is the largest sum of the resident memory of papermill and its kernel
(every process of the run), sampled every 0.2 s; CPU time is the user and system time of those processes (a
machine shared with other work stretches the wall time, much less the CPU time). The results come from the lesson's card
(``<outputs>/<lesson>/results.json``). Workshop runs are merged into ``docs/workshop_benchmark.json`` with the
machine and date; ``python tools/sync.py`` then writes them into README's table and each notebook's mode line.
This is a measurement, not a test: CI runs fast mode only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import sync  # noqa: E402

BENCHMARK = sync.BENCHMARK


def machine() -> str:
    """One line naming this machine: cores this process may use, CPU model, memory, GPU."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = psutil.virtual_memory().total / 2**30
    return f"{cores} CPU cores of a {cpu}, {memory:.0f} GiB, {'a GPU' if _has_cuda() else 'no GPU'}"


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _sample_tree(process: psutil.Process, cpu: dict[int, float]) -> int:
    """The resident memory of the whole tree now; records each process's CPU seconds so far in ``cpu``."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
            times = proc.cpu_times()
            cpu[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
    return total


def run_one(path: Path, mode: str, work: Path, timeout: int) -> dict:
    """Run one notebook; return seconds, peak GB, the card's metrics and whether it finished."""
    outputs = work / "outputs"
    env = {**os.environ, "AIMS_MODE": mode, "AIMS_OUTPUT_DIR": str(outputs), "MPLBACKEND": "Agg",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("AIMS_FAST", None)
    command = [sys.executable, "-m", "papermill", "--no-progress-bar", "-k", "python3", "--cwd",
               str(ROOT / "notebooks"), str(path), str(work / path.name)]
    peak, cpu, start = 0, {}, time.perf_counter()
    with open(work / f"{path.stem}.log", "w") as log:
        process = psutil.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _sample_tree(process, cpu))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            code = process.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            for child in process.children(recursive=True):
                child.kill()
            process.kill()
            code = "timeout"
        done.set()
        sampler.join()
    seconds = time.perf_counter() - start
    card_file = outputs / path.stem / "results.json"
    card = json.loads(card_file.read_text()) if card_file.exists() else {}
    return {"seconds": round(seconds, 1), "cpu_seconds": round(sum(cpu.values()), 1),
            "peak_gb": round(peak / 1e9, 2), "ok": code == 0,
            "metrics": card.get("metrics", {}), "log": str(work / f"{path.stem}.log")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes (default: every notebook)")
    parser.add_argument("--mode", default="workshop", choices=["fast", "workshop", "full"])
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed to one notebook")
    parser.add_argument("--no-write", action="store_true", help="print only; leave the benchmark file alone")
    args = parser.parse_args()
    notebooks = [p for p in sync.notebook_paths() if not args.prefixes or p.name.startswith(tuple(args.prefixes))]
    if not notebooks:
        print(f"No notebook starts with {args.prefixes}", file=sys.stderr)
        return 1
    bench = json.loads(BENCHMARK.read_text()) if BENCHMARK.exists() else {"lessons": {}}
    work = Path(tempfile.mkdtemp(prefix=f"bench-{args.mode}-"))
    print(f"{args.mode} mode on {machine()}; logs and executed notebooks in {work}")
    print("| notebook | finished | wall time | CPU time | peak memory | results |\n|---|---|---|---|---|---|")
    failed = False
    for path in notebooks:
        run = run_one(path, args.mode, work, args.timeout)
        failed |= not run["ok"]
        metrics = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in run["metrics"].items())
        print(f"| {path.stem} | {'yes' if run['ok'] else 'NO: ' + run['log']} | {run['seconds'] / 60:.1f} min "
              f"| {run['cpu_seconds'] / 60:.1f} min | {run['peak_gb']:.2f} GB | {metrics} |", flush=True)
        if args.mode == "workshop" and run["ok"] and not args.no_write:
            entry = {k: run[k] for k in ("seconds", "cpu_seconds", "peak_gb", "metrics")}
            bench["lessons"][path.stem] = {**entry, "machine": machine(), "date": datetime.date.today().isoformat()}
            bench.update(machine=machine(), date=datetime.date.today().isoformat())
            BENCHMARK.write_text(json.dumps(bench, indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
