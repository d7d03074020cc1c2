"""Plumbing of lesson 05 (AtomGPT-style language models): the structure text, Alpaca records, loss and training
loop the lesson writes out first (each docstring says where), the guard against non-physical cells, base models
(pretrained or from scratch), fine-tuning memory, batched generation and the AtomGen-style scoring."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import files, runtime

MIN_DISTANCE_OK = 0.5  # Å: a generated structure with two atoms closer than this is invalid (CDVAE's criterion)
LENGTH_RANGE = (1.0, 100.0)  # Å: other lattice lengths are no crystal a model was asked for (and hang StructureMatcher)
MAX_ATOMS = 200  # most atoms a generated cell may hold


class StructureTextError(ValueError):
    """A structure text could not be turned into a crystal; the message says which line is wrong and why."""


def check_cell(lengths: list[float], angles: list[float], n_atoms: int) -> None:
    """Raise :class:`StructureTextError` unless the cell is physical: lengths within :data:`LENGTH_RANGE` (Å),
    angles strictly between 0 and 180 degrees that close a cell of positive volume, 1 to MAX_ATOMS atoms. NaN
    and infinities fail the range checks."""
    lengths, angles = [float(x) for x in lengths], [float(x) for x in angles]
    lo, hi = LENGTH_RANGE
    if not all(lo <= x <= hi for x in lengths):
        raise StructureTextError(f"Non-physical lattice: lengths must lie between {lo:g} and {hi:g} Å; "
                                 f"found {lengths} Å.")
    if not all(0 < x < 180 for x in angles):
        raise StructureTextError(f"Non-physical lattice: angles must lie between 0 and 180 degrees; found {angles}.")
    ca, cb, cg = (math.cos(math.radians(x)) for x in angles)
    volume = math.prod(lengths) * math.sqrt(max(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg, 0.0))
    if volume <= 1e-3:
        raise StructureTextError(f"Non-positive volume: angles {angles} close no real cell "
                                 f"(volume {volume:.3g} Å³ with lengths {lengths}).")
    if not 1 <= n_atoms <= MAX_ATOMS:
        raise StructureTextError(f"Wrong atom count: {n_atoms} atoms; a cell holds 1 to {MAX_ATOMS}.")


def atoms_to_text(atoms) -> str:
    """AtomGPT's text of a jarvis-tools ``Atoms``: lattice lengths (Å, 2 decimals), angles (degrees,
    integers), one ``El x y z`` line per atom (fractional, 3 decimals). Written out in notebook 05a, section 1."""
    lengths = " ".join(f"{x:.2f}" for x in atoms.lattice.abc)
    angles = " ".join(f"{x:.0f}" for x in atoms.lattice.angles)
    coords = np.round(atoms.frac_coords, 3) + 0.0  # + 0.0 turns -0.000 into 0.000
    sites = [f"{el} {x:.3f} {y:.3f} {z:.3f}" for el, (x, y, z) in zip(atoms.elements, coords)]
    return "\n".join([lengths, angles, *sites])


def _three_numbers(fields: list[str], line_no: int) -> list[float]:
    """Three finite numbers from three text fields, or an error that names the line."""
    if len(fields) != 3:
        raise StructureTextError(f"Line {line_no} must hold 3 numbers: {fields}.")
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise StructureTextError(f"Line {line_no}: non-numeric field in {fields}.") from None
    if not all(math.isfinite(v) for v in values):
        raise StructureTextError(f"Line {line_no}: nan or inf in {fields}.")
    return values


def text_to_atoms(text: str):
    """Parse :func:`atoms_to_text`'s format back into a jarvis-tools ``Atoms``; blank lines and extra spaces are
    ignored. Raises :class:`StructureTextError` saying which line is wrong and why, and refuses non-physical
    cells (:func:`check_cell`). Written out in notebook 05a, section 1."""
    from jarvis.core.atoms import Atoms
    from jarvis.core.lattice import Lattice
    from jarvis.core.specie import chem_data
    lines = [line.split() for line in str(text).strip().splitlines() if line.strip()]
    if len(lines) < 3:
        raise StructureTextError(f"Wrong line count: need lengths, angles and an atom line; found {len(lines)}.")
    lengths, angles = _three_numbers(lines[0], 1), _three_numbers(lines[1], 2)
    check_cell(lengths, angles, n_atoms=len(lines) - 2)
    for i, fields in enumerate(lines[2:], start=3):
        if len(fields) != 4:
            raise StructureTextError(f"Line {i}: an atom line must be 'Element x y z'; found {fields}.")
        if fields[0] not in chem_data:
            raise StructureTextError(f"Line {i}: unknown element {fields[0]!r}.")
    coords = [_three_numbers(fields[1:], i) for i, fields in enumerate(lines[2:], start=3)]
    lattice = Lattice.from_parameters(*lengths, *angles)
    return Atoms(lattice_mat=lattice.matrix, coords=coords, elements=[f[0] for f in lines[2:]], cartesian=False)


def try_parse(text: str) -> tuple[Any, str]:
    """``(atoms, "")`` when :func:`text_to_atoms` parses the text, else ``(None, the reason)``. Written out in
    notebook 05a, section 1."""
    try:
        return text_to_atoms(text), ""
    except StructureTextError as exc:
        return None, str(exc)


OUTPUT_REQUEST = "Generate atomic structure description with lattice lengths, angles, coordinates and atom types."


def alpaca_record(record: dict, prop: str, instruction: str = "Below is a description of a superconductor material."
                  ) -> dict[str, str]:
    """One Alpaca record (``id``, ``instruction``, ``input``, ``output``) of a jarvis-tools record with a value of
    ``prop``: the input states the reduced formula and the value, the output is :func:`atoms_to_text`.
    Written out in notebook 05a, section 3."""
    from .structures import atoms_from_record
    atoms = atoms_from_record(record)
    formula, value = atoms.composition.reduced_formula, float(record[prop])
    return {"id": str(record.get("jid", "")), "instruction": instruction,
            "input": f"The chemical formula is {formula} . The {prop} is {value:.2f}. {OUTPUT_REQUEST}",
            "output": atoms_to_text(atoms)}


def prompt_of(rec: dict[str, str]) -> str:
    """What the model reads before it writes the structure: AtomGPT's Alpaca template with the output left empty.
    Written out in notebook 05a, section 3."""
    return f"### Instruction:\n{rec['instruction']}\n### Input:\n{rec['input']}\n### Output:\n"


def train_tokenizer(texts: list[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on ``texts``, cut at whitespace first (so ``0.500`` can be one token):
    a transformers fast tokenizer with ``<s>`` (BOS, prepended), ``</s>`` (EOS), ``<pad>`` and ``<unk>``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\s+"), behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    bos = ("<s>", tok.token_to_id("<s>"))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[bos])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", model_input_names=["input_ids", "attention_mask"])


def lm_batch(tokenizer, texts: list[str], prompts: list[str] | None = None, max_length: int = 512):
    """``(encoding, labels)`` of prompt + text + EOS, padded on the right; labels are -100 (not scored) on padding
    and on the prompt's tokens. Written out in notebook 05b, section 2."""
    prompts = prompts or [""] * len(texts)
    tokenizer.padding_side = "right"
    enc = tokenizer([p + t + tokenizer.eos_token for p, t in zip(prompts, texts)], return_tensors="pt",
                    padding=True, truncation=True, max_length=max_length, return_token_type_ids=False)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    for row, prompt in enumerate(prompts):
        if prompt:
            labels[row, : len(tokenizer(prompt)["input_ids"])] = -100
    return enc, labels


