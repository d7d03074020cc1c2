"""Plumbing of notebook 05 (AtomGPT-style language models); the lesson (structure text, parser, prompts,
pretraining, LoRA and SFT set-up, forward regressor, XRD peaks, STEM images) is written in the notebook. Here:
the guard against non-physical cells (:func:`check_cell`); base models that are pretrained when they load
(hub first, then the local cache) or built from scratch (:func:`load_base_model`, :func:`load_encoder`);
batched generation; the JARVIS-Leaderboard AtomGen-style scoring of generated structures.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import runtime

MATCHER_KWARGS = {"stol": 0.5, "ltol": 0.3, "angle_tol": 10}
"""StructureMatcher tolerances of the CDVAE / JARVIS-leaderboard AtomGen benchmark."""

MIN_DISTANCE_OK = 0.5
"""Å. A generated structure with two atoms closer than this is counted as invalid (CDVAE's criterion)."""

LENGTH_RANGE = (1.0, 100.0)
"""Å. Lattice lengths outside this range are not a crystal a model was asked for (and hang StructureMatcher)."""

MAX_ATOMS = 200
"""Most atoms a generated cell may hold (the lesson's cells hold a few tens at most)."""


class StructureTextError(ValueError):
    """A structure text could not be turned into a crystal; the message says which line is wrong and why."""


def cell_volume(lengths: list[float], angles_deg: list[float]) -> float:
    """Volume (Å³) of the cell with these lattice lengths and angles; <= 0 when no such cell exists."""
    a, b, c = lengths
    ca, cb, cg = (math.cos(math.radians(x)) for x in angles_deg)
    disc = 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg
    if disc <= 0:
        return 0.0 if disc == 0 else -math.sqrt(-disc) * a * b * c
    return a * b * c * math.sqrt(disc)


def check_cell(lengths: list[float], angles: list[float], n_atoms: int, max_atoms: int = MAX_ATOMS) -> None:
    """Raise :class:`StructureTextError` unless the cell is physical.

    Physical: finite lengths within :data:`LENGTH_RANGE` (Å), angles strictly between 0 and 180 degrees
    that close a cell of positive volume, and 1 to ``max_atoms`` atoms.
    """
    lengths, angles = [float(x) for x in lengths], [float(x) for x in angles]
    lo, hi = LENGTH_RANGE
    if not all(math.isfinite(x) for x in lengths + angles):
        raise StructureTextError(f"Non-physical lattice: lengths {lengths} and angles {angles} must be finite.")
    if not all(lo <= x <= hi for x in lengths):
        raise StructureTextError(
            f"Non-physical lattice: lengths must lie between {lo:g} and {hi:g} Å; found {lengths} Å."
        )
    if not all(0 < x < 180 for x in angles):
        raise StructureTextError(f"Non-physical lattice: angles must lie between 0 and 180 degrees; found {angles}.")
    volume = cell_volume(lengths, angles)
    if volume <= 1e-3:
        raise StructureTextError(
            f"Non-positive volume: angles {angles} close no real cell (volume {volume:.3g} Å³ with lengths {lengths})."
        )
    if not 1 <= n_atoms <= max_atoms:
        raise StructureTextError(f"Wrong atom count: {n_atoms} atoms; a cell holds 1 to max_atoms={max_atoms}.")


def train_tokenizer(texts: list[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on ``texts``, cut at whitespace first (so ``0.500`` can be one token).

    A transformers fast tokenizer with ``<s>`` (BOS, prepended), ``</s>`` (EOS), ``<pad>`` and ``<unk>``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\s+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
    )


def tiny_llama(tokenizer, hidden: int = 128, layers: int = 4, heads: int = 4, max_positions: int = 1024):
    """A small Llama-style causal LM with random weights, sized for ``tokenizer``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def hub_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the Hugging Face hub (``HF_ENDPOINT``) answers within ``timeout`` s; never when offline is set."""
    endpoint = runtime.env("HF_ENDPOINT") or "https://huggingface.co"
    return runtime.reachable(endpoint, timeout, offline_vars=("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def pretrained_or_scratch(
    name: str | None, timeout: float, pretrained: Callable[[bool, str], Any], scratch: Callable[[str], Any]
):
    """``pretrained(local_files_only, reason)`` if model ``name`` loads, else ``scratch(reason)``.

    Decided by trying, not by looking for a cache folder: a local folder is loaded as is; a hub name is
    loaded from the hub when it answers (the cache is used and completed there, so a partial cache is
    no obstacle), else from the local cache alone. A load that should have worked (folder or reachable
    hub) and failed warns before the model from scratch is built.
    """
    if not name:
        return scratch("no base model given")
    folder = Path(name).is_dir()
    if folder:
        attempts = [(True, f"local folder {name}")]
    else:
        ok, why = hub_reachable(timeout)
        attempts = [(False, f"from the hub ({why})")] if ok else []
        attempts.append((True, f"from the local Hugging Face cache (hub: {why})"))
    failures = []
    for local_only, reason in attempts:
        try:
            return pretrained(local_only, reason)
        except Exception as exc:  # not cached, download interrupted, gated model, out of memory, ...
            failures.append(f"{reason}: {type(exc).__name__}")
            if folder or not local_only:  # a model missing from the cache is expected; these failures are news
                warnings.warn(f"Could not load {name} {reason} ({exc}).", stacklevel=3)
    return scratch(f"could not load {name}: " + "; ".join(failures))


@dataclass
class BaseModel:
    """A causal LM ready for fine-tuning, its tokenizer, and how it was obtained."""

    model: Any
    tokenizer: Any
    kind: str  # "pretrained" or "scratch"
    name: str
    reason: str
    notes: list[str] = field(default_factory=list)


def _load_causal_lm(name: str, device: str, load_in_4bit: bool, local_files_only: bool) -> tuple[Any, Any, list]:
    """A pretrained causal LM and its tokenizer; 4 bit (QLoRA) only on a CUDA GPU with bitsandbytes."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    notes, kwargs = [], {"local_files_only": local_files_only}
    if device == "cuda":
        kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig

            if device != "cuda":
                raise RuntimeError("4-bit loading needs a CUDA GPU")
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=kwargs["dtype"]
            )
        except Exception as exc:  # bitsandbytes missing or no GPU
            notes.append(f"4-bit loading skipped ({exc}); the model is loaded in {kwargs.get('dtype', 'float32')}")
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    if "quantization_config" in kwargs:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
        notes.append("loaded in 4 bit (QLoRA)")
    elif device == "cuda":
        model = model.to(device)
    return model, tokenizer, notes


def load_base_model(
    name: str | None,
    train_texts: list[str],
    device: str,
    vocab_size: int = 512,
    tiny: dict[str, int] | None = None,
    load_in_4bit: bool = False,
    timeout: float = 3.0,
) -> BaseModel:
    """The pretrained causal LM ``name`` (hub name or folder) when it loads (see :func:`pretrained_or_scratch`),
    else a tokenizer trained on ``train_texts`` and :func:`tiny_llama` (``tiny``: its keyword arguments)."""

    def pretrained(local_files_only: bool, reason: str) -> BaseModel:
        model, tokenizer, notes = _load_causal_lm(name, device, load_in_4bit, local_files_only)
        return BaseModel(model, tokenizer, "pretrained", name, reason, notes)

    def scratch(reason: str) -> BaseModel:
        tokenizer = train_tokenizer(train_texts, vocab_size=vocab_size)
        model = tiny_llama(tokenizer, **(tiny or {})).to(device)
        return BaseModel(model, tokenizer, "scratch", "small Llama-style model (random weights)", reason)

    return pretrained_or_scratch(name, timeout, pretrained, scratch)


def load_encoder(
    name: str | None,
    train_texts: list[str],
    device: str,
    vocab_size: int = 512,
    tiny: dict[str, int] | None = None,
    timeout: float = 3.0,
    max_positions: int = 512,
) -> tuple[Any, Any, str]:
    """``(encoder, tokenizer, description)`` for the forward model: the pretrained encoder ``name`` (e.g.
    ``"distilbert/distilbert-base-cased"``) when it loads, else a tokenizer trained on ``train_texts`` and a
    small BERT from scratch (``tiny`` = hidden, layers, heads)."""

    def pretrained(local_files_only: bool, reason: str):
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
        encoder = AutoModel.from_pretrained(name, local_files_only=local_files_only)
        return encoder.to(device), tokenizer, f"pretrained encoder {name} ({reason})"

    def scratch(reason: str):
        from transformers import BertConfig, BertModel

        size = {"hidden": 128, "layers": 4, "heads": 4, **(tiny or {})}
        tokenizer = train_tokenizer(train_texts, vocab_size=vocab_size)
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=size["hidden"],
            num_hidden_layers=size["layers"],
            num_attention_heads=size["heads"],
            intermediate_size=4 * size["hidden"],
            max_position_embeddings=max_positions,
            pad_token_id=tokenizer.pad_token_id,
        )
        encoder = BertModel(config, add_pooling_layer=False)
        return encoder.to(device), tokenizer, f"small BERT-style encoder from scratch ({reason})"

    return pretrained_or_scratch(name, timeout, pretrained, scratch)


def generate(
    model,
    tokenizer,
    prompts: list[str],
    device: str,
    max_new_tokens: int = 400,
    batch_size: int = 8,
    do_sample: bool = False,
    temperature: float = 0.7,
    seed: int = 42,
) -> list[str]:
    """The text each prompt is continued with (prompt and special tokens removed). Greedy by default."""
    import torch

    torch.manual_seed(seed)
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            enc = tokenizer(batch, return_tensors="pt", padding=True, return_token_type_ids=False).to(device)
            with torch.no_grad():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=do_sample,
                    temperature=temperature if do_sample else None,
                    top_p=None,
                    top_k=None,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            texts += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [t.strip() for t in texts]


def min_distance(atoms) -> float:
    """Shortest interatomic distance (Å) with periodic images, including an atom and its own image."""
    structure = atoms.pymatgen_converter()
    lattice = structure.lattice
    shortest_vector = float(min(lattice.get_lll_reduced_lattice().abc))
    if len(structure) < 2:
        return shortest_vector
    dist = lattice.get_all_distances(structure.frac_coords, structure.frac_coords)
    np.fill_diagonal(dist, np.inf)
    return float(min(dist.min(), shortest_vector))


def match_structures(generated, truth) -> float | None:
    """RMS displacement (normalised by (V/N)^(1/3), as pymatgen reports it) when pymatgen's
    StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10) matches the two structures, else None."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    try:
        rms = StructureMatcher(**MATCHER_KWARGS).get_rms_dist(
            generated.pymatgen_converter(), truth.pymatgen_converter()
        )
    except Exception:  # degenerate cells can make the matcher fail; that is "no match"
        return None
    return None if rms is None else float(rms[0])


def evaluate_one(atoms, reason: str, truth) -> dict[str, Any]:
    """Every metric of one generated structure (``atoms``, or None with the parser's ``reason``) against the
    true ``Atoms``. The cell is checked with :func:`check_cell` first, whoever parsed it; a structure with atoms
    closer than ``MIN_DISTANCE_OK`` is never matched (the structure matcher is not run)."""
    if atoms is not None:
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # a 1e200 Å cell overflows to inf: rejected below
                check_cell(atoms.lattice.abc, atoms.lattice.angles, atoms.num_atoms)
        except StructureTextError as exc:
            atoms, reason = None, str(exc)
    row: dict[str, Any] = {"parsed": atoms is not None, "reason": reason}
    if atoms is None:
        return row
    row["formula"] = atoms.composition.reduced_formula
    row["composition_match"] = row["formula"] == truth.composition.reduced_formula
    row["min_distance"] = min_distance(atoms)
    row["valid_distance"] = row["min_distance"] > MIN_DISTANCE_OK
    # only valid structures are matched, as in CDVAE's scoring: overlapping atoms keep the matcher busy for minutes
    rms = match_structures(atoms, truth) if row["composition_match"] and row["valid_distance"] else None
    row["matched"], row["rms"] = rms is not None, rms
    row["lattice_mae"] = float(np.abs(np.subtract(atoms.lattice.abc, truth.lattice.abc)).mean())  # Å
    row["angle_mae"] = float(np.abs(np.subtract(atoms.lattice.angles, truth.lattice.angles)).mean())  # degrees
    return row


def evaluate_generated(parsed: list[tuple[Any, str]], truths: list) -> tuple[Any, dict[str, float]]:
    """Per-structure table and summary of generated structures, as the leaderboard's AtomGen benchmark scores them.

    ``parsed`` holds one ``(atoms or None, reason)`` pair per generated text (the notebook's parser).
    Summary (fractions of *all* targets): ``parse_rate``, ``composition_match``, ``valid_distance`` (min
    distance > 0.5 Å), ``match_rate`` (StructureMatcher stol 0.5, ltol 0.3, angle_tol 10, on valid structures);
    ``rmse`` (mean normalised RMS displacement over matched pairs); over parsed outputs ``lattice_mae`` (Å; also
    ``lattice_mae_median``, as one absurd cell can dominate the mean) and ``angle_mae`` (degrees).
    """
    import pandas as pd

    if len(parsed) != len(truths):
        raise ValueError(
            f"Need one truth per generated structure; found {len(parsed)} structures, {len(truths)} truths."
        )
    table = pd.DataFrame([evaluate_one(atoms, why, truth) for (atoms, why), truth in zip(parsed, truths)])
    n = len(table)
    ok = table[table["parsed"]] if n else table

    def frac(col: str) -> float:
        return float(ok[col].sum()) / n if n and col in ok else 0.0

    def over_parsed(col: str, how: str) -> float:
        return float(getattr(ok[col], how)()) if len(ok) else float("nan")

    matched = ok[ok["matched"].astype(bool)] if "matched" in ok else ok.iloc[:0]
    summary = {
        "n": n,
        "parse_rate": float(table["parsed"].mean()) if n else 0.0,
        "composition_match": frac("composition_match"),
        "valid_distance": frac("valid_distance"),
        "match_rate": frac("matched"),
        "rmse": float(matched["rms"].mean()) if len(matched) else float("nan"),
        "lattice_mae": over_parsed("lattice_mae", "mean"),
        "lattice_mae_median": over_parsed("lattice_mae", "median"),
        "angle_mae": over_parsed("angle_mae", "mean"),
    }
    return table, summary
