"""tools/gpu_smoke.py: its CPU parts run here; its GPU rows say they were skipped (they run on a GPU machine)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "gpu_smoke.py"


@pytest.fixture(scope="module")
def smoke():
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_run_prints_its_rows_and_names_the_skipped_gpu_checks(smoke, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIMS_MODE", "fast")
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)
    assert smoke.main(["--device", "cpu", "--out", str(tmp_path / "rows.json")]) == 0
    rows = {row["check"]: row for row in json.loads((tmp_path / "rows.json").read_text())}
    assert rows["device and precision"]["precision"] == "fp32"
    assert rows["two fp32 ALIGNN evaluations"]["equal to 1e-5"] is True
    update = next(row for name, row in rows.items() if name.startswith("weights one full fine-tuning step"))
    assert update["fp32 weights"] > 0.9 > update["same step in bf16 weights"]  # why trainable weights stay fp32
    skipped = [row for row in rows.values() if row.get("result") == "skipped: no CUDA device"]
    assert len(skipped) == 2
    assert "skipped: no CUDA device" in capsys.readouterr().out


def test_the_fine_tuning_model_has_qwen_0_5b_size(smoke):
    """The memory row stands for the lesson's hub model only if the random model has its size (0.49 B weights)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    with __import__("torch").device("meta"):
        model = Qwen2ForCausalLM(Qwen2Config(**smoke.QWEN_0_5B))
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(494e6, rel=0.01)