def lm_loss(model, tokenizer, texts: list[str], prompts: list[str] | None = None, device: str = "cpu",
            batch_size: int = 8) -> float:
    """Mean cross-entropy (nats per scored token) of the texts after their prompts, the forward pass in the
    precision of :func:`utils.runtime.precision_for`; NaN when there is no token to score (no texts).
    Written out in notebook 05b, section 2."""
    import torch
    precision, total, count = runtime.precision_for(device), 0.0, 0
    model.eval()
    with torch.no_grad(), precision.autocast(device):
        for i in range(0, len(texts), batch_size):
            part = slice(i, i + batch_size)
            enc, labels = lm_batch(tokenizer, texts[part], prompts and prompts[part])
            logits = model(**enc.to(device)).logits[:, :-1].float()
            target = labels[:, 1:].to(device)
            total += torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="sum").item()
            count += int((target != -100).sum())
    return total / count if count else float("nan")


def train_lm(model, tokenizer, texts: list[str], prompts: list[str] | None, *, steps: int, lr: float,
             batch_size: int, accumulation: int = 1, device: str = "cpu", precision=None,
             max_length: int = 512) -> list[float]:
    """Next-token training of ``model`` on the texts (after their prompts, when given): AdamW on the trainable
    weights, cosine schedule with 5 % warm-up, ``accumulation`` micro-batches of ``batch_size`` per step,
    gradients clipped to norm 1, the forward pass in ``precision`` (default :func:`utils.runtime.precision_for`;
    fp16 with a gradient scaler). Returns the loss of every step. Written out in notebook 05b, section 2."""
    import torch
    from transformers import get_cosine_schedule_with_warmup
    precision = precision or runtime.precision_for(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, max(1, steps // 20), steps)
    scaler = torch.amp.GradScaler(device, enabled=precision.needs_scaler)
    rng, losses = np.random.default_rng(42), []  # the batches of notebook 05b (SEED = 42)
    model.train()
    for _ in range(steps):
        losses.append(0.0)
        for _ in range(accumulation):
            idx = rng.choice(len(texts), min(batch_size, len(texts)), replace=False)
            enc, labels = lm_batch(tokenizer, [texts[i] for i in idx], prompts and [prompts[i] for i in idx],
                                   max_length)
            with precision.autocast(device):
                loss = model(**enc.to(device), labels=labels.to(device), use_cache=False).loss
            scaler.scale(loss / accumulation).backward()
            losses[-1] += loss.item() / accumulation
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return losses


def training_memory_gb(*, weights_bytes: float, trainable: int, batch_size: int, seq_len: int, vocab_size: int,
                       hidden: int, layers: int, heads: int, compute_bytes: int = 4,
                       checkpointing: bool = False) -> dict[str, float]:
    """Estimated peak memory (GB = 1e9 bytes) of one training step of a decoder-only transformer, by part: ``weights``
    as stored; ``gradients`` (4 bytes) and AdamW's two fp32 ``optimizer`` moments (8 bytes) per trained weight;
    ``activations``: s·b·h·(34 + 5·a·s/h) bytes per layer in 2-byte precision (Korthikanti et al. 2022,
    arXiv:2205.05198) scaled by ``compute_bytes``/2, or with ``checkpointing`` each layer's input (s·b·h values)
    plus one layer recomputed; ``logits``: b·s·V values in the compute precision plus their fp32 copy for the loss
    and its gradient. s = ``seq_len``, b = ``batch_size`` (one micro-batch), h = ``hidden``, a = ``heads``."""
    tokens = batch_size * seq_len
    per_layer = tokens * hidden * (34 + 5 * heads * seq_len / hidden) * compute_bytes / 2
    activations = layers * tokens * hidden * compute_bytes + per_layer if checkpointing else layers * per_layer
    parts = {"weights": weights_bytes, "gradients": 4 * trainable, "optimizer": 8 * trainable,
             "activations": activations, "logits": tokens * vocab_size * (compute_bytes + 8)}
    parts = {k: v / 1e9 for k, v in parts.items()}
    return {**parts, "total": sum(parts.values())}


def model_size(model) -> dict[str, int]:
    """The numbers :func:`training_memory_gb` needs from a causal LM (peft-wrapped or not): bytes of its weights,
    trained weights, vocabulary, hidden size, layers and attention heads (from its config)."""
    c = model.config
    return {"weights_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad), "vocab_size": c.vocab_size,
            "hidden": c.hidden_size, "layers": c.num_hidden_layers, "heads": c.num_attention_heads}


def available_memory_gb(device: str) -> tuple[float | None, str]:
    """Memory a training run may use and where that number comes from: free GPU memory on CUDA, else the memory
    limit of this machine (:func:`utils.runtime.memory_limit_gb`), else None."""
    if str(device).startswith("cuda"):
        import torch
        free, _ = torch.cuda.mem_get_info()
        return free / 1e9, f"free on {torch.cuda.get_device_name()}"
    limit = runtime.memory_limit_gb()
    return limit, ("the memory limit of this machine" if limit else "no memory limit known")


def check_training_memory(estimate: Callable[[int], dict[str, float]], batch_size: int, accumulation: int,
                          available_gb: float | None, what: str) -> dict[str, float]:
    """``estimate(batch_size)`` (GB by part) when its total fits in 85 % of ``available_gb`` (or nothing is known
    about the memory), else a MemoryError that names the setting that fits: the largest smaller micro-batch with
    more accumulation steps (the same effective batch), or what to change when none fits."""
    parts = estimate(batch_size)
    if available_gb is None or parts["total"] <= 0.85 * available_gb:
        return parts
    effective, budget = batch_size * accumulation, 0.85 * available_gb
    fits = [b for b in (2**k for k in range(12))
            if b < batch_size and effective % b == 0 and estimate(b)["total"] <= budget]
    need = f"{what} needs about {parts['total']:.1f} GB at a micro-batch of {batch_size}, "
    need += f"more than 85% of the {available_gb:.1f} GB available. "
    if fits:
        b = max(fits)
        raise MemoryError(need + f"Set BATCH_SIZE = {b} and GRAD_ACCUM = {effective // b} (the same effective "
                          f"batch of {effective}; about {estimate(b)['total']:.1f} GB) in the parameters cell.")
    raise MemoryError(need + "Even a micro-batch of 1 does not fit: turn on gradient checkpointing, shorten "
                      "MAX_LENGTH, use LoRA with LOAD_IN_4BIT = True, or choose a smaller BASE_MODEL.")


def hub_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the Hugging Face hub (``HF_ENDPOINT``) answers within ``timeout`` s; never when offline is set."""
    endpoint = runtime.env("HF_ENDPOINT") or "https://huggingface.co"
    return files.reachable(endpoint, timeout, offline_vars=("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def pretrained_or_scratch(name: str | None, timeout: float, pretrained: Callable[[bool, str], Any],
                          scratch: Callable[[str], Any]):
    """``pretrained(local_files_only, reason)`` if model ``name`` loads, else ``scratch(reason)``. Decided by
    trying: a local folder is loaded as is; a hub name from the hub when it answers (which completes a partial
    cache), else from the local cache alone. A load that should have worked (folder or reachable hub) and
    failed warns before the model from scratch is built."""
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
    """A pretrained causal LM and its tokenizer, on the CPU with fp32 weights (mixed precision is for the compute
    only: half-precision weights would lose most small updates); 4 bit (QLoRA, on the GPU) only on a CUDA GPU
    with bitsandbytes, computing in the precision of :func:`utils.runtime.precision_for`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    notes, kwargs = [], {"local_files_only": local_files_only, "dtype": torch.float32}
    if load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
            if device != "cuda":
                raise RuntimeError("4-bit loading needs a CUDA GPU")
            compute = runtime.precision_for(device).dtype or torch.float32
            kwargs["device_map"], kwargs["quantization_config"] = {"": 0}, BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute)
        except Exception as exc:  # bitsandbytes missing or no GPU
            notes.append(f"4-bit loading skipped ({exc}); the model is loaded with fp32 weights")
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    if "quantization_config" in kwargs:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model)
        notes.append("loaded in 4 bit (QLoRA)")
    return model, tokenizer, notes


