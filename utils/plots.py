"""Plots every lesson shares: parity plot with MAE, histogram grid, periodic-table heatmap, loss curves."""

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


def table_position(z: int) -> tuple[int, int]:
    """(row, group) of element ``z`` in an 18-column periodic table; lanthanides and actinides in rows 8, 9."""
    if 57 <= z <= 71:
        return 8, z - 57 + 3
    if 89 <= z <= 103:
        return 9, z - 89 + 3
    period_ends = [2, 10, 18, 36, 54, 86, 118]
    period = next(i + 1 for i, end in enumerate(period_ends) if z <= end)
    offset = z - (period_ends[period - 2] + 1 if period > 1 else 1)
    if period == 1:
        return 1, 1 if z == 1 else 18
    if offset < 2:
        return period, offset + 1
    if period in (2, 3):
        return period, offset + 11
    if period in (4, 5):
        return period, offset + 1
    return period, offset - 14 + 1


def periodic_table_heatmap(values: Mapping[str, float], label: str, title: str = "", cmap: str = "viridis"):
    """Colour each element of the periodic table by ``values[symbol]`` (grey where absent)."""
    from ase.data import atomic_numbers

    fig, ax = plt.subplots(figsize=(12, 6))
    finite = [v for v in values.values() if np.isfinite(v)]
    vmin, vmax = (min(finite), max(finite)) if finite else (0.0, 1.0)
    norm = plt.Normalize(vmin, vmax)
    colormap = plt.get_cmap(cmap)
    for symbol, z in atomic_numbers.items():
        if not 1 <= z <= 103:
            continue
        row, col = table_position(z)
        value = values.get(symbol)
        color = colormap(norm(value)) if value is not None and np.isfinite(value) else (0.88, 0.88, 0.88, 1)
        ax.add_patch(plt.Rectangle((col - 0.5, -row - 0.5), 0.95, 0.95, color=color))
        ax.text(col - 0.03, -row, symbol, ha="center", va="center", fontsize=8)
    ax.set_xlim(0.3, 18.7)
    ax.set_ylim(-9.7, -0.3)
    ax.axis("off")
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
    fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.05, pad=0.02, label=label)
    ax.set_title(title)
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


def parity_grid(predictions: dict[str, np.ndarray], y_true: np.ndarray, unit: str, ncols: int = 3):
    """One parity plot per model, in a grid; returns the figure."""
    names = list(predictions)
    fig, axes = _grid(len(names), ncols, panel=(4, 4))
    for ax, name in zip(axes, names):
        parity_plot(y_true, predictions[name], unit=unit, title=name, ax=ax)
    fig.tight_layout()
    return fig
