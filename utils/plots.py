"""Plots every lesson shares: parity plot with MAE, loss curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .metrics import mae


def parity_plot(y_true: Sequence[float], y_pred: Sequence[float], unit: str, title: str = "", ax=None, label: str = ""):
    """Predicted vs true with the y = x line and the MAE (in ``unit``) in the legend; returns the axes."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ax = ax or plt.subplots(figsize=(4.2, 4.2))[1]
    lo, hi = np.nanmin([y_true.min(), y_pred.min()]), np.nanmax([y_true.max(), y_pred.max()])
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="y = x")
    err = mae(y_true, y_pred)
    ax.scatter(y_true, y_pred, s=12, alpha=0.7, label=f"{label + ': ' if label else ''}MAE {err:.3g} {unit}")
    ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel=f"true ({unit})",
           ylabel=f"predicted ({unit})", title=title, aspect="equal")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def loss_curves(history: Mapping[str, Sequence[float]], ylabel: str, title: str = "", ax=None):
    """Plot named per-epoch curves (e.g. {"train": [...], "val": [...]}) on one axes (a new one by default)."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    for name, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend()
    return ax
