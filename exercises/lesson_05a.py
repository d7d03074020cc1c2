"""Checks for notebook 05a (crystal text, T_c data, Alpaca records, forward model)."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from . import blank, check_number, is_blank, verdict


def check_rounding_shift(answer: Any, lattice_mat: Any, step: float = 0.0005) -> bool:
    """The largest displacement (Å) that rounding each fractional coordinate by up to
    ``step`` causes in the cell whose lattice vectors are the rows of
    ``lattice_mat``."""
    corners = step * np.array(list(itertools.product([-1, 1], repeat=3)))
    expected = float(
        np.linalg.norm(corners @ np.asarray(lattice_mat, float), axis=1).max()
    )
    return check_number(
        answer,
        expected,
        "combine the three largest shifts (±0.0005 each) with the lattice "
        "vectors (shift @ lattice_mat) and take the longest result.",
        rtol=1e-3,
        unit="Å",
    )


def check_median_baseline(answer: Any, y_train: Any, y_test: Any) -> bool:
    """Test MAE (K) of always answering the median of the training values."""
    y_train, y_test = np.asarray(y_train, float), np.asarray(y_test, float)
    if is_blank(answer):
        return blank()
    if len(y_test) == 0 or len(y_train) == 0:
        print(
            "No training or test values in this run: there is no baseline to compute."
        )
        return True
    expected = float(np.mean(np.abs(y_test - np.median(y_train))))
    return check_number(
        answer,
        expected,
        "the median of y['train'], then the mean absolute difference to each "
        "test value.",
        unit="K",
    )


def check_record_tokens(
    rec: Any, n_tokens: Any, record: dict, prop: str, tokenizer
) -> bool:
    """An Alpaca record of ``record`` for ``prop`` and the token count of its prompt
    plus output."""
    from utils import llm

    if is_blank(rec) or is_blank(n_tokens):
        return blank()
    if not isinstance(rec, dict) or not {"instruction", "input", "output"} <= set(rec):
        return verdict(
            False,
            "build the record with alpaca_record(my_record, MY_PROP, instruction=...).",
        )
    expected = llm.alpaca_record(record, prop, instruction=rec["instruction"])
    if rec["input"] != expected["input"] or rec["output"] != expected["output"]:
        return verdict(
            False,
            f"the record should state {prop} of the material you picked; "
            "expected the input "
            f"{expected['input'][:70]!r}...",
        )
    count = len(tokenizer(llm.prompt_of(rec) + rec["output"])["input_ids"])
    return check_number(
        n_tokens,
        count,
        "count the ids of tokenizer(prompt_of(my_rec) + my_rec['output']).",
        rtol=0,
        atol=0.5,
        unit="tokens",
    )


def check_val_mae(
    answer: Any, model, predict: Callable, texts: list[str], y_val: Any
) -> bool:
    """Validation MAE (K) of ``model``, recomputed with the notebook's
    ``predict(model, texts)``."""
    y_val = np.asarray(y_val, float)
    if is_blank(answer) or is_blank(model):
        return blank()
    if len(y_val) == 0:
        print("No validation records in this run: nothing to compare.")
        return True
    expected = float(np.mean(np.abs(y_val - predict(model, texts))))
    return check_number(
        answer,
        expected,
        "predict T_c for texts['val'] with your model and average the "
        "absolute differences to y['val'].",
        rtol=1e-3,
        unit="K",
    )
