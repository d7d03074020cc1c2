"""A five-minute smoke test of the GPU paths of the lessons, printed as one table.

    python tools/gpu_smoke.py            # on a machine with a CUDA GPU (CPU-only parts run anywhere)
    python tools/gpu_smoke.py --out smoke.json

Rows (a GPU row says "skipped: no CUDA device" without one):
* the device, its compute capability and the precision ``utils.runtime.precision_for`` chooses;
* notebook 05's first fine-tuning step with the lesson's GPU settings (batch 4, 4 accumulation steps, gradient
  checkpointing, fp32 trainable weights, autocast) on a Qwen2.5-0.5B-sized model with random weights (no
  download needed), for LoRA and full fine-tuning at sequence lengths 256 and 512:
  ``torch.cuda.max_memory_allocated`` against the 14.7 GiB a Colab T4 offers, beside ``utils.llm``'s estimate;
* the fraction of the fp32 master weights that one full fine-tuning step at lr 2e-5 changes, and the fraction
  the same step would change in bf16 weights (why trainable weights stay in fp32);
* two fp32 evaluations of the same ALIGNN weights, equal to 1e-5 (CPU and GPU);
* one training epoch of ALIGNN: the lesson's loop against alignn's trainer, same precision (GPU only).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

T4_BUDGET_GIB = 14.7  # what Colab's T4 leaves to PyTorch
QWEN_0_5B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True)


def precision_row(device: str) -> dict:
    import torch

    from utils import runtime

    precision = runtime.precision_for(device)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    capability = ".".join(map(str, torch.cuda.get_device_capability(0))) if device == "cuda" else "-"
    return {"check": "device and precision", "device": name, "compute capability": capability,
            "precision": precision.name, "gradient scaler": precision.needs_scaler}


def qwen_sized_model(device: str):
    """A Qwen2.5-0.5B-shaped causal LM with random weights, fp32, on ``device``."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    return Qwen2ForCausalLM(Qwen2Config(**QWEN_0_5B)).to(device)


def fine_tune_step(device: str, method: str, seq_len: int, batch: int = 4, accumulation: int = 4) -> dict:
    """One optimizer step of notebook 05's fine-tuning with its GPU settings; peak memory in GiB."""
    import torch
    from peft import LoraConfig, get_peft_model

    from utils import runtime

    precision = runtime.precision_for(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = qwen_sized_model(device)
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    if method == "lora":
        model.enable_input_require_grads()
        target = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules=target, task_type="CAUSAL_LM"))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-4 if method == "lora" else 2e-5)
    scaler = torch.amp.GradScaler("cuda", enabled=precision.needs_scaler)
    start = time.perf_counter()
    for _ in range(accumulation):
        ids = torch.randint(0, QWEN_0_5B["vocab_size"], (batch, seq_len), device=device)
        with precision.autocast(device):
            loss = model(input_ids=ids, labels=ids).loss / accumulation
        scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**30
    row = {"check": f"05 fine-tuning step ({method}, {batch}x{accumulation}, {seq_len} tokens)",
           "peak GiB": round(peak, 2), "T4 budget GiB": T4_BUDGET_GIB, "fits a T4": peak < T4_BUDGET_GIB,
           "seconds": round(time.perf_counter() - start, 2), "trainable": sum(p.numel() for p in params)}
    del model, optimizer
    torch.cuda.empty_cache()
    return row


def fp32_update_fraction(device: str, lr: float = 2e-5) -> dict:
    """Share of weights one AdamW step at ``lr`` changes, kept in fp32 and rounded to bf16 (a small model)."""
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Linear(512, 512).to(device)
    before = layer.weight.detach().clone()
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=0.0)
    layer(torch.randn(64, 512, device=device)).pow(2).mean().backward()
    optimizer.step()
    after = layer.weight.detach()
    changed_fp32 = (after != before).float().mean().item()
    changed_bf16 = (after.bfloat16() != before.bfloat16()).float().mean().item()
    return {"check": f"weights one full fine-tuning step changes (lr {lr:g})", "fp32 weights": round(changed_fp32, 3),
            "same step in bf16 weights": round(changed_bf16, 3)}


def alignn_eval_row(device: str) -> dict:
    """Two fp32 evaluations of one ALIGNN model on the shipped sample agree to 1e-5."""
    import numpy as np

    from utils import gnn, load_dataset

    records = load_dataset("dft_3d", verbose=False)[:24]
    cfg = gnn.GNNConfig(alignn_layers=2, gcn_layers=2, hidden_features=64, embedding_features=32, batch_size=8)
    dataset = gnn.build_graphs(records, "formation_energy_peratom", cfg)
    model = gnn.make_model(cfg).to(device)
    first, second = gnn.predict(model, dataset, device), gnn.predict(model, dataset, device)
    spread = float(np.max(np.abs(first - second)))
    return {"check": "two fp32 ALIGNN evaluations", "device": device, "max difference eV/atom": spread,
            "equal to 1e-5": spread <= 1e-5}


def alignn_epoch_row(device: str) -> dict:
    """Seconds of one epoch: the lesson's loop (utils.gnn.train_loop) and alignn's trainer, both fp32."""
    from utils import alignn_trainer, gnn, load_dataset, runtime
    from utils.leaderboard import split_records

    split = split_records(load_dataset("dft_3d", verbose=False), "formation_energy_peratom")
    cfg = gnn.GNNConfig(epochs=1, batch_size=32)
    data, split = gnn.split_graphs(split, "formation_energy_peratom", cfg)
    fp32 = runtime.precision_for("cpu")
    loop = gnn.train_loop(gnn.make_model(cfg), data["train"], data["val"], cfg, device, fp32)
    with tempfile.TemporaryDirectory() as tmp:
        run = alignn_trainer.train(split, "formation_energy_peratom", cfg, Path(tmp))
    return {"check": "one ALIGNN epoch, fp32", "train structures": len(split["train"]),
            "lesson's loop s": round(loop["train seconds"], 1), "alignn's trainer s": round(run.train_seconds, 1)}


def rows(device: str) -> list[dict]:
    out = [precision_row(device), fp32_update_fraction(device), alignn_eval_row(device)]
    gpu_checks = [lambda: fine_tune_step(device, m, n) for m in ("lora", "full") for n in (256, 512)]
    gpu_checks.append(lambda: alignn_epoch_row(device))
    if device != "cuda":
        names = ["05 fine-tuning step, peak memory vs a T4", "one ALIGNN epoch: loop vs alignn's trainer"]
        return out + [{"check": name, "result": "skipped: no CUDA device"} for name in names]
    for check in gpu_checks:
        try:
            out.append(check())
        except Exception as exc:  # report and go on: the table is the smoke test's result
            out.append({"check": getattr(check, "__name__", "check"), "error": f"{type(exc).__name__}: {exc}"})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the rows as JSON")
    parser.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda when there is one")
    args = parser.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    table = rows(device)
    for row in table:
        print(" | ".join(f"{k}: {v}" for k, v in row.items()))
    if args.out:
        args.out.write_text(json.dumps(table, indent=1))
    return 1 if any("error" in row for row in table) else 0


if __name__ == "__main__":
    sys.exit(main())
