"""The shared helpers of the exercise checks (each lesson's checks are run by its solution cells)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import exercises
from tools.sync import notebook_paths


def test_blank_is_never_right_and_never_an_error(capsys):
    assert exercises.is_blank(...) and exercises.is_blank([1, ...]) and exercises.is_blank({"a": ...})
    assert not exercises.is_blank(0) and not exercises.is_blank([1, 2])
    assert exercises.check_number(..., 1.0, "hint") is False
    assert "Replace each ..." in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, ok",
    [(1.0, True), (1.0005, True), (1.01, False), ("1.0", True), ("one", False), (True, False), (np.nan, False),
     ([1.0], False)],
)
def test_check_number(answer, ok, capsys):
    assert exercises.check_number(answer, 1.0, "look again", rtol=1e-3) is ok
    assert ("Correct" in capsys.readouterr().out) is ok


def test_close_compares_arrays_by_shape_and_value():
    assert exercises.close([1, 2], np.array([1.0, 2.0]))
    assert not exercises.close([1, 2], [1, 2, 3])
    assert not exercises.close(None, 1.0)


def test_check_choice(capsys):
    assert exercises.check_choice(" B ", "b", "hint", options="abc")
    assert not exercises.check_choice("c", "b", "think of the units", options="abc")
    assert "think of the units" in capsys.readouterr().out
    assert not exercises.check_choice("z", "b", "hint", options="abc")
    assert "one of a, b, c" in capsys.readouterr().out


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_each_part_has_its_check_module(path):
    """A notebook with exercises imports its own module of checks, which exists and loads."""
    text = path.read_text()
    module = f"lesson_{path.name.split('_')[0]}"
    assert f"exercises import {module}" in text, f"{path.name} does not import exercises.{module}"
    loaded = importlib.import_module(f"exercises.{module}")
    assert [name for name in dir(loaded) if name.startswith("check_")], f"{module} defines no check_...()"
