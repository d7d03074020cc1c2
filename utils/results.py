"""The results card that ends every lesson: the learner's numbers beside their baseline, a reference with its
source and the measured workshop run, written to ``<outputs>/<lesson>/results.json`` so that a teacher can collect
the cards of a class (``python tools/collect_cards.py <folders>``)."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import runtime
from .files import write_atomically


@dataclass
class Result:
    """One row of a results card: ``key`` names the metric in ``results.json``; ``value`` None or NaN shows as not
    computed; ``baseline`` and ``reference`` are ``(value, label)`` pairs, e.g. ``(mad, "MAD: predict the mean")``."""
    key: str
    value: float | int | None
    unit: str
    what: str
    baseline: tuple[float | None, str] | None = None
    reference: tuple[float | None, str] | None = None


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return float(value) if math.isfinite(float(value)) else None


def _shown(value: Any, unit: str) -> str:
    if (value := _number(value)) is None:
        return "not computed in this run"
    text = f"{value:d}" if isinstance(value, int) else f"{value:.4g}"
    return f"{text} {unit}".strip()


def _pair(pair: tuple[float | None, str] | None, unit: str) -> str:
    return "" if pair is None else f"{_shown(pair[0], unit)} ({pair[1]})"


def card_path(lesson: str) -> Path:
    """Where the card of ``lesson`` is written: ``<outputs>/<lesson>/results.json``."""
    return runtime.outputs_dir(lesson) / "results.json"


def results_card(results: list[Result]):
    """Show the card of the running lesson (``utils.setup`` first) as a table, write its ``results.json``
    (``{"lesson", "mode", "device", "seconds", "metrics": {key: value}}``) and return the table."""
    import pandas as pd
    session = runtime.session()
    if session is None:
        raise RuntimeError("Run the setup cell (utils.setup) first: the card records the lesson, mode and time.")
    if not results:
        raise ValueError("A results card needs at least one Result.")
    bench = runtime.workshop_benchmark()
    measured = bench.get("lessons", {}).get(session.lesson, {}).get("metrics", {})
    rows = [{"result": r.what, "this run": _shown(r.value, r.unit), "baseline": _pair(r.baseline, r.unit),
             "reference": _pair(r.reference, r.unit),
             "workshop benchmark": _shown(measured[r.key], r.unit) if r.key in measured else ""} for r in results]
    card = {"lesson": session.lesson, "mode": session.mode, "device": session.device,
            "seconds": round(session.seconds, 1), "metrics": {r.key: _number(r.value) for r in results}}
    path = card_path(session.lesson)
    try:
        write_atomically(path, json.dumps(card, indent=1))
    except OSError as exc:  # a read-only or full disk: the card is still shown
        warnings.warn(f"Could not write {path} ({exc}); set AIMS_OUTPUT_DIR to a writable folder.", stacklevel=2)
    where = f"; workshop benchmark: {bench['machine']}, {bench['date']}" if "machine" in bench else ""
    print(f"{session.lesson}, {session.mode} mode on {session.device}, {card['seconds']:.0f} s; "
          f"card written to {path}{where}")
    return pd.DataFrame(rows).set_index("result")
