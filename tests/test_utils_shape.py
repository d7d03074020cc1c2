"""utils stays a small helper package: what a lesson teaches lives in the lesson, not here."""

from __future__ import annotations

import ast
from pathlib import Path

UTILS = Path(__file__).resolve().parent.parent / "utils"
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
