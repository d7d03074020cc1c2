"""Does each lesson's Colab cell install resolve on Colab without touching Colab's kernel, torch or numpy?

    python .ci/check_colab_install.py               # CI: one pip dry run per Colab image, every lesson's extra at once
    python .ci/check_colab_install.py --per-lesson  # one dry run per lesson and image (slower), with what it adds
    python .ci/check_colab_install.py --per-lesson --python 3.12 \
        --colab-freeze .ci/colab-freeze-py3.12.txt --download DIR
        # Colab's `pip freeze` (here the part of it the lessons touch) for that image. Its versions join the
        # constraints, as pip on Colab keeps what is installed when it satisfies the requirements; prints per lesson
        # the packages Colab lacks and the size of their wheels (downloaded into DIR; a second run reuses them)

A Colab cell runs `pip install "..[EXTRA]"`: the common dependencies of pyproject.toml plus the lesson's extra
(tools/sync.py, the one place that says so). Here pip resolves the same requirement lines for Colab's Python with
`--dry-run --python-version X --only-binary=:all:` under Colab's pins (its kernel stack, torch and numpy) as
constraints, and the check fails when the resolution fails, changes a pinned version, or pulls a Jupyter or test
package (Colab brings its own; installing ours breaks its kernel). If every extra resolves together, each lesson
alone does too (a subset of a satisfiable set). Only package metadata is fetched (PyPI).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_PINS = ["ipykernel==6.17.1", "jupyter-client==7.4.9", "tornado==6.5.1", "notebook==6.5.7"]
# Colab's images: published package lists (googlecolab/backend-info, pip-freeze*.txt). Python 3.12: the list of
# Feb 2026; Python 3.13: the current image (torch 2.11, numpy 2.1).
IMAGES = {
    "3.12": KERNEL_PINS + ["torch==2.10.0", "numpy==2.0.2"],
    "3.13": KERNEL_PINS + ["torch==2.11.0", "numpy==2.1.*"],
}
# No wheel for that Python: pip builds these from source on Colab (a C compiler is there); a dry run limited to
# wheels leaves them out, and their own dependencies are still checked through the other packages.
BUILT_FROM_SOURCE = {"3.13": {"chgnet"}}
# Pure-Python dependencies published only as source (chgnet needs nvidia-ml-py3): built into a wheel here first,
# as pip does on Colab in a second, so that the wheels-only dry run can use them.
SDIST_ONLY = ["nvidia-ml-py3"]


def load_sync():
    """tools/sync.py, loaded by path before anything is installed."""
    spec = importlib.util.spec_from_file_location("curriculum_sync", ROOT / "tools" / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_sdist_only(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(folder), *SDIST_ONLY]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def dry_run(requirements: list[str], python: str, pins: list[str], workdir: Path, wheels: Path) -> dict:
    constraints = workdir / f"colab-{python}.txt"
    constraints.write_text("\n".join(pins) + "\n")
    report = workdir / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--no-warn-conflicts"]
    cmd += ["--target", str(workdir / "target"), "--python-version", python, "--only-binary=:all:"]
    cmd += ["-c", str(constraints), "--report", str(report), "--find-links", str(wheels), *requirements]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Location")]
        raise SystemExit(f"FAIL Python {python}: pip cannot resolve {' '.join(requirements)}\n" + "\n".join(errors))
    return json.loads(report.read_text())


def check_project_builds(extras: list[str], requirements: list[str]) -> None:
    """The Colab cell installs the project itself (``..[extra]``): its metadata must build and carry every line."""
    with tempfile.TemporaryDirectory() as tmp:
        # the project installs no Python package (utils/ is found by path): pyproject.toml alone builds it,
        # in a copy, so that the build leaves nothing in the repository
        (Path(tmp) / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps", "--ignore-installed"]
        cmd += ["--report", str(report), f".[{','.join(extras)}]"]
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"FAIL: pip cannot build this project's metadata (pyproject.toml):\n{done.stderr}")
        meta = json.loads(report.read_text())["install"][0]["metadata"]
    from pip._vendor.packaging.requirements import Requirement

    def key(line: str) -> tuple[str, frozenset]:
        req = Requirement(line)
        return req.name.lower().replace("_", "-"), frozenset(str(s) for s in req.specifier)

    declared = {key(r) for r in meta.get("requires_dist", [])}
    missing = [r for r in requirements if key(r) not in declared]
    if missing:
        raise SystemExit(f"FAIL: the built project lacks {missing}")
    print(f"ok  the project builds ({meta['name']} {meta['version']}): pip install \"..[EXTRA]\" works as on Colab")


def installed(report: dict) -> dict[str, dict]:
    return {item["metadata"]["name"].lower().replace("_", "-"): item for item in report["install"]}


def check(report: dict, python: str, pins: list[str], tooling: set[str]) -> list[str]:
    """Problems: a pinned package at another version, a Jupyter or test package pulled in."""
    got = installed(report)
    problems = []
    for pin in pins:
        name, version = pin.split("==")
        if name in got and not _matches(got[name]["metadata"]["version"], version):
            problems.append(f"{name} would become {got[name]['metadata']['version']} (Colab has {version})")
    for name in sorted(tooling & set(got)):
        problems.append(f"{name} is pulled in: the Colab cell must leave Colab's Jupyter and kernel alone")
    return problems


def _matches(version: str, pinned: str) -> bool:
    version = version.split("+")[0]
    return version.startswith(pinned[:-1]) if pinned.endswith("*") else version == pinned


def read_freeze(path: Path) -> dict[str, str]:
    freeze = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            freeze[name.strip().lower().replace("_", "-")] = version.strip().split("+")[0]
    return freeze


def added(report: dict, freeze: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, version, url) of what Colab lacks or has at another version."""
    out = []
    for name, item in sorted(installed(report).items()):
        version = item["metadata"]["version"]
        if freeze.get(name) != version.split("+")[0]:
            out.append((name, version, item["download_info"]["url"]))
    return out


