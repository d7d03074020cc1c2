"""Every notebook follows the lesson template, is stripped for git, and is listed in the README table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tools.sync import colab_cell  # the same cell in every notebook but for the lesson's extra

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_notebooks_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1)), [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_template(path):
    first = cells(path)[:5]
    assert first[0]["cell_type"] == "markdown" and source(first[0]).startswith(f"# {path.name[:2]} ·")
    assert f"notebooks/{path.name})" in source(first[0]), "Colab badge must point at this notebook"
    assert "GPU:" in source(first[0]) and "fast mode" in source(first[0])
    assert source(first[1]) == colab_cell(path.stem), "the Colab cell is generated: python tools/sync.py"
    assert '"google.colab" in sys.modules' in source(first[1])
    assert "utils.setup(" in source(first[2]) and '(p / "utils" / "__init__.py")' in source(first[2])
    assert "parameters" in first[3].get("metadata", {}).get("tags", []), "cell 4 is the papermill parameters cell"
    assert "utils.pick(" in source(first[3])
    assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_stripped_except_checked_cells(path):
    checked = 0
    for cell in cells(path):
        if cell["cell_type"] != "code":
            continue
        if "NBVAL_CHECK_OUTPUT" in source(cell):
            checked += 1
            assert cell["outputs"] and cell["execution_count"], "a checked cell keeps its output and count"
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

    assert dataset_table() in (ROOT / "README.md").read_text(), "run python tools/sync.py"
