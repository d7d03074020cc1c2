"""Benchmark: alignn's own trainer vs the readable loop of ``utils.gnn``, same data, config and time budget.

    python -m utils.gnn_benchmark                      # paper config on a GPU, a small config on a CPU
    python -m utils.gnn_benchmark --preset paper --epochs 50
    python -m utils.gnn_benchmark --preset small --max-structures 300 --threads 1

Three runs on the machine it runs on, all on the JARVIS-Leaderboard split carried by the records
(offline: the dft_3d subset of ``AIMS_DATA_DIR``):

1. the reference path, ``train_for_folder`` (``neighbor_strategy: "pure_torch"``), for ``--epochs``;
2. our loop with the same config and epochs (throughput at the same config);
3. our loop under the same time budget: the wall time of run 1 (which includes alignn's graph
   building), minus our own graph building; as many epochs as fit, by the per-epoch time of run 2.

It prints test MAEs (with the MAD baseline) and training throughputs in structures per second
(training epochs only, validation excluded) and their ratio.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np

from . import gnn
from .data import load_dataset
from .metrics import mad, mae
from .properties import unit_of
from .runtime import get_device, outputs_dir, package_versions

PRESETS = {
    "paper": {"alignn_layers": 4, "gcn_layers": 4, "hidden_features": 256, "batch_size": 64, "epochs": 50},
    "small": {"alignn_layers": 2, "gcn_layers": 2, "hidden_features": 64, "batch_size": 32, "epochs": 5},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--property", default="formation_energy_peratom")
    parser.add_argument(
        "--preset", choices=["auto", *PRESETS], default="auto", help="auto: paper on a GPU, small on a CPU"
    )
    parser.add_argument(
        "--max-structures",
        type=int,
        default=None,
        help="seeded subset of the split (default: all; small preset on CPU: 300)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--amp", choices=["auto", "on", "off"], default="auto", help="bf16 autocast in our loop (auto: GPUs with bf16)"
    )
    parser.add_argument("--seed", type=int, default=123)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    import torch

    args = parse_args(argv)
    t_start = time.perf_counter()
    device = get_device(verbose=False)
    preset = args.preset if args.preset != "auto" else ("paper" if device == "cuda" else "small")
    settings = dict(PRESETS[preset])
    if args.epochs:
        settings["epochs"] = args.epochs
    if args.batch_size:
        settings["batch_size"] = args.batch_size
    max_structures = args.max_structures
    if max_structures is None and preset == "small" and device == "cpu":
        max_structures = 300
    if args.threads:
        torch.set_num_threads(args.threads)
    amp = {"auto": "auto", "on": True, "off": False}[args.amp]
    cfg = gnn.GNNConfig(seed=args.seed, **settings)
    prop, unit = args.property, unit_of(args.property)

    name = (
        torch.cuda.get_device_name(0)
        if device == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads)"
    )
    print(f"Device: {name}; " + ", ".join(f"{k} {v}" for k, v in package_versions(["torch", "alignn"]).items()))
    records = load_dataset("dft_3d")
    split = gnn.property_split(records, prop, max_structures=max_structures, seed=args.seed)
    print(f"Config ({preset}): {cfg}")
    out = outputs_dir("gnn_benchmark")

    # graphs for our loop, built once; structures with an empty graph are left out of both paths
    t0 = time.perf_counter()
    data, split = gnn.build_split_graphs(split, prop, cfg, progress=False)
    graph_seconds = time.perf_counter() - t0
    sizes = {k: len(v) for k, v in split.items()}
    base = mad(gnn.targets(split["train"], prop), gnn.targets(split["test"], prop))
    print(f"{prop}: split {sizes['train']}/{sizes['val']}/{sizes['test']}, MAD baseline {base:.4f} {unit}")

    # 1. reference path
    ref = gnn.train_reference(split, prop, cfg, out / "reference")
    print(
        f"[1] alignn train_for_folder: test MAE {ref.test_mae:.4f} {unit}, {ref.structures_per_s:.1f} structures/s, "
        f"training epochs {ref.train_seconds:.1f} s, wall {ref.total_seconds:.1f} s (incl. graph building)"
    )

    # 2. our loop, same config and epochs
    model = gnn.make_model(cfg)
    res = gnn.train_model(model, data["train"], data["val"], cfg, device=device, amp=amp, progress=False)
    loop_mae = mae(data["test"].y, gnn.predict(model, data["test"], device, amp=amp))
    print(
        f"[2] our loop ({res.amp}), same epochs: test MAE {loop_mae:.4f} {unit}, "
        f"{res.structures_per_s:.1f} structures/s, training epochs {res.train_seconds:.1f} s, "
        f"wall {res.total_seconds + graph_seconds:.1f} s (graphs {graph_seconds:.1f} s)"
    )

    # 3. our loop, same wall-time budget as the reference
    budget = ref.total_seconds - graph_seconds
    per_epoch = res.total_seconds / max(res.epochs_run, 1)
    epochs = max(1, math.floor(budget / per_epoch))
    cfg_budget = gnn.GNNConfig(**{**cfg.__dict__, "epochs": epochs})
    model_b = gnn.make_model(cfg_budget)
    res_b = gnn.train_model(
        model_b, data["train"], data["val"], cfg_budget, device=device, amp=amp, max_seconds=budget, progress=False
    )
    budget_mae = mae(data["test"].y, gnn.predict(model_b, data["test"], device, amp=amp))
    print(
        f"[3] our loop ({res_b.amp}), same time budget ({ref.total_seconds:.1f} s wall): {res_b.epochs_run} epochs, "
        f"test MAE {budget_mae:.4f} {unit}, {res_b.structures_per_s:.1f} structures/s"
    )

    ratio = res.structures_per_s / ref.structures_per_s
    print(f"\nThroughput ratio, our loop / alignn trainer, same config on {name}: {ratio:.2f}x")
    print(
        f"Test MAE ({unit}): alignn trainer {ref.test_mae:.4f}, our loop {loop_mae:.4f} (same epochs), "
        f"{budget_mae:.4f} (same time budget); MAD {base:.4f}"
    )
    return {
        "device": name,
        "split": sizes,
        "mad": base,
        "reference": {"test_mae": ref.test_mae, "structures_per_s": ref.structures_per_s, "wall_s": ref.total_seconds},
        "loop": {"test_mae": loop_mae, "structures_per_s": res.structures_per_s, "amp": res.amp},
        "loop_same_budget": {"test_mae": budget_mae, "epochs": res_b.epochs_run},
        "ratio": ratio,
        "seconds": float(np.round(time.perf_counter() - t_start, 1)),
    }


if __name__ == "__main__":
    main()
