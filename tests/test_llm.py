"""utils.llm: structure text round trip and parser errors, the hub switch (hub mocked), metrics, training."""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # CI has no network: nothing here may reach the hub

from jarvis.core.atoms import Atoms  # noqa: E402
from jarvis.core.lattice import Lattice  # noqa: E402

from utils import llm  # noqa: E402


def rocksalt(a: float = 5.64) -> Atoms:
    """NaCl in its 2-atom primitive cell (lengths a/sqrt(2), angles 60 degrees)."""
    lat = Lattice.from_parameters(a / np.sqrt(2), a / np.sqrt(2), a / np.sqrt(2), 60, 60, 60)
    return Atoms(lattice_mat=lat.matrix, coords=[[0, 0, 0], [0.5, 0.5, 0.5]], elements=["Na", "Cl"], cartesian=False)


def cubic(symbols: list[str], coords: list[list[float]], a: float) -> Atoms:
    return Atoms(lattice_mat=np.eye(3) * a, coords=coords, elements=symbols, cartesian=False)


# ---------------------------------------------------------------------------------------------- text


def test_text_format_is_atomgpt():
    text = llm.atoms_to_text(rocksalt())
    assert text.splitlines() == ["3.99 3.99 3.99", "60 60 60", "Na 0.000 0.000 0.000", "Cl 0.500 0.500 0.500"]


def test_round_trip_gives_the_same_crystal():
    original = cubic(["Nb", "Nb"], [[0, 0, 0], [0.5, 0.5, 0.5]], 3.3)
    back = llm.text_to_atoms(llm.atoms_to_text(original))
    assert back.elements == original.elements
    np.testing.assert_allclose(back.lattice.abc, original.lattice.abc, atol=0.005)
    np.testing.assert_allclose(back.lattice.angles, original.lattice.angles, atol=0.5)
    np.testing.assert_allclose(back.frac_coords, original.frac_coords, atol=0.0005)
    assert llm.match_structures(back, original) == pytest.approx(0.0, abs=1e-3)


def test_parser_tolerates_blank_lines_and_spaces():
    atoms = llm.text_to_atoms("\n  3.30 3.30 3.30 \n\n90 90 90\n Nb 0.000 0.000 0.000\n\n")
    assert atoms.num_atoms == 1 and atoms.volume == pytest.approx(3.3**3, rel=1e-6)


def test_angles_are_rounded_not_truncated():
    lat = Lattice.from_parameters(3, 3, 3, 59.9999, 59.9999, 59.9999)
    atoms = Atoms(lattice_mat=lat.matrix, coords=[[0, 0, 0]], elements=["Cu"], cartesian=False)
    assert llm.atoms_to_text(atoms).splitlines()[1] == "60 60 60"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3.1 3.1 3.1\n90 90 90", "Wrong line count"),
        ("", "Wrong line count"),
        ("3.1 3.1\n90 90 90\nNb 0 0 0", "must hold 3 numbers"),
        ("3.1 3.1 3.1\n90 90 90\nXx 0 0 0", "unknown element 'Xx'"),
        ("3.1 3.1 3.1\n90 90 90\nNb 0 0.5a 0", "non-numeric field"),
        ("3.1 abc 3.1\n90 90 90\nNb 0 0 0", "non-numeric field"),
        ("3.1 3.1 3.1\n90 90 90\nNb 0 nan 0", "non-numeric field"),
        ("3.1 3.1 3.1\n120 120 120\nNb 0 0 0", "Non-positive volume"),
        ("3.1 3.1 3.1\n10 10 170\nNb 0 0 0", "Non-positive volume"),
        ("3.1 0 3.1\n90 90 90\nNb 0 0 0", "non-positive volume"),
        ("3.1 3.1 3.1\n90 190 90\nNb 0 0 0", "between 0 and 180"),
        ("3.1 3.1 3.1\n90 90 90\nNb 0 0", "'Element x y z'"),
        ("3.1 3.1 3.1\n90 90 90\nNb 0 0 0 0", "'Element x y z'"),
    ],
)
def test_malformed_text_is_rejected_with_a_reason(text, reason):
    with pytest.raises(llm.StructureTextError, match=reason):
        llm.text_to_atoms(text)
    atoms, why = llm.try_parse(text)
    assert atoms is None and reason in why


def test_parser_rejects_non_strings_and_too_many_atoms():
    with pytest.raises(llm.StructureTextError, match="string"):
        llm.text_to_atoms(None)
    many = "3 3 3\n90 90 90\n" + "\n".join("H 0 0 0" for _ in range(6))
    with pytest.raises(llm.StructureTextError, match="max_atoms"):
        llm.text_to_atoms(many, max_atoms=5)


def test_cell_volume_matches_jarvis():
    lat = Lattice.from_parameters(3, 4, 5, 80, 95, 110)
    assert llm.cell_volume([3, 4, 5], [80, 95, 110]) == pytest.approx(abs(np.linalg.det(lat.matrix)), rel=1e-5)


# --------------------------------------------------------------------------------------------- records


def record(atoms: Atoms, jid: str = "JVASP-1", tc: float = 9.5) -> dict:
    return {"jid": jid, "Tc_supercon": tc, "atoms": atoms.to_dict()}


