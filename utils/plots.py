"""Plots every lesson shares: parity plot with MAE, histogram grid, loss curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .metrics import mae


def parity_plot(
    y_true: Sequence[float],
    y_pred: Sequence[float],
    unit: str,
    title: str = "",
    ax=None,
    label: str = "",
):
    """Predicted vs true with the y = x line and the MAE (in ``unit``) in the legend; returns the axes."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2))
    lo, hi = np.nanmin([y_true.min(), y_pred.min()]), np.nanmax([y_true.max(), y_pred.max()])
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="y = x")
    err = mae(y_true, y_pred)
    ax.scatter(y_true, y_pred, s=12, alpha=0.7, label=f"{label + ': ' if label else ''}MAE {err:.3g} {unit}")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(f"true ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def _grid(n: int, ncols: int, panel: tuple[float, float]):
    """A figure with ``n`` panels of ``panel`` inches in rows of ``ncols``; the unused cells switched off."""
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def histogram_grid(
    columns: Mapping[str, Sequence[float]], units: Mapping[str, str] | None = None, ncols: int = 3, bins: int = 40
):
    """One histogram per entry of ``columns`` (name -> values, NaN dropped), labelled with units."""
    units = units or {}
    names = list(columns)
    fig, axes = _grid(len(names), ncols, panel=(4, 3))
    for ax, name in zip(axes, names):
        values = np.asarray(columns[name], dtype=float)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.8)
        unit = units.get(name, "")
        ax.set_xlabel(f"{name} ({unit})" if unit and unit != "–" else name)
        ax.set_ylabel("count")
        ax.set_title(f"{name}: n = {len(values)}", fontsize=9)
    fig.tight_layout()
    return fig






def loss_curves(history: Mapping[str, Sequence[float]], ylabel: str, title: str = "", ax=None):
    """Plot named per-epoch curves (e.g. {"train": [...], "val": [...]}) on one axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return ax
