"""The checks of lesson 05's exercises accept the right answer and reject wrong ones (and blanks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from jarvis.core.atoms import Atoms

from exercises import lesson_05a, lesson_05b, lesson_05c
from utils import llm

NIOBIUM = np.eye(3) * 3.30


def rocksalt_record(value: float = 213.34) -> dict:
    fcc = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    atoms = Atoms(lattice_mat=np.eye(3) * 5.64, elements=["Na"] * 4 + ["Cl"] * 4, cartesian=False,
                  coords=fcc + [[(x + 0.5) % 1, y, z] for x, y, z in fcc])
    return {"jid": "JVASP-x", "bulk_modulus_kv": value, "atoms": atoms.to_dict()}


def test_rounding_shift():
    right = 0.0005 * math.sqrt(3) * 3.30
    assert lesson_05a.check_rounding_shift(right, NIOBIUM)
    assert not lesson_05a.check_rounding_shift(0.0005 * 3.30, NIOBIUM)  # one axis only
    assert not lesson_05a.check_rounding_shift(..., NIOBIUM)


def test_median_baseline():
    y_train, y_test = np.array([0.1, 0.2, 0.3, 20.0]), np.array([0.2, 1.0])
    assert lesson_05a.check_median_baseline(np.mean(np.abs(y_test - 0.25)), y_train, y_test)
    assert not lesson_05a.check_median_baseline(np.mean(np.abs(y_test - y_train.mean())), y_train, y_test)
    assert lesson_05a.check_median_baseline(float("nan"), y_train, [])  # no test data: nothing to check


def test_record_tokens():
    record = rocksalt_record()
    tok = llm.train_tokenizer([llm.atoms_to_text(llm.text_to_atoms("5.64 5.64 5.64\n90 90 90\nNa 0 0 0"))] * 3,
                              vocab_size=300)
    rec = llm.alpaca_record(record, "bulk_modulus_kv", "Below is a description of a material.")
    n = len(tok(llm.prompt_of(rec) + rec["output"])["input_ids"])
    assert lesson_05a.check_record_tokens(rec, n, record, "bulk_modulus_kv", tok)
    assert not lesson_05a.check_record_tokens(rec, n - 3, record, "bulk_modulus_kv", tok)
    other = llm.alpaca_record(rocksalt_record(100.0), "bulk_modulus_kv", rec["instruction"])
    assert not lesson_05a.check_record_tokens(other, n, record, "bulk_modulus_kv", tok)


def test_val_mae():
    def predict(model, texts):
        return np.full(len(texts), model)

    y_val = np.array([1.0, 3.0])
    assert lesson_05a.check_val_mae(1.0, 2.0, predict, ["a", "b"], y_val)
    assert not lesson_05a.check_val_mae(0.5, 2.0, predict, ["a", "b"], y_val)


def test_lora_count():
    from torch import nn

    layer = nn.Linear(32, 64)  # k = 32, d = 64
    assert lesson_05b.check_lora_count(4 * 96, 64 * 32, layer, 4)
    assert not lesson_05b.check_lora_count(4 * 64 * 32, 64 * 32, layer, 4)
    assert not lesson_05b.check_lora_count(4 * 96, 96, layer, 4)


def test_perplexity():
    assert lesson_05b.check_perplexity(math.exp(1.2), 512, 1.2, 512)
    assert not lesson_05b.check_perplexity(1.2, 512, 1.2, 512)
    assert not lesson_05b.check_perplexity(math.exp(1.2), math.log(512), 1.2, 512)


def test_validity():
    good = "3.30 3.30 3.30\n90 90 90\nNb 0.000 0.000 0.000\nNb 0.500 0.500 0.500"
    overlapping = "3.30 3.30 3.30\n90 90 90\nNb 0.000 0.000 0.000\nNb 0.010 0.000 0.000"
    assert lesson_05b.check_validity(True, good) and not lesson_05b.check_validity(False, good)
    assert lesson_05b.check_validity(False, overlapping) and not lesson_05b.check_validity(True, overlapping)
    assert lesson_05b.check_validity(False, "not a crystal")
    assert not lesson_05b.check_validity("yes", good)


def test_bragg():
    two_theta = 43.3
    d = 1.5418 / (2 * math.sin(math.radians(two_theta / 2)))
    assert lesson_05c.check_bragg(d, d * math.sqrt(3), two_theta)
    assert not lesson_05c.check_bragg(d * 2, d * math.sqrt(3), two_theta)  # forgot that θ is half of 2θ
    assert not lesson_05c.check_bragg(d, d, two_theta)


def test_strongest_peak():
    atoms = llm.text_to_atoms("3.30 3.30 3.30\n90 90 90\nNb 0.000 0.000 0.000\nNb 0.500 0.500 0.500")

    def peaks(_atoms):
        return [(38.5, 1.0), (55.6, 0.2)]

    assert lesson_05c.check_strongest_peak(38.5, atoms, peaks)
    assert not lesson_05c.check_strongest_peak(55.6, atoms, peaks)
    assert not lesson_05c.check_strongest_peak(..., atoms, peaks)


@pytest.mark.parametrize(("tokens", "values", "ok"), [(64, 256, True), (8, 256, False), (64, 16, False)])
def test_patches(tokens, values, ok):
    assert lesson_05c.check_patches(tokens, values, 128, 16) is ok


# ------------------------------------------------------------ how part 05b chooses and what it runs on a GPU
def _code_cells(stem: str) -> list[str]:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "notebooks" / f"{stem}.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _first(cells: list[str], text: str) -> int:
    return next(i for i, cell in enumerate(cells) if text in cell)


def test_05b_scores_the_pretrained_model_before_any_adapter_is_added():
    cells = _code_cells("05b_atomgpt_inverse")
    assert _first(cells, 'val_loss = {"pretrained": lm_loss(') < _first(cells, 'make_contender("lora")')


def test_05b_chooses_on_validation_and_reads_the_test_set_once_after_choosing():
    cells = _code_cells("05b_atomgpt_inverse")
    choose = _first(cells, "best = min(scored")
    assert "val_loss.items()" in cells[choose]
    test_reads = [i for i, cell in enumerate(cells) if "lm_loss(model, test_outputs" in cell]
    assert len(test_reads) == 1 and test_reads[0] > choose
    assert "test" not in cells[choose].split("best = min(")[1].splitlines()[0]


def test_05b_on_a_gpu_uses_micro_batches_of_4_with_4_accumulation_steps_and_checkpointing():
    params = next(c for c in _code_cells("05b_atomgpt_inverse") if c.startswith("# Parameters"))
    namespace = {"DEVICE": "cuda", "_workshop": lambda **sizes: sizes["workshop"]}
    exec(params.replace("utils.by_mode(", "_workshop("), namespace)
    assert (namespace["BATCH_SIZE"], namespace["GRAD_ACCUM"], namespace["CHECKPOINTING"]) == (4, 4, True)
