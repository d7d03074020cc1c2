"""utils stays a small helper package: what a lesson teaches lives in the lesson, not here."""

from __future__ import annotations

import ast
from pathlib import Path

UTILS = Path(__file__).resolve().parent.parent / "utils"
# utils keeps within 3,500 lines (docs/STYLE.md); the ceiling may only go down.
MAX_LINES, MAX_FUNCTION_LINES = 3500, 60


def modules() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text(), filename=str(p)) for p in sorted(UTILS.glob("*.py"))}


def test_utils_is_small():
    lines = sum(len(p.read_text().splitlines()) for p in UTILS.glob("*.py"))
    assert lines <= MAX_LINES, f"utils/ has {lines} lines; at most {MAX_LINES}: move lesson code into the notebook"


def test_no_long_function_and_no_class_inside_a_function():
    problems = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{name}:{node.lineno} {node.name} has {length} lines")
                inner = [n for n in ast.walk(node) if isinstance(n, ast.ClassDef)]
                problems += [f"{name}:{n.lineno} class {n.name} is defined inside {node.name}" for n in inner]
    assert not problems, "; ".join(problems)


def test_no_module_reaches_into_another_modules_private_names():
    """``from .data import _check_name`` or ``data._looks_like_html`` couple two rooms through a back door."""
    problems = []
    for name, tree in modules().items():
        siblings = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.level == 1 and not node.module for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                problems += [f"{name}: from .{node.module} import {a.name}" for a in node.names
                             if a.name.startswith("_")]
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in siblings):
                problems.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
    assert not problems, "; ".join(problems)


def test_no_helper_changes_the_environment_or_torch_defaults():
    """Only ``utils.setup`` seeds; nothing in utils writes os.environ or sets torch's default dtype."""
    restorers = {"_torch_default_dtype_kept"}  # puts back what a third-party package changed
    problems = []
    for name, tree in modules().items():
        skipped = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in restorers
                   for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in {"set_default_dtype", "set_default_device", "putenv"}:
                    problems.append(f"{name}:{node.lineno} {node.func.attr}")
                if node.func.attr in {"setdefault", "update", "pop"} and "environ" in ast.unparse(node.func.value):
                    problems.append(f"{name}:{node.lineno} os.environ.{node.func.attr}")
            if isinstance(node, (ast.Assign, ast.Delete)):
                targets = node.targets
                problems += [f"{name}:{node.lineno} writes os.environ" for t in targets
                             if isinstance(t, ast.Subscript) and "environ" in ast.unparse(t.value)]
    assert not problems, "; ".join(problems)


def test_exercise_checks_keep_lines_within_88_characters():
    """Learners read the check modules next to the notebooks: the notebooks' line length holds there too."""
    folder = UTILS.parent / "exercises"
    long = [f"{p.name}:{i}" for p in sorted(folder.glob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if len(line) > 88]
    assert not long, f"lines over 88 characters: {', '.join(long[:10])}"
