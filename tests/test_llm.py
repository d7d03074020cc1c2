"""utils.llm: the cell guard, the hub switch (hub and loaders mocked), generation and the scoring of structures.

The structure text, its parser, the prompts, LoRA and SFT are written in notebook 05 and checked by its
assert cells.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from jarvis.core.atoms import Atoms
from jarvis.core.lattice import Lattice

from utils import llm


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here may reach the hub; set per test, so notebook kernels of the same run keep the real setting."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def online(monkeypatch):
    """The offline switches cleared, for the tests that mock the network."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


def rocksalt(a: float = 5.64) -> Atoms:
    """NaCl in its 2-atom primitive cell (lengths a/sqrt(2), angles 60 degrees)."""
    lat = Lattice.from_parameters(a / np.sqrt(2), a / np.sqrt(2), a / np.sqrt(2), 60, 60, 60)
    return Atoms(lattice_mat=lat.matrix, coords=[[0, 0, 0], [0.5, 0.5, 0.5]], elements=["Na", "Cl"], cartesian=False)


def tiny_llama(texts: list[str]):
    """A one-layer Llama from scratch and its tokenizer, trained on ``texts``."""
    base = llm.load_base_model(None, texts, "cpu", vocab_size=300, tiny=dict(hidden=32, layers=1, heads=2))
    return base.model, base.tokenizer


def cubic(symbols: list[str], coords: list[list[float]], a: float) -> Atoms:
    return Atoms(lattice_mat=np.eye(3) * a, coords=coords, elements=symbols, cartesian=False)