def test_alpaca_record_and_prompt():
    rec = llm.alpaca_record(record(rocksalt()), "Tc_supercon")
    assert set(rec) >= {"instruction", "input", "output"}
    assert "NaCl" in rec["input"] and "Tc_supercon is 9.50" in rec["input"]
    assert rec["output"] == llm.atoms_to_text(rocksalt())
    prompt = llm.prompt_of(rec)
    assert prompt.startswith("### Instruction:\n") and prompt.endswith("### Output:\n")
    pair = llm.to_prompt_completion([rec])[0]
    assert pair["prompt"] == prompt and pair["completion"] == rec["output"]


def test_alpaca_records_skip_missing_values():
    recs = [record(rocksalt(), "a", 1.0), {**record(rocksalt(), "b"), "Tc_supercon": "na"}]
    assert [r["id"] for r in llm.alpaca_records(recs, "Tc_supercon")] == ["a"]


def test_xrd_peaks_are_merged_sorted_and_relative():
    peaks = llm.xrd_peaks(cubic(["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], 3.615), 5)
    angles = [t for t, _ in peaks]
    assert angles == sorted(angles) and len(set(angles)) == len(angles) == 3  # (111), (200), (220) below 90°
    assert max(i for _, i in peaks) == pytest.approx(1.0)
    assert angles[0] == pytest.approx(43.3, abs=0.3)  # Cu (111) with Cu K-alpha
    assert "top XRD peaks" in llm.xrd_record(record(rocksalt()))["input"]


# ------------------------------------------------------------------------------------------ hub switch


def test_hub_check_is_skipped_when_offline_is_set(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("no connection may be attempted when HF_HUB_OFFLINE=1")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", boom)
    ok, why = llm.hub_reachable()
    assert not ok and "HF_HUB_OFFLINE" in why


def test_hub_unreachable_is_reported(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    ok, why = llm.hub_reachable(timeout=1)
    assert not ok and "unreachable" in why


def test_hub_check_never_hangs(monkeypatch):
    def stuck(*args, **kwargs):
        time.sleep(5)
        raise OSError("timed out")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", stuck)
    start = time.monotonic()
    ok, why = llm.hub_reachable(timeout=0.3)
    assert not ok and "within" in why
    assert time.monotonic() - start < 2


def test_hub_reachable_when_connection_opens(monkeypatch):
    class FakeConnection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: FakeConnection())
    assert llm.hub_reachable(timeout=1)[0]
    monkeypatch.setattr(llm, "_cached_locally", lambda name: False)
    assert llm.resolve_base_model("some-org/some-model")[0] == "pretrained"


def test_unreachable_hub_falls_back_to_a_model_from_scratch(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(llm, "_cached_locally", lambda name: False)
    assert llm.resolve_base_model("some-org/some-model", timeout=1)[0] == "scratch"
    assert llm.resolve_base_model(None)[0] == "scratch"
    texts = [llm.prompt_of(llm.alpaca_record(record(rocksalt()), "Tc_supercon")) + "3.99 3.99 3.99"] * 4
    base = llm.load_base_model(
        "some-org/some-model", texts, "cpu", vocab_size=300, tiny=dict(hidden=32, layers=1, heads=2)
    )
    assert base.kind == "scratch" and "unreachable" in base.reason
    assert base.trainable == base.total > 0
    assert type(base.model).__name__ == "LlamaForCausalLM"


def test_local_pretrained_folder_gets_lora(tmp_path):
    texts = ["3.99 3.99 3.99\n60 60 60\nNa 0.000 0.000 0.000"] * 4
    tokenizer = llm.train_tokenizer(texts, vocab_size=300)
    llm.tiny_llama(tokenizer, hidden=32, layers=1, heads=2).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    base = llm.load_base_model(str(tmp_path), texts, "cpu", lora_r=4)
    assert base.kind == "pretrained+lora" and "local folder" in base.reason
    assert 0 < base.trainable < base.total
    assert any("lora" in n for n, p in base.model.named_parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------- metrics


def test_tokenizer_round_trip_and_special_tokens():
    text = llm.prompt_of(llm.alpaca_record(record(rocksalt()), "Tc_supercon")) + llm.atoms_to_text(rocksalt())
    tok = llm.train_tokenizer([text] * 3, vocab_size=300)
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert "0.500" in tok.convert_ids_to_tokens(ids)  # whitespace-cut BPE learns whole numbers


def test_min_distance_known_cases():
    assert llm.min_distance(cubic(["Po"], [[0, 0, 0]], 3.35)) == pytest.approx(3.35)
    nacl = cubic(["Na", "Cl"], [[0, 0, 0], [0.5, 0, 0]], 5.64)
    assert llm.min_distance(nacl) == pytest.approx(2.82)
    assert llm.min_distance(cubic(["Na", "Cl"], [[0, 0, 0], [0.999, 0, 0]], 5.0)) == pytest.approx(0.005, abs=1e-6)


def test_evaluation_on_a_known_case():
    truth = rocksalt()
    same = llm.atoms_to_text(truth)
    shifted = "4.00 4.00 4.00\n60 60 60\nNa 0.100 0.100 0.100\nCl 0.600 0.600 0.600"  # same crystal, moved origin
    wrong_composition = "3.99 3.99 3.99\n60 60 60\nNa 0.000 0.000 0.000\nBr 0.500 0.500 0.500"
    garbage = "3.99 3.99\nNa"
    table, summary = llm.evaluate_generated([same, shifted, wrong_composition, garbage], [truth] * 4)
    assert summary["n"] == 4
    assert summary["parse_rate"] == pytest.approx(0.75)
    assert summary["composition_match"] == pytest.approx(0.5)
    assert summary["valid_distance"] == pytest.approx(0.75)
    assert summary["match_rate"] == pytest.approx(0.5)
    assert summary["rmse"] < 0.01
    assert list(table["parsed"]) == [True, True, True, False]
    assert "Wrong line count" in table.loc[3, "reason"]
    # lattice MAE over the parsed three: |3.99-3.988|, |4.00-3.988|, |3.99-3.988| per length
    assert summary["lattice_mae"] == pytest.approx(np.mean([0.002, 0.012, 0.002]), abs=2e-3)
    assert summary["lattice_mae_median"] == pytest.approx(0.002, abs=2e-3)
    assert summary["angle_mae"] == pytest.approx(0.0, abs=1e-6)


def test_structure_matcher_rejects_a_different_lattice():
    truth = cubic(["Nb", "Nb"], [[0, 0, 0], [0.5, 0.5, 0.5]], 3.3)
    squashed = llm.text_to_atoms("3.30 3.30 5.00\n90 90 90\nNb 0 0 0\nNb 0.5 0.5 0.5")
    assert llm.match_structures(squashed, truth) is None
    assert llm.lattice_errors(squashed, truth) == pytest.approx(((5.0 - 3.3) / 3, 0.0))


def test_lattice_baseline():
    train = [cubic(["Nb"], [[0, 0, 0]], 3.0), cubic(["Nb"], [[0, 0, 0]], 5.0)]
    assert llm.mean_lattice_baseline(train, [cubic(["Nb"], [[0, 0, 0]], 4.5)]) == pytest.approx((0.5, 0.0))


def test_evaluate_needs_one_truth_per_text():
    with pytest.raises(ValueError, match="one truth per generated text"):
        llm.evaluate_generated(["a"], [])


# ------------------------------------------------------------------------------------ training (smoke)


def test_causal_lm_trains_and_generates(tmp_path):
    recs = [
        llm.alpaca_record(record(rocksalt(a), f"J{i}", tc), "Tc_supercon")
        for i, (a, tc) in enumerate([(5.6, 1.0), (5.7, 2.0)])
    ]
    texts = [llm.prompt_of(r) + r["output"] for r in recs]
    base = llm.load_base_model(None, texts, "cpu", vocab_size=300, tiny=dict(hidden=32, layers=1, heads=2))
    log = llm.train_causal_lm(base, recs, tmp_path, max_steps=3, batch_size=2, logging_steps=1)
    assert len(log) == 3 and all(np.isfinite(h["loss"]) for h in log)
    out = llm.generate(base.model, base.tokenizer, [llm.prompt_of(r) for r in recs], "cpu", max_new_tokens=5)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)


def test_text_regressor_trains_and_predicts():
    texts = ["Nb crystallizes in the cubic Im-3m spacegroup.", "Al crystallizes in the cubic Fm-3m spacegroup."] * 4
    y = [9.0, 1.0] * 4
    tok = llm.train_tokenizer(texts, vocab_size=300)
    model = llm.build_text_regressor(tok, hidden=32, layers=1, heads=2, max_positions=64)
    history = llm.train_regressor(model, tok, texts, y, texts[:2], y[:2], "cpu", epochs=2, batch_size=4)
    assert len(history["train"]) == len(history["val"]) == 2
    pred = llm.predict_regressor(model, tok, texts[:2], "cpu")
    assert pred.shape == (2,) and np.all(np.isfinite(pred))
    assert float(model.y_mean) == pytest.approx(5.0)


def test_forward_model_switch(tmp_path, monkeypatch):
    from transformers import BertConfig, BertModel

    texts = ["Nb crystallizes in the cubic Im-3m spacegroup."] * 4
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("unreachable")))
    monkeypatch.setattr(llm, "_cached_locally", lambda name: False)
    model, tok, how = llm.load_forward_model(
        "some-org/encoder", texts, "cpu", vocab_size=300, tiny=dict(hidden=32, layers=1, heads=2)
    )
    assert how.startswith("small BERT-style encoder from scratch") and "unreachable" in how
    # a pretrained encoder saved locally is used as is
    tok.save_pretrained(tmp_path)
    BertModel(
        BertConfig(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
        )
    ).save_pretrained(tmp_path)
    model, tok2, how = llm.load_forward_model(str(tmp_path), texts, "cpu")
    assert how.startswith("pretrained encoder") and model.encoder.config.hidden_size == 32
    assert llm.predict_regressor(model, tok2, texts[:2], "cpu").shape == (2,)
