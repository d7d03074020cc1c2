"""Every notebook follows the lesson template (docs/STYLE.md), is stripped for git, and is listed in the README.

A notebook is a lesson or a part of one: ``NN_slug.ipynb`` or ``NNa_slug.ipynb``, ``NNb_slug.ipynb``, ... in
teaching order. Each holds at most about 40 minutes of work: objectives and its time first, sections marked
`core` or `optional`, 3-6 exercises with checks and hidden solutions, a results card and a summary last.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

from tools.sync import colab_cell, notebook_paths

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths()
MAX_WORDS, MAX_CODE_LINES, MAX_MEDIAN_CELL, MAX_LINE, MAX_MINUTES = 2500, 350, 12, 88, 40
DEV_TEXT = re.compile(
    r"(?i)\bissue \d+|\bissues? #\d+|developer|when we wrote|development machine|not re-timed|our (dev|test) machine"
    r"|NBVAL_CHECK_OUTPUT|workaround|upstream bug"
)
# the metric keys each lesson's results cards must record (over all its parts)
CARD_KEYS = {
    "02": {"mad", "best_mae"},
    "03": {"xrd_accuracy", "xrd_majority_accuracy", "mlp_mae", "mad"},
    "04": {"mad", "alignn_mae"},
    "05": {"tc_mad", "tc_mae", "lora_loss", "scratch_loss", "valid_structure_rate"},
    "06": {"a", "a_dft", "bulk_modulus", "bulk_modulus_dft", "energy_mae"},
    "07": {"materials", "calculators", "best_a_mae", "best_kv_mae"},
}


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def lesson_code(path: Path) -> list[dict]:
    """Code cells a learner reads: all but the generated Colab cell."""
    return [c for c in cells(path)[2:] if c["cell_type"] == "code"]


def test_notebooks_numbered_without_gaps():
    numbers = sorted({int(p.name[:2]) for p in NOTEBOOKS})
    assert numbers == list(range(1, len(numbers) + 1)), [p.name for p in NOTEBOOKS]
    for number in numbers:
        letters = [p.name[2] for p in NOTEBOOKS if int(p.name[:2]) == number and p.name[2] != "_"]
        assert letters == [chr(ord("a") + k) for k in range(len(letters))], f"parts of {number:02d}: {letters}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_template(path):
    first = cells(path)[:4]
    number = path.name.split("_")[0]
    assert first[0]["cell_type"] == "markdown" and source(first[0]).startswith(f"# {number} ·")
    assert f"notebooks/{path.name})" in source(first[0]), "Colab badge must point at this notebook"
    assert "GPU:" in source(first[0]) and "AIMS_MODE" in source(first[0])
    assert source(first[1]) == colab_cell(path.stem), "the Colab cell is generated: python tools/sync.py"
    assert f'utils.setup("{path.stem}"' in source(first[2]) and '(p / "utils" / "__init__.py")' in source(first[2])
    assert "parameters" in tags(first[3]), "cell 4 is the papermill parameters cell"
    assert "utils.by_mode(" in source(first[3])
    assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_objectives_time_and_summary(path):
    head = source(cells(path)[0])
    minutes = re.search(r"about (\d+) min(?:utes)? of work", head)
    assert minutes and int(minutes.group(1)) <= MAX_MINUTES, "cell 1 says 'about N min of work' (N <= 40)"
    objectives = re.search(r"(?s)\*\*You will learn to\*\*\n((?:[-*] .*\n?)+)", head)
    assert objectives and 3 <= len(re.findall(r"(?m)^[-*] ", objectives.group(1))) <= 5, "3-5 objectives"
    markdown = [c for c in cells(path) if c["cell_type"] == "markdown"]
    summary = next((c for c in markdown if source(c).startswith("## Summary")), None)
    assert summary is not None, "a '## Summary' cell ends the part"
    assert 3 <= len(re.findall(r"(?m)^[-*] ", source(summary))) <= 5, "the summary has 3-5 bullets"
    assert any("utils.results_card(" in source(c) for c in lesson_code(path)), "the part shows its results card"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_sections_marked_core_or_optional(path):
    for cell in cells(path):
        for heading in re.findall(r"(?m)^## (\d.*)$", source(cell)) if cell["cell_type"] == "markdown" else []:
            assert heading.rstrip().endswith(("`core`", "`optional`")), f"mark the section: {heading!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_part_size_and_code_style(path):
    words = sum(len(source(c).split()) for c in cells(path) if c["cell_type"] == "markdown")
    code = lesson_code(path)
    lengths = [len([line for line in source(c).splitlines() if line.strip()]) for c in code]
    assert words <= MAX_WORDS, f"{words} words of markdown (at most {MAX_WORDS}): split the part"
    assert sum(lengths) <= MAX_CODE_LINES, f"{sum(lengths)} lines of code (at most {MAX_CODE_LINES})"
    assert statistics.median(lengths) <= MAX_MEDIAN_CELL, f"median code cell {statistics.median(lengths)} lines"
    long = [line for c in code for line in source(c).splitlines() if len(line) > MAX_LINE]
    assert not long, f"{len(long)} code lines over {MAX_LINE} characters, e.g. {long[0]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_with_checks_and_hidden_solutions(path):
    all_cells = cells(path)
    headings = [(k, source(c)) for k, c in enumerate(all_cells)
                if c["cell_type"] == "markdown" and source(c).startswith("### Exercise ")]
    assert 3 <= len(headings) <= 6, f"{len(headings)} exercises (3-6 per part)"
    kinds = [re.search(r"\((compute|concept|apply)\)", text.splitlines()[0]) for _, text in headings]
    assert all(kinds), "each exercise heading ends with its kind: (compute), (concept) or (apply)"
    kinds = [m.group(1) for m in kinds]
    assert "concept" in kinds and "apply" in kinds, "one conceptual question and one 'your own material' task"
    module = f"exercises import lesson_{path.name.split('_')[0]} as ex"
    assert any(module in source(c) for c in all_cells), f"the part imports its checks: from {module}"
    for (k, text), kind in zip(headings, kinds):
        end = next((j for j, _ in headings if j > k), len(all_cells))
        block = all_cells[k + 1 : end]
        if kind == "concept":
            assert "<details>" in text or any("<details>" in source(c) for c in block if c["cell_type"] == "markdown")
            continue
        scaffold = [c for c in block if "exercise" in tags(c)]
        solution = [c for c in block if "solution" in tags(c)]
        assert scaffold and "ex.check_" in source(scaffold[0]) and "..." in source(scaffold[0]), text[:60]
        assert solution, f"no solution after {text[:60]!r}"
        sol = solution[0]
        assert source(sol).startswith("#@title Solution"), "Colab form title on the solution's first line"
        assert sol["metadata"].get("cellView") == "form", "Colab hides a form cell's code"
        assert sol["metadata"].get("jupyter", {}).get("source_hidden") is True, "Jupyter hides the solution"
        assert "assert ex.check_" in source(sol), "the solution asserts its own check (run by the tests)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_text_is_for_learners(path):
    hits = [source(c)[:80] for c in cells(path) if DEV_TEXT.search(source(c))]
    assert not hits, f"development text in the lesson: {hits[:3]}"


@pytest.mark.parametrize("number", sorted(CARD_KEYS))
def test_cards_record_the_lesson_metrics(number):
    parts = [p for p in NOTEBOOKS if p.name.startswith(number)]
    assert parts, f"no notebook of lesson {number}"
    text = "\n".join(source(c) for p in parts for c in lesson_code(p))
    missing = [key for key in CARD_KEYS[number] if not re.search(rf"Result\(\s*\"{key}\"", text)]
    assert not missing, f"lesson {number}'s cards lack {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_stripped_except_checked_cells(path):
    checked = 0
    for cell in cells(path):
        if cell["cell_type"] != "code":
            continue
        if "nbval-check-output" in tags(cell) or "NBVAL_CHECK_OUTPUT" in source(cell):
            checked += 1
            assert cell["outputs"] and cell["execution_count"], "a checked cell keeps its output and count"
            stderr = [o for o in cell["outputs"] if o.get("name") == "stderr"]
            assert not stderr, f"a checked cell writes no warnings (they pin paths and versions): {source(cell)[:80]}"
        else:
            assert not cell["outputs"] and cell["execution_count"] is None, source(cell)[:80]
    assert checked >= 1, "nbval checks at least one key output of each notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_forbidden_patterns(path):
    text = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "code")
    for pattern in ("git clone", "/content", "shared/data", "import dgl", "AIMS_DATA_DIR"):
        assert pattern not in text, f"{path.name} contains {pattern!r}"
    assert not re.search(r"^\s*[!%]pip", "\n".join(source(c) for c in cells(path)[2:]), re.M), (
        "pip only in the Colab cell"
    )


def test_readme_table_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        title = source(cells(path)[0]).splitlines()[0].split("·", 1)[1].strip()
        row = next(
            (line for line in readme.splitlines() if f"notebooks/{path.name}" in line and line.startswith("|")), None
        )
        assert row is not None, f"README table lacks {path.name}"
        assert title in row, f"README row of {path.name} should carry its title {title!r}"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```")[1]
    assert "make lab" in block and "make test" in block
    makefile = (ROOT / "Makefile").read_text()
    assert "pytest --nbval-lax tests/ notebooks/" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_dataset_table_matches_registry():
    from tools.sync import dataset_table

    assert dataset_table() in (ROOT / "docs" / "DATA.md").read_text(), "run python tools/sync.py"
