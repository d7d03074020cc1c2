"""The install files agree: pyproject.toml (lessons' dependencies, GitHub home) -> requirements.txt, badges and
Colab cells (tools/sync.py); Jupyter and test tools apart from the runtime; Makefile, Binder, conda and the pins."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tools import sync

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sync.notebook_paths()


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-"))]


def test_generated_files_are_in_sync():
    stale = [str(p.relative_to(ROOT)) for p in sync.out_of_date()]
    assert not stale, f"out of date with pyproject.toml: {stale}; run python tools/sync.py"


def test_every_notebook_has_a_lesson_extra():
    cfg = sync.config()
    assert set(sync.lessons(cfg)) == {p.stem for p in NOTEBOOKS}
    assert set(sync.lessons(cfg).values()) <= set(cfg["project"]["optional-dependencies"])


def test_runtime_apart_from_tooling():
    runtime = {sync.requirement_name(r) for r in requirement_lines("requirements.txt")}
    tools = {sync.requirement_name(r) for r in requirement_lines("requirements-dev.txt")}
    assert not runtime & sync.TOOLING, "requirements.txt holds what the notebooks import, no Jupyter or test tool"
    assert {"jupyterlab", "ipykernel", "pytest", "nbval", "papermill"} <= tools
    assert "-r requirements.txt -r requirements-dev.txt" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_cell_installs_only_its_lesson(path):
    extra = sync.lessons()[path.stem]
    cell = sync.colab_cell(path.stem)
    assert re.findall(r"^\s*!pip .*$", cell, re.M) == [f'    !pip install -q "..[{extra}]"']
    names = {sync.requirement_name(r) for r in sync.lesson_requirements(extra)}
    assert not names & sync.TOOLING, f"{path.name}'s extra pulls Jupyter or test tools: {names & sync.TOOLING}"


def test_python_versions_agree():
    cfg = sync.config()
    assert cfg["project"]["requires-python"] == ">=3.10,<3.14"
    makefile = (ROOT / "Makefile").read_text()
    assert "(3, 10) <= v <= (3, 13)" in makefile, "make checks the Python version with a clear message"


def make_dry_run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH", "CONSTRAINTS", "MAKEFLAGS")}  # CI sets TORCH
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "setup", "VENV=/nonexistent/venv", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_passes_torch_as_separate_words():
    out = make_dry_run("TORCH=torch --index-url https://download.pytorch.org/whl/cu128")
    assert "pip install torch --index-url https://download.pytorch.org/whl/cu128\n" in out
    default = make_dry_run()
    has_gpu = subprocess.run("nvidia-smi -L", shell=True, capture_output=True).returncode == 0
    if not has_gpu:
        assert "--index-url https://download.pytorch.org/whl/cpu" in default, "no NVIDIA GPU: the CPU build of torch"


def test_constraints_from_a_passing_run_cover_the_requirements():
    text = (ROOT / "constraints.txt").read_text()
    header = text.splitlines()[0]
    assert re.search(r"passing run: make test on \d{4}-\d{2}-\d{2}, Python 3\.11", header), header
    pins = {}
    for line in text.splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[sync.requirement_name(name)] = version
    assert "torch" not in pins, "torch is the machine's choice (TORCH), not pinned"
    for line in requirement_lines("requirements.txt") + requirement_lines("requirements-dev.txt"):
        req = Requirement(line)
        name = sync.requirement_name(req.name)
        if name == "torch":
            continue
        assert name in pins, f"constraints.txt lacks {name}: regenerate with make constraints"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {req.specifier}"
    torch_version = re.search(r"^TORCH_VERSION \?= (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"torch {torch_version}" in text.splitlines()[1], "constraints.txt's run used the Makefile's torch"
    assert f"torch=={torch_version}" in (ROOT / ".binder" / "requirements.txt").read_text()


def test_binder_conda_and_make_use_the_pins():
    assert "-c ../constraints.txt" in (ROOT / ".binder" / "requirements.txt").read_text()
    assert "-c constraints.txt" in (ROOT / "environment.yml").read_text()
    assert "CONSTRAINTS ?=" in (ROOT / "Makefile").read_text()
    assert (ROOT / ".binder" / "runtime.txt").read_text().strip() == "python-3.11"


def test_binder_sets_its_memory_limit_and_readme_links_it():
    start = (ROOT / ".binder" / "start").read_text()
    assert "export AIMS_MEMORY_LIMIT_GB=${AIMS_MEMORY_LIMIT_GB:-2}" in start and "AIMS_FAST" not in start
    readme = (ROOT / "README.md").read_text()
    assert sync.binder_badge() in readme
    assert "Windows" in readme


def test_a_fork_changes_one_line():
    cfg = sync.config()
    cfg["project"]["urls"]["Repository"] = "https://github.com/teacher/fork"
    cfg["tool"]["curriculum"]["branch"] = "spring"
    stem = NOTEBOOKS[0].stem
    cell = sync.colab_cell(stem, cfg)
    assert 'home() / "fork-spring"' in cell and '"https://github.com/teacher/fork"' in cell
    assert '"/archive/refs/heads/spring.zip"' in cell
    readme = sync.synced_readme((ROOT / "README.md").read_text(), cfg)
    assert "github.com/jarvis-ai-curriculum" not in readme and "mybinder.org/v2/gh/jarvis-ai-curriculum" not in readme
    assert sync.colab_url(stem, cfg) in readme and sync.binder_badge(None, cfg) in readme
    notebook = sync.synced_notebook(NOTEBOOKS[0].read_text(), stem, cfg)
    assert sync.binder_url(stem, cfg) in notebook and "jarvis-ai-curriculum/jarvis-ai-curriculum" not in notebook
    citation = sync.synced_citation((ROOT / "CITATION.cff").read_text(), cfg)
    assert 'repository-code: "https://github.com/teacher/fork"' in citation


def test_pins_install_on_the_makefiles_python_floor():
    """Every pinned package installed here admits PINS_PYTHON, the oldest Python the Makefile uses the pins with."""
    import importlib.metadata

    from packaging.specifiers import SpecifierSet

    floor = re.search(r"^PINS_PYTHON := (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    pins = [line.split("==")[0] for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line]
    too_new = []
    for name in pins:
        try:
            requires = importlib.metadata.metadata(name).get("Requires-Python")
        except importlib.metadata.PackageNotFoundError:
            continue
        if requires and not SpecifierSet(requires).contains(floor):
            too_new.append(f"{name} (Requires-Python {requires})")
    assert not too_new, f"raise PINS_PYTHON in the Makefile above {floor}: {too_new}"


def test_llm_extra_requires_a_peft_that_works_with_transformers_5():
    """peft 0.17 imports ``HybridCache``, which transformers 5 removed; transformers requires peft >= 0.18 from
    v5 on. The llm extra's bound admits 0.18 and not 0.17, and the installed pair imports and builds LoRA."""
    import importlib.metadata

    from packaging.version import Version

    extra = sync.config()["project"]["optional-dependencies"]["llm"]
    peft = next(Requirement(r) for r in extra if sync.requirement_name(r) == "peft")
    assert peft.specifier.contains("0.18.0") and not peft.specifier.contains("0.17.1"), peft
    try:
        transformers_version = Version(importlib.metadata.version("transformers"))
        peft_version = Version(importlib.metadata.version("peft"))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the llm extra is not installed here")
    assert peft.specifier.contains(str(peft_version)), f"installed peft {peft_version} outside {peft.specifier}"
    if transformers_version.major >= 5:
        assert peft_version >= Version("0.18"), f"transformers {transformers_version} with peft {peft_version}"
    from peft import LoraConfig, get_peft_model  # noqa: F401  (fails to import on a mismatched pair)