def test_module_import_leaves_the_environment_alone():
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    code = (
        "import os, runpy; runpy.run_path('tests/test_llm.py'); "
        "assert 'HF_HUB_OFFLINE' not in os.environ, 'importing the tests set HF_HUB_OFFLINE'"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


# ---------------------------------------------------------------------------------------------- cell guard


def test_physical_cells_pass():
    llm.check_cell([3.3, 3.3, 3.3], [90, 90, 90], 2)
    llm.check_cell([3.99] * 3, [60, 60, 60], 2)


@pytest.mark.parametrize(
    ("lengths", "angles", "n_atoms", "reason"),
    [
        ([1e200, 1e200, 1e200], [90, 90, 90], 1, "between 1 and 100 Å"),
        ([1e6, 1e6, 1e6], [90, 90, 90], 1, "between 1 and 100 Å"),
        ([3.1, 0.0, 3.1], [90, 90, 90], 1, "between 1 and 100 Å"),
        ([3.1, 0.5, 3.1], [90, 90, 90], 1, "between 1 and 100 Å"),
        ([3.1, float("nan"), 3.1], [90, 90, 90], 1, "between 1 and 100 Å"),
        ([3.1] * 3, [90, float("inf"), 90], 1, "between 0 and 180 degrees"),
        ([3.1] * 3, [90, float("nan"), 90], 1, "between 0 and 180 degrees"),
        ([3.1] * 3, [90, 190, 90], 1, "between 0 and 180 degrees"),
        ([3.1] * 3, [0, 90, 90], 1, "between 0 and 180 degrees"),
        ([3.1] * 3, [120, 120, 120], 1, "Non-positive volume"),
        ([3.1] * 3, [10, 10, 170], 1, "Non-positive volume"),
        ([3.1] * 3, [90, 90, 90], 201, "Wrong atom count"),
        ([3.1] * 3, [90, 90, 90], 0, "Wrong atom count"),
    ],
)
def test_non_physical_cells_are_rejected_with_a_reason(lengths, angles, n_atoms, reason):
    with pytest.raises(llm.StructureTextError, match=reason):
        llm.check_cell(lengths, angles, n_atoms)


# ------------------------------------------------------------------------------------------ hub switch


def test_hub_check_is_skipped_when_offline_is_set(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("no connection may be attempted when HF_HUB_OFFLINE=1")

    monkeypatch.setattr(socket, "create_connection", boom)
    ok, why = llm.hub_reachable()
    assert not ok and "HF_HUB_OFFLINE" in why


def test_hub_unreachable_is_reported(monkeypatch, online):
    def refuse(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    ok, why = llm.hub_reachable(timeout=1)
    assert not ok and "unreachable" in why


def test_hub_check_never_hangs(monkeypatch, online):
    def stuck(*args, **kwargs):
        time.sleep(5)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", stuck)
    start = time.monotonic()
    ok, why = llm.hub_reachable(timeout=0.3)
    assert not ok and "within" in why
    assert time.monotonic() - start < 2


def test_hub_reachable_when_connection_opens(monkeypatch, online):
    class FakeConnection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: FakeConnection())
    assert llm.hub_reachable(timeout=1)[0]


def partial_cache_loader(calls: list):
    """A ``pretrained`` loader for a model whose cache holds only some files: local-only loading fails."""

    def pretrained(local_files_only: bool, reason: str):
        calls.append(local_files_only)
        if local_files_only:
            raise OSError("model.safetensors is not in the cache")
        return ("pretrained", reason)

    return pretrained


def test_partial_cache_does_not_force_scratch_when_the_hub_answers(monkeypatch):
    calls: list = []
    monkeypatch.setattr(llm, "hub_reachable", lambda timeout: (True, "huggingface.co:443 answered"))
    got = llm.pretrained_or_scratch("org/model", 1, partial_cache_loader(calls), lambda why: ("scratch", why))
    assert got[0] == "pretrained" and "from the hub" in got[1]
    assert calls == [False]  # the hub was tried (it completes the cache), not the cache alone


def test_cache_is_used_when_the_hub_is_down_and_scratch_when_it_is_empty(monkeypatch):
    monkeypatch.setattr(llm, "hub_reachable", lambda timeout: (False, "HF_HUB_OFFLINE=1 is set"))
    cached = llm.pretrained_or_scratch("org/model", 1, lambda lo, why: ("pretrained", lo), lambda why: ("scratch", why))
    assert cached == ("pretrained", True)
    calls: list = []
    with_partial = llm.pretrained_or_scratch("org/model", 1, partial_cache_loader(calls), lambda w: ("scratch", w))
    assert with_partial[0] == "scratch" and "OSError" in with_partial[1] and calls == [True]
    assert llm.pretrained_or_scratch(None, 1, None, lambda why: ("scratch", why)) == ("scratch", "no base model given")


def test_failed_hub_load_warns_then_tries_the_cache(monkeypatch):
    calls: list = []

    def flaky(local_files_only, reason):
        calls.append(local_files_only)
        if not local_files_only:
            raise ConnectionError("download interrupted")
        return "cached"

    monkeypatch.setattr(llm, "hub_reachable", lambda timeout: (True, "answered"))
    with pytest.warns(UserWarning, match="download interrupted"):
        assert llm.pretrained_or_scratch("org/model", 1, flaky, lambda why: "scratch") == "cached"
    assert calls == [False, True]


def test_load_base_model_with_a_partial_cache_and_a_reachable_hub(monkeypatch, tmp_path):
    """End to end through transformers' loaders (mocked): the hub is used although the cache is partial."""
    import transformers

    texts = ["3.99 3.99 3.99\n60 60 60\nNa 0.000 0.000 0.000"] * 4
    model, tokenizer = tiny_llama(texts)

    def from_pretrained(name, local_files_only=False, **kwargs):
        if local_files_only:
            raise OSError(f"{name}: only config.json is cached")
        return model

    monkeypatch.setattr(llm, "hub_reachable", lambda timeout: (True, "answered"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda n, **k: tokenizer)
    base = llm.load_base_model("org/model", texts, "cpu")
    assert base.kind == "pretrained" and base.model is model and "from the hub" in base.reason


def test_offline_without_cache_builds_models_from_scratch(recwarn):
    texts = ["Nb crystallizes in the cubic Im-3m spacegroup. 3.30 3.30 3.30"] * 4
    base = llm.load_base_model("some-org/not-cached", texts, "cpu", vocab_size=300, tiny=dict(hidden=32, layers=1))
    assert base.kind == "scratch" and "HF_HUB_OFFLINE" in base.reason
    assert type(base.model).__name__ == "LlamaForCausalLM" and base.model.config.hidden_size == 32
    assert not [w for w in recwarn if "Could not load" in str(w.message)]  # a model not cached is no surprise


def test_local_folders_are_loaded(tmp_path):
    texts = ["3.99 3.99 3.99\n60 60 60\nNa 0.000 0.000 0.000"] * 4
    model, tokenizer = tiny_llama(texts)
    model.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    base = llm.load_base_model(str(tmp_path / "lm"), texts, "cpu")
    assert base.kind == "pretrained" and "local folder" in base.reason and base.model.config.hidden_size == 32


def test_broken_local_folder_warns_and_falls_back(tmp_path):
    with pytest.warns(UserWarning, match="Could not load"):
        base = llm.load_base_model(str(tmp_path), ["Na 0 0 0"] * 4, "cpu", vocab_size=300, tiny=dict(hidden=32))
    assert base.kind == "scratch" and "local folder" in base.reason


# ------------------------------------------------------------------------------ tokenizer and generation


def test_tokenizer_round_trip_and_special_tokens():
    text = "### Input:\nNaCl\n### Output:\n3.99 3.99 3.99\n60 60 60\nNa 0.000 0.000 0.000\nCl 0.500 0.500 0.500"
    tok = llm.train_tokenizer([text] * 3, vocab_size=300)
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert "0.500" in tok.convert_ids_to_tokens(ids)  # whitespace-cut BPE learns whole numbers


def test_generate_returns_one_text_per_prompt_and_restores_padding():
    model, tok = tiny_llama(["Na 0.000 0.000 0.000\nCl 0.500 0.500 0.500"] * 3)
    out = llm.generate(model, tok, ["Na", "Cl 0.5"], "cpu", max_new_tokens=4)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert tok.padding_side == "right"


# --------------------------------------------------------------------------------------------- scoring


def test_min_distance_known_cases():
    assert llm.min_distance(cubic(["Po"], [[0, 0, 0]], 3.35)) == pytest.approx(3.35)
    nacl = cubic(["Na", "Cl"], [[0, 0, 0], [0.5, 0, 0]], 5.64)
    assert llm.min_distance(nacl) == pytest.approx(2.82)
    assert llm.min_distance(cubic(["Na", "Cl"], [[0, 0, 0], [0.999, 0, 0]], 5.0)) == pytest.approx(0.005, abs=1e-6)


def test_evaluation_on_a_known_case():
    truth = rocksalt()
    shifted = Atoms(  # the same crystal with its origin moved
        lattice_mat=truth.lattice_mat, coords=[[0.1] * 3, [0.6] * 3], elements=["Na", "Cl"], cartesian=False
    )
    wrong = Atoms(lattice_mat=truth.lattice_mat, coords=truth.frac_coords, elements=["Na", "Br"], cartesian=False)
    parsed = [(truth, ""), (shifted, ""), (wrong, ""), (None, "Wrong line count: 2 lines")]
    table, summary = llm.evaluate_generated(parsed, [truth] * 4)
    assert summary["n"] == 4
    assert summary["parse_rate"] == pytest.approx(0.75)
    assert summary["composition_match"] == pytest.approx(0.5)
    assert summary["valid_distance"] == pytest.approx(0.75)
    assert summary["match_rate"] == pytest.approx(0.5)
    assert summary["rmse"] < 0.01
    assert list(table["parsed"]) == [True, True, True, False]
    assert "Wrong line count" in table.loc[3, "reason"]
    assert summary["lattice_mae"] == pytest.approx(0.0, abs=1e-9)
    assert summary["angle_mae"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("a", [1e200, 1e6])
def test_evaluation_rejects_non_physical_cells_quickly(a):
    """A 1e200 Å cell used to crash evaluate_generated and a 1e6 Å cell to hang StructureMatcher for > 25 s."""
    truth = cubic(["Nb"], [[0, 0, 0]], 3.3)
    huge = cubic(["Nb"], [[0, 0, 0]], a)
    start = time.monotonic()
    table, summary = llm.evaluate_generated([(huge, "")], [truth])
    assert time.monotonic() - start < 5
    assert summary["parse_rate"] == 0.0 and "Non-physical lattice" in table.loc[0, "reason"]
    assert np.isnan(summary["lattice_mae"])


def test_structure_matcher_rejects_a_different_lattice():
    truth = cubic(["Nb", "Nb"], [[0, 0, 0], [0.5, 0.5, 0.5]], 3.3)
    squashed = Atoms(
        lattice_mat=np.diag([3.3, 3.3, 5.0]), coords=truth.frac_coords, elements=truth.elements, cartesian=False
    )
    row = llm.evaluate_one(squashed, "", truth)
    assert row["composition_match"] and row["valid_distance"] and not row["matched"]
    assert (row["lattice_mae"], row["angle_mae"]) == pytest.approx(((5.0 - 3.3) / 3, 0.0))


def test_evaluate_needs_one_truth_per_structure():
    with pytest.raises(ValueError, match="one truth per generated structure"):
        llm.evaluate_generated([(None, "empty")], [])


# --------------------------------------------------------------------- structure text and Alpaca records


def test_structure_text_round_trip_gives_the_same_crystal():
    truth = rocksalt()
    text = llm.atoms_to_text(truth)
    assert text.splitlines()[1] == "60 60 60" and text.splitlines()[2] == "Na 0.000 0.000 0.000"
    back = llm.text_to_atoms(text)
    assert back.elements == truth.elements and llm.evaluate_one(back, "", truth)["rms"] < 0.01


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3.10 3.10 3.10\n90 90 90", "Wrong line count"),
        ("3.10 3.10 3.10\n90 90 90\nXx 0.000 0.000 0.000", "unknown element 'Xx'"),
        ("3.10 3.10 3.10\n90 90 90\nNb 0.000 0.5a0 0.000", "non-numeric field"),
        ("3.10 3.10 3.10\n90 90 90\nNb 0.000 0.000", "'Element x y z'"),
        ("3.10 3.10\n90 90 90\nNb 0.000 0.000 0.000", "Line 1 must hold 3 numbers"),
        ("3.10 3.10 3.10\n120 120 120\nNb 0.000 0.000 0.000", "Non-positive volume"),
        ("1e200 3.10 3.10\n90 90 90\nNb 0.000 0.000 0.000", "between 1 and 100 Å"),
        ("3.10 3.10 3.10\n90 90 90\nNb nan 0.000 0.000", "nan or inf"),
        ("3.1 3.1 3.1\n90 90 90\n" + "H 0 0 0\n" * 201, "Wrong atom count"),
    ],
)
def test_parser_says_why_a_text_is_not_a_crystal(text, reason):
    atoms, why = llm.try_parse(text)
    assert atoms is None and reason in why


def test_parser_ignores_blank_lines_and_spaces():
    assert llm.text_to_atoms("\n  3.30 3.30 3.30 \n\n90 90 90\n Nb 0.000 0.000 0.000\n\n").num_atoms == 1


def test_alpaca_record_states_formula_and_value_and_its_prompt_ends_before_the_output():
    record = {"jid": "JVASP-x", "Tc_supercon": 9.256, "atoms": rocksalt().to_dict()}
    rec = llm.alpaca_record(record, "Tc_supercon")
    assert "The chemical formula is NaCl . The Tc_supercon is 9.26." in rec["input"]
    assert llm.prompt_of(rec).endswith("### Output:\n") and rec["output"] == llm.atoms_to_text(rocksalt())


# ------------------------------------------------------------------------ next-token loss and training


@pytest.fixture(scope="module")
def tiny_lm():
    texts = [llm.atoms_to_text(rocksalt(a)) for a in (5.4, 5.6, 5.8, 6.0)]
    return (*tiny_llama(texts * 4), texts)


def test_lm_loss_scores_only_the_completion_and_is_nan_without_texts(tiny_lm):
    model, tok, texts = tiny_lm
    enc, labels = llm.lm_batch(tok, texts[:2], ["### Output:\n"] * 2)
    n_prompt = len(tok("### Output:\n")["input_ids"])
    assert (labels[:, :n_prompt] == -100).all() and (labels[:, n_prompt] != -100).all()
    assert labels[0, enc["attention_mask"][0].sum() - 1] == tok.eos_token_id  # the model learns where to stop
    assert np.isnan(llm.lm_loss(model, tok, [], []))
    assert 0 < llm.lm_loss(model, tok, texts) < 2 * np.log(len(tok))


def test_train_lm_lowers_the_loss_with_accumulation(tiny_lm):
    model, tok, texts = tiny_lm
    before = llm.lm_loss(model, tok, texts)
    losses = llm.train_lm(model, tok, texts, None, steps=20, lr=1e-2, batch_size=2, accumulation=2)
    assert len(losses) == 20 and llm.lm_loss(model, tok, texts) < before


# ------------------------------------------------------------------------------- memory of a training run

QWEN05 = dict(vocab_size=151936, hidden=896, layers=24, heads=14)  # Qwen2.5-0.5B's config
T4_GB = 14.7 * 2**30 / 1e9  # what a Colab T4 leaves usable (14.7 GiB)


def qwen_full_finetuning(batch_size: int, checkpointing: bool) -> dict[str, float]:
    return llm.training_memory_gb(weights_bytes=494e6 * 4, trainable=494_000_000, batch_size=batch_size,
                                  seq_len=384, compute_bytes=2, checkpointing=checkpointing, **QWEN05)


def test_memory_estimate_adds_its_parts_and_grows_with_the_batch():
    small, large = qwen_full_finetuning(4, False), qwen_full_finetuning(16, False)
    assert small["total"] == pytest.approx(sum(v for k, v in small.items() if k != "total"))
    assert small["weights"] == pytest.approx(1.976) and small["optimizer"] == pytest.approx(2 * small["weights"])
    assert large["logits"] == pytest.approx(4 * small["logits"]) and large["total"] > small["total"]
    assert qwen_full_finetuning(4, True)["activations"] < small["activations"] / 10


def test_t4_refuses_batch_16_and_names_batch_4_with_4_accumulation_steps():
    with pytest.raises(MemoryError, match=r"BATCH_SIZE = 4 and GRAD_ACCUM = 4 \(the same effective batch of 16"):
        llm.check_training_memory(lambda b: qwen_full_finetuning(b, False), 16, 1, T4_GB, "full fine-tuning")
    fits = llm.check_training_memory(lambda b: qwen_full_finetuning(b, True), 4, 4, T4_GB, "full fine-tuning")
    assert fits["total"] < 0.75 * T4_GB  # with gradient checkpointing, room to spare


def test_memory_check_says_what_to_change_when_nothing_fits():
    with pytest.raises(MemoryError, match="Even a micro-batch of 1 does not fit"):
        llm.check_training_memory(lambda b: qwen_full_finetuning(b, True), 4, 4, 4.0, "full fine-tuning")
    assert llm.check_training_memory(lambda b: {"total": 1e6}, 4, 4, None, "anything")["total"] == 1e6


def test_model_size_reads_the_model(tiny_lm):
    from peft import LoraConfig, get_peft_model

    model, _, _ = tiny_lm
    size = llm.model_size(model)
    n = sum(p.numel() for p in model.parameters())
    assert size["weights_bytes"] == 4 * n and size["trainable"] == n and size["hidden"] == 32
    import copy

    lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules="all-linear"))
    assert 0 < llm.model_size(lora)["trainable"] < n