def load_base_model(name: str | None, train_texts: list[str], device: str, vocab_size: int = 512,
                    tiny: dict[str, int] | None = None, load_in_4bit: bool = False, timeout: float = 3.0) -> BaseModel:
    """The pretrained causal LM ``name`` (hub name or folder) when it loads (see :func:`pretrained_or_scratch`),
    else a tokenizer trained on ``train_texts`` and a small Llama with random weights (``tiny``: hidden, layers,
    heads). The model stays on the CPU (a 4-bit model on the GPU): the lesson moves it to the device to train."""
    def pretrained(local_files_only: bool, reason: str) -> BaseModel:
        model, tokenizer, notes = _load_causal_lm(name, device, load_in_4bit, local_files_only)
        return BaseModel(model, tokenizer, "pretrained", name, reason, notes)

    def scratch(reason: str) -> BaseModel:
        from transformers import LlamaConfig, LlamaForCausalLM
        tokenizer = train_tokenizer(train_texts, vocab_size=vocab_size)
        size = {"hidden": 128, "layers": 4, "heads": 4, **(tiny or {})}
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=size["hidden"], intermediate_size=4 * size["hidden"],
            num_hidden_layers=size["layers"], num_attention_heads=size["heads"], num_key_value_heads=size["heads"],
            max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
        model = LlamaForCausalLM(config)
        return BaseModel(model, tokenizer, "scratch", "small Llama-style model (random weights)", reason)

    return pretrained_or_scratch(name, timeout, pretrained, scratch)