def wheel_bytes(urls: list[str], python: str, folder: Path) -> int:
    """Size of these wheels, downloaded once into ``folder`` (pip download, no dependencies)."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [u for u in urls if not (folder / u.rsplit("/", 1)[1].split("#")[0]).exists()]
    if missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--python-version", python]
            + ["--only-binary=:all:", "-d", str(folder), *missing],
            check=True,
        )
    return sum((folder / u.rsplit("/", 1)[1].split("#")[0]).stat().st_size for u in urls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-lesson", action="store_true", help="one dry run per lesson (and image)")
    parser.add_argument("--python", action="append", choices=sorted(IMAGES), help="only this Colab image")
    parser.add_argument("--colab-freeze", type=Path, help="Colab's pip freeze: report what each lesson adds")
    parser.add_argument("--download", type=Path, help="with --colab-freeze: download the added wheels here, sum sizes")
    args = parser.parse_args()

    sync = load_sync()
    cfg = sync.config()
    lessons = sync.lessons(cfg)
    named = {
        stem: sorted(sync.TOOLING & {sync.requirement_name(r) for r in sync.lesson_requirements(extra, cfg)})
        for stem, extra in lessons.items()
    }
    if any(named.values()):
        raise SystemExit(f"FAIL: a lesson's extra names a Jupyter or test package: {named}")
    check_project_builds(sorted(set(lessons.values())), sync.all_requirements(cfg))
    groups = {s: [e] for s, e in lessons.items()} if args.per_lesson else {"all lessons": sorted(set(lessons.values()))}
    freeze = read_freeze(args.colab_freeze) if args.colab_freeze else None
    failures = 0
    wheels_dir = tempfile.TemporaryDirectory()
    wheels = Path(wheels_dir.name)
    build_sdist_only(wheels)
    for python in args.python or sorted(IMAGES):
        pins = IMAGES[python]
        if freeze:
            names = {p.split("==")[0] for p in pins}
            pins = pins + [f"{n}=={v}" for n, v in freeze.items() if n not in names]
        for label, extras in groups.items():
            lines = [r for e in extras for r in sync.lesson_requirements(e, cfg)]
            lines = list(dict.fromkeys(lines))
            skipped = [r for r in lines if sync.requirement_name(r) in BUILT_FROM_SOURCE.get(python, set())]
            lines = [r for r in lines if r not in skipped]
            start = time.time()
            with tempfile.TemporaryDirectory() as tmp:
                report = dry_run(lines, python, pins, Path(tmp), wheels)
            problems = check(report, python, pins, sync.TOOLING)
            failures += bool(problems)
            note = f"; from source there: {', '.join(skipped)}" if skipped else ""
            print(
                f"{'FAIL' if problems else 'ok'}  Colab Python {python}, {label} [{','.join(extras)}]: "
                f"{len(report['install'])} packages resolve ({time.time() - start:.0f} s){note}"
            )
            for problem in problems:
                print(f"      {problem}")
            if freeze is not None:
                new = added(report, freeze)
                size = ""
                if args.download:
                    mb = wheel_bytes([u for _, _, u in new], python, args.download / python) / 1e6
                    size = f", {mb:.0f} MB of wheels"
                print(f"      adds {len(new)} packages{size}: " + " ".join(f"{n}=={v}" for n, v, _ in new))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
