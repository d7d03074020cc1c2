"""Checks for notebook 05b (pretraining, LoRA, scoring generated structures)."""

from __future__ import annotations

import math
from typing import Any

from . import blank, check_number, is_blank, verdict


def check_lora_count(lora_numbers: Any, full_numbers: Any, layer, r: int) -> bool:
    """Numbers LoRA trains beside one linear layer at rank ``r`` (r·(d + k)), and the
    layer's own d·k."""
    if is_blank(lora_numbers) or is_blank(full_numbers):
        return blank()
    d, k = layer.out_features, layer.in_features
    if not check_number(
        full_numbers,
        d * k,
        "the weight matrix is out_features x in_features.",
        rtol=0,
        atol=0.5,
    ):
        return False
    return check_number(
        lora_numbers,
        r * (d + k),
        f"A is r x k and B is d x r: r·(d + k) with r = {r}.",
        rtol=0,
        atol=0.5,
    )


def check_perplexity(
    model_ppl: Any, uniform_ppl: Any, loss: float, vocab_size: int
) -> bool:
    """Perplexity e^loss of the model, and of a uniform guess over ``vocab_size``
    tokens."""
    if is_blank(model_ppl) or is_blank(uniform_ppl):
        return blank()
    if not check_number(
        uniform_ppl,
        vocab_size,
        "a uniform guess hesitates between every token: e^(ln V) = V.",
        rtol=1e-6,
    ):
        return False
    if math.isnan(loss):
        print("No test records in this run: the model's perplexity cannot be computed.")
        return True
    return check_number(
        model_ppl,
        math.exp(loss),
        "the perplexity is e to the power of the loss (in nats).",
        rtol=1e-4,
    )


def check_validity(answer: Any, text: str) -> bool:
    """Whether a generated text is a valid structure: it parses and every distance is
    above 0.5 Å."""
    from utils import llm

    if is_blank(answer):
        return blank()
    atoms, why = llm.try_parse(text)
    valid = atoms is not None and llm.min_distance(atoms) > llm.MIN_DISTANCE_OK
    if not isinstance(answer, (bool,)) and type(answer).__name__ != "bool_":
        return verdict(False, "answer True or False.")
    reason = why or (
        "every distance is above 0.5 Å"
        if valid
        else "it parses, but two atoms are closer than 0.5 Å"
    )
    return verdict(bool(answer) == valid, f"look again: {reason}.", f"({reason})")
