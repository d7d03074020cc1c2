"""The mode switch, the precision rule, threads, seeding, output folders and the results card."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from utils import results, runtime


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No mode asked, no session, outputs in a temporary folder, no measured benchmark, no memory limit."""
    for var in ("AIMS_MODE", "AIMS_FAST", "AIMS_MEMORY_LIMIT_GB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AIMS_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setattr(runtime, "_session", None)
    monkeypatch.setattr(runtime, "memory_limit_gb", lambda: None)
    monkeypatch.setattr(runtime, "workshop_benchmark", lambda: {})
    return tmp_path


@pytest.mark.parametrize(
    "mode_var, fast_var, expected",
    [
        (None, None, "workshop"),
        ("fast", None, "fast"),
        ("Workshop", None, "workshop"),
        (" full ", None, "full"),
        (None, "1", "fast"),
        (None, "on", "fast"),
        (None, "0", "workshop"),
        (None, "", "workshop"),
        ("fast", "yes", "fast"),
        ("", "", "workshop"),
    ],
)
def test_mode_from_environment(clean_env, monkeypatch, mode_var, fast_var, expected):
    if mode_var is not None:
        monkeypatch.setenv("AIMS_MODE", mode_var)
    if fast_var is not None:
        monkeypatch.setenv("AIMS_FAST", fast_var)
    assert runtime.mode() == expected
    assert runtime.by_mode(fast=1, workshop=2, full=3) == {"fast": 1, "workshop": 2, "full": 3}[expected]


@pytest.mark.parametrize(
    "mode_var, fast_var, message",
    [("quick", None, "Valid modes: fast, workshop, full"), (None, "maybe", "neither on"), ("full", "1", "unset one")],
)
def test_unknown_or_conflicting_modes_are_refused(clean_env, monkeypatch, mode_var, fast_var, message):
    if mode_var is not None:
        monkeypatch.setenv("AIMS_MODE", mode_var)
    if fast_var is not None:
        monkeypatch.setenv("AIMS_FAST", fast_var)
    with pytest.raises(runtime.ModeError, match=message):
        runtime.mode()


def test_by_mode_needs_every_size(clean_env):
    with pytest.raises(TypeError):
        runtime.by_mode(fast=1, full=3)  # the workshop size is not optional


def test_empty_variables_count_as_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("AIMS_OUTPUT_DIR", "")
    assert runtime.env("AIMS_OUTPUT_DIR") is None
    assert runtime.outputs_dir("x") == runtime.REPO_ROOT / "outputs" / "x"
    monkeypatch.setenv("AIMS_OUTPUT_DIR", str(tmp_path))
    assert runtime.outputs_dir("a", "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()


def test_setup_prints_and_records_the_session(clean_env, capsys):
    device = runtime.setup("01a_test_lesson", ["numpy"])
    out = capsys.readouterr().out
    assert "Mode: workshop (the default" in out and "AIMS_MODE=fast or full" in out
    assert f"Device: {device}" in out and "precision" in out
    assert runtime.session().lesson == "01a_test_lesson" and runtime.mode() == "workshop"
    with pytest.raises(TypeError, match="lesson's notebook name"):
        runtime.setup(["numpy"])


def test_binder_memory_limit_falls_back_to_fast_only_where_the_workshop_peak_does_not_fit(clean_env, monkeypatch):
    bench = {"lessons": {"big": {"peak_gb": 2.6}, "small": {"peak_gb": 1.1}}}
    monkeypatch.setattr(runtime, "workshop_benchmark", lambda: bench)
    monkeypatch.setattr(runtime, "memory_limit_gb", lambda: 2.0)
    assert runtime.default_mode("big")[0] == "fast" and "2.6 GB" in runtime.default_mode("big")[1]
    assert runtime.default_mode("small") == ("workshop", "the default")
    assert runtime.default_mode("never_measured") == ("workshop", "the default")
    runtime.setup("big")
    assert runtime.mode() == "fast"
    monkeypatch.setenv("AIMS_MODE", "workshop")  # asked for explicitly: honoured
    assert runtime.mode() == "workshop"


def test_memory_limit_from_environment(monkeypatch):
    monkeypatch.setenv("AIMS_MEMORY_LIMIT_GB", "2")
    assert runtime.memory_limit_gb() == 2.0
    monkeypatch.setenv("AIMS_MEMORY_LIMIT_GB", "two")
    with pytest.raises(runtime.ModeError, match="number of GB"):
        runtime.memory_limit_gb()


@pytest.mark.parametrize(
    "capability, name, scaler",
    [((7, 5), "fp16", True), ((7, 0), "fp16", True), ((8, 0), "bf16", False), ((9, 0), "bf16", False),
     ((6, 1), "fp32", False)],
)
def test_precision_rule_by_compute_capability(monkeypatch, capability, name, scaler):
    import torch

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Test GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # true on a T4: not the rule
    chosen = runtime.precision_for("cuda")
    assert chosen.name == name and chosen.needs_scaler is scaler
    assert f"{capability[0]}.{capability[1]}" in chosen.reason
    assert chosen.dtype == {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}[name]


def test_precision_on_cpu_is_fp32_and_autocast_is_a_no_op():
    import torch

    chosen = runtime.precision_for("cpu")
    assert chosen.name == "fp32" and chosen.dtype is None and not chosen.needs_scaler
    with chosen.autocast("cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_cpu_threads_never_exceed_affinity_or_torch(monkeypatch):
    import torch

    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert runtime.cpu_threads() == 2
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)
    assert runtime.cpu_threads() == 4


def test_device_falls_back_to_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.get_device() == "cpu"


def test_seed_everything_repeats_numbers():
    import torch

    runtime.seed_everything(7)
    first = (np.random.rand(3), torch.rand(3))
    runtime.seed_everything(7)
    second = (np.random.rand(3), torch.rand(3))
    assert np.allclose(first[0], second[0]) and torch.equal(first[1], second[1])


def test_results_card_table_and_file(clean_env, monkeypatch, capsys):
    monkeypatch.setattr(
        runtime,
        "workshop_benchmark",
        lambda: {"machine": "2-core test box", "date": "2026-12-05", "lessons": {"02a_x": {"metrics": {"mae": 0.2}}}},
    )
    runtime.setup("02a_x")
    table = results.results_card(
        [
            results.Result("mae", 0.25, "eV/atom", "test MAE", baseline=(0.56, "MAD"), reference=(0.03, "paper")),
            results.Result("accuracy", float("nan"), "", "accuracy"),
            results.Result("materials", 7, "", "materials"),
        ]
    )
    assert table.loc["test MAE", "this run"] == "0.25 eV/atom"
    assert table.loc["test MAE", "baseline"] == "0.56 eV/atom (MAD)"
    assert table.loc["test MAE", "reference"] == "0.03 eV/atom (paper)"
    assert table.loc["test MAE", "workshop benchmark"] == "0.2 eV/atom"
    assert table.loc["accuracy", "this run"] == "not computed in this run"
    card = json.loads(results.card_path("02a_x").read_text())
    assert card["lesson"] == "02a_x" and card["mode"] == "workshop" and card["seconds"] >= 0
    assert card["metrics"] == {"mae": 0.25, "accuracy": None, "materials": 7}
    assert "2-core test box" in capsys.readouterr().out


def test_results_card_needs_setup_and_rows(clean_env):
    with pytest.raises(RuntimeError, match="setup"):
        results.results_card([results.Result("x", 1.0, "", "x")])
    runtime.setup("02a_x")
    with pytest.raises(ValueError, match="at least one"):
        results.results_card([])


def test_results_card_survives_a_read_only_output_folder(clean_env, monkeypatch):
    runtime.setup("02a_x")

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(results, "write_atomically", refuse)
    with pytest.warns(UserWarning, match="AIMS_OUTPUT_DIR"):
        table = results.results_card([results.Result("x", 1.0, "", "x")])
    assert len(table) == 1


def test_session_seconds_count_from_setup(clean_env, monkeypatch):
    runtime.setup("02a_x")
    monkeypatch.setattr(runtime, "time", SimpleNamespace(time=lambda: runtime.session().started + 12.5))
    assert runtime.session().seconds == pytest.approx(12.5)


def test_collect_cards_makes_one_row_per_card(clean_env, tmp_path, capsys):
    from tools import collect_cards

    for learner, value in (("alice", 0.2), ("bob", 0.3)):
        folder = tmp_path / learner / "02a_x"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(
            {"lesson": "02a_x", "mode": "workshop", "device": "cpu", "seconds": 60, "metrics": {"mae": value}}))
    (tmp_path / "bob" / "broken").mkdir()
    (tmp_path / "bob" / "broken" / "results.json").write_text("{")
    table = collect_cards.rows([tmp_path / "alice", tmp_path / "bob"])
    assert [row["mae"] for row in table] == [0.2, 0.3] and table[0]["lesson"] == "02a_x"
    assert "skipped" in capsys.readouterr().err