def test_pretrained_models_load_with_fp32_weights_on_the_cpu(monkeypatch):
    import torch
    import transformers

    seen = {}

    def from_pretrained(name, **kwargs):
        seen.update(kwargs)
        return "model"

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda n, **k: type("T", (), {"pad_token": 1})())
    model, _, notes = llm._load_causal_lm("org/model", "cuda", False, True)
    assert model == "model" and seen["dtype"] is torch.float32 and "device_map" not in seen and not notes


def test_nothing_to_score_gives_nan_rates():
    table, summary = llm.evaluate_generated([], [])
    assert summary["n"] == 0 and np.isnan(summary["parse_rate"]) and np.isnan(summary["valid_distance"])


def test_overlapping_atoms_skip_the_structure_matcher(monkeypatch):
    """200 atoms in a 1 Å cube used to keep StructureMatcher busy for 40 s; such a structure is invalid anyway."""
    from pymatgen.analysis import structure_matcher

    rng = np.random.default_rng(0)
    crowded = Atoms(lattice_mat=np.eye(3), coords=rng.random((200, 3)), elements=["Si"] * 200, cartesian=False)
    truth = cubic(["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]], 5.43)

    calls: list = []  # evaluate_one takes any matcher failure for "no match", so calls are counted, not refused
    monkeypatch.setattr(structure_matcher, "StructureMatcher", lambda *a, **k: calls.append(a))
    start = time.monotonic()
    row = llm.evaluate_one(crowded, "", truth)
    assert time.monotonic() - start < 5
    assert row["composition_match"] and not row["valid_distance"] and not row["matched"] and row["rms"] is None
    assert not calls, "the structure matcher ran on overlapping atoms"