def generate(model, tokenizer, prompts: list[str], device: str, max_new_tokens: int = 400, batch_size: int = 8
             ) -> list[str]:
    """The text each prompt is greedily continued with (prompt and special tokens removed)."""
    import torch
    model.eval()
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            enc = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True,
                            return_token_type_ids=False).to(device)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                     top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=tokenizer.eos_token_id)
            texts += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [t.strip() for t in texts]


def min_distance(atoms) -> float:
    """Shortest interatomic distance (Å) with periodic images, including an atom and its own image."""
    structure = atoms.pymatgen_converter()
    dist = structure.lattice.get_all_distances(structure.frac_coords, structure.frac_coords)
    np.fill_diagonal(dist, np.inf)  # an atom and its own image: the shortest lattice vector, below
    return float(min(dist.min(), *structure.lattice.get_lll_reduced_lattice().abc))


def evaluate_one(atoms, reason: str, truth) -> dict[str, Any]:
    """Every metric of one generated structure (``atoms``, or None with the parser's ``reason``) against the
    true ``Atoms``. The cell is checked with :func:`check_cell` first, whoever parsed it; a structure with atoms
    closer than ``MIN_DISTANCE_OK`` is never matched. ``rms``: the RMS displacement (normalised by (V/N)^(1/3))
    when pymatgen's StructureMatcher with the AtomGen benchmark's tolerances matches the two, else None."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    try:
        if atoms is not None:
            with np.errstate(over="ignore", invalid="ignore"):  # a 1e200 Å cell overflows to inf: rejected here
                check_cell(atoms.lattice.abc, atoms.lattice.angles, atoms.num_atoms)
    except StructureTextError as exc:
        atoms, reason = None, str(exc)
    if atoms is None:
        return {"parsed": False, "reason": reason}
    formula, distance, rms = atoms.composition.reduced_formula, min_distance(atoms), None
    row = {"parsed": True, "reason": reason, "formula": formula,
           "composition_match": formula == truth.composition.reduced_formula,
           "min_distance": distance, "valid_distance": distance > MIN_DISTANCE_OK}
    # only valid structures are matched, as in CDVAE's scoring: overlapping atoms keep the matcher busy for minutes
    if row["composition_match"] and row["valid_distance"]:
        try:
            rms = StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10).get_rms_dist(
                atoms.pymatgen_converter(), truth.pymatgen_converter())
        except Exception:  # degenerate cells can make the matcher fail; that is "no match"
            pass
    row["matched"], row["rms"] = rms is not None, None if rms is None else float(rms[0])
    row["lattice_mae"] = float(np.abs(np.subtract(atoms.lattice.abc, truth.lattice.abc)).mean())  # Å
    row["angle_mae"] = float(np.abs(np.subtract(atoms.lattice.angles, truth.lattice.angles)).mean())  # degrees
    return row


def evaluate_generated(parsed: list[tuple[Any, str]], truths: list) -> tuple[Any, dict[str, float]]:
    """Per-structure table and summary of generated structures (one ``(atoms or None, reason)`` pair per text, from
    :func:`try_parse`), as the leaderboard's AtomGen benchmark scores them (:func:`evaluate_one`). Summary:
    ``parse_rate``, ``composition_match``, ``valid_distance``, ``match_rate`` as fractions of *all* targets (NaN
    when there are none); ``rmse`` over matched pairs; ``lattice_mae`` (Å, and its median: one absurd cell can
    dominate the mean) and ``angle_mae`` (degrees) over parsed outputs."""
    import pandas as pd
    if len(parsed) != len(truths):
        raise ValueError(f"Need one truth per generated structure; got {len(parsed)} structures, {len(truths)} truths.")
    columns = ["parsed", "reason", "formula", "composition_match", "min_distance", "valid_distance", "matched", "rms",
               "lattice_mae", "angle_mae"]  # an unparsed row has NaN in the columns after "reason"
    rows = [evaluate_one(atoms, why, truth) for (atoms, why), truth in zip(parsed, truths)]
    table = pd.DataFrame(rows, columns=columns)
    rates = {"parse_rate": "parsed", "composition_match": "composition_match", "valid_distance": "valid_distance",
             "match_rate": "matched"}  # fractions of all targets; means skip NaN
    lattice = table["lattice_mae"]
    summary = {"n": len(table), **{k: float(table[col].eq(True).mean()) for k, col in rates.items()},
               "rmse": float(table["rms"].mean()), "lattice_mae": float(lattice.mean()),
               "lattice_mae_median": float(lattice.median()), "angle_mae": float(table["angle_mae"].mean())}
    return table, summary
