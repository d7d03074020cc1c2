"""Language models for crystals, AtomGPT-style: structures as text, forward and inverse models.

Built directly on the Hugging Face stack (transformers, tokenizers, peft, trl); the PyPI ``atomgpt``
package is not used. What lives here:

* the AtomGPT structure text (lattice lengths, angles, one ``Element x y z`` line per atom) and a strict
  parser back to a jarvis-tools ``Atoms`` (:class:`StructureTextError` says what is wrong);
* Alpaca records (``instruction``, ``input``, ``output``) for any property, and XRD-peak prompts;
* a byte-level BPE tokenizer trained locally, small Llama/BERT-style models built from scratch;
* the base-model switch: a pretrained hub model + LoRA when the hub is reachable (checked quickly, never
  hangs offline), else a small Llama-style model trained from scratch;
* a text -> property regressor (forward model) and causal-LM fine-tuning with trl (inverse model);
* generation and the JARVIS-leaderboard style evaluation of generated structures.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

# --------------------------------------------------------------------------------------------------
# 1. Structures as text
# --------------------------------------------------------------------------------------------------

ALPACA_PROMPT = "### Instruction:\n{}\n### Input:\n{}\n### Output:\n{}"
"""The prompt template of AtomGPT's inverse model (instruction, input, output)."""

INSTRUCTION = "Below is a description of a superconductor material."
OUTPUT_REQUEST = "Generate atomic structure description with lattice lengths, angles, coordinates and atom types."

MATCHER_KWARGS = {"stol": 0.5, "ltol": 0.3, "angle_tol": 10}
"""StructureMatcher tolerances of the CDVAE / JARVIS-leaderboard AtomGen benchmark."""

MIN_DISTANCE_OK = 0.5
"""Å. A generated structure with two atoms closer than this is counted as invalid (CDVAE's criterion)."""


class StructureTextError(ValueError):
    """A structure text could not be turned into a crystal; the message says which line is wrong and why."""


def _known_elements() -> set[str]:
    from jarvis.core.specie import chem_data

    return set(chem_data)


def atoms_to_text(atoms, length_decimals: int = 2, angle_decimals: int = 0, coord_decimals: int = 3) -> str:
    """The AtomGPT text of a jarvis-tools ``Atoms``.

    Line 1: lattice lengths a b c (Å); line 2: angles alpha beta gamma (degrees); then one
    ``Element x y z`` line per atom with fractional coordinates. AtomGPT writes lengths with 2 decimals,
    angles as integers and coordinates with 3 decimals; the defaults do the same (angles are rounded,
    not truncated as ``int()`` would do: 59.9999° becomes 60, not 59).
    """
    lengths = " ".join(f"{x:.{length_decimals}f}" for x in atoms.lattice.abc)
    angles = " ".join(f"{x:.{angle_decimals}f}" for x in atoms.lattice.angles)
    frac = np.asarray(atoms.frac_coords, dtype=float)
    lines = [f"{el} " + " ".join(f"{x:.{coord_decimals}f}" for x in row) for el, row in zip(atoms.elements, frac)]
    return "\n".join([lengths, angles, *lines])


def _numbers(line: str, line_no: int, what: str, count: int) -> list[float]:
    fields = line.split()
    if len(fields) != count:
        raise StructureTextError(
            f"Line {line_no} ({what}) must hold {count} numbers; found {len(fields)} fields: {line!r}."
        )
    values = []
    for f in fields:
        try:
            value = float(f)
        except ValueError:
            raise StructureTextError(f"Line {line_no} ({what}): {f!r} is not a number (non-numeric field).") from None
        if not math.isfinite(value):
            raise StructureTextError(f"Line {line_no} ({what}): {f!r} is not a finite number (non-numeric field).")
        values.append(value)
    return values


def cell_volume(lengths: list[float], angles_deg: list[float]) -> float:
    """Volume (Å³) of the cell with these lattice lengths and angles; <= 0 when no such cell exists."""
    a, b, c = lengths
    ca, cb, cg = (math.cos(math.radians(x)) for x in angles_deg)
    disc = 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg
    if disc <= 0:
        return 0.0 if disc == 0 else -math.sqrt(-disc) * a * b * c
    return a * b * c * math.sqrt(disc)


def text_to_atoms(text: str, max_atoms: int = 500, min_volume: float = 1e-3):
    """Parse an AtomGPT structure text back into a jarvis-tools ``Atoms`` (fractional coordinates).

    Blank lines and surrounding whitespace are ignored. Raises :class:`StructureTextError` with the reason
    for: too few lines (wrong line count), a lengths/angles line without exactly three numbers, an atom
    line that is not ``Element x y z``, an unknown element, a non-numeric or infinite field, a
    non-positive length, an angle outside (0, 180), angles that close no cell, a volume <= ``min_volume``
    (non-positive volume) or more than ``max_atoms`` atoms.
    """
    from jarvis.core.atoms import Atoms
    from jarvis.core.lattice import Lattice

    if not isinstance(text, str):
        raise StructureTextError(f"Expected the structure as a string, found {type(text).__name__}.")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) < 3:
        raise StructureTextError(
            f"Wrong line count: a structure needs at least 3 lines (lengths, angles, one atom); found {len(lines)}."
        )
    if len(lines) - 2 > max_atoms:
        raise StructureTextError(f"Wrong line count: {len(lines) - 2} atom lines, more than max_atoms={max_atoms}.")
    lengths = _numbers(lines[0], 1, "lattice lengths a b c", 3)
    angles = _numbers(lines[1], 2, "lattice angles alpha beta gamma", 3)
    if min(lengths) <= 0:
        raise StructureTextError(f"Line 1: lattice lengths must be positive; found {lengths} (non-positive volume).")
    if not all(0 < x < 180 for x in angles):
        raise StructureTextError(f"Line 2: lattice angles must lie between 0 and 180 degrees; found {angles}.")
    volume = cell_volume(lengths, angles)
    if volume <= min_volume:
        raise StructureTextError(
            f"Non-positive volume: lengths {lengths} and angles {angles} give a cell volume of {volume:.3g} Å³ "
            f"(need > {min_volume} Å³; these angles close no real cell)."
        )
    known = _known_elements()
    elements, coords = [], []
    for i, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if len(fields) != 4:
            raise StructureTextError(
                f"Line {i}: an atom line must be 'Element x y z' (4 fields); found {len(fields)}: {line!r}."
            )
        if fields[0] not in known:
            raise StructureTextError(f"Line {i}: unknown element {fields[0]!r} (expected a symbol such as 'Nb').")
        elements.append(fields[0])
        coords.append(_numbers(" ".join(fields[1:]), i, f"fractional coordinates of {fields[0]}", 3))
    lattice = Lattice.from_parameters(*lengths, *angles)
    return Atoms(lattice_mat=lattice.matrix, coords=np.array(coords), elements=elements, cartesian=False)


def try_parse(text: str) -> tuple[Any, str]:
    """``(atoms, "")`` when ``text`` parses, else ``(None, reason)``."""
    try:
        return text_to_atoms(text), ""
    except StructureTextError as exc:
        return None, str(exc)


# --------------------------------------------------------------------------------------------------
# 2. Alpaca records and prompts
# --------------------------------------------------------------------------------------------------


def make_input(formula: str, prop: str, value: float, decimals: int = 2) -> str:
    """The ``input`` of an AtomGPT record: formula, property value and the request for a structure."""
    return f"The chemical formula is {formula} . The {prop} is {value:.{decimals}f}. {OUTPUT_REQUEST}"


def alpaca_record(record: dict[str, Any], prop: str, instruction: str = INSTRUCTION, decimals: int = 2) -> dict:
    """One Alpaca record (id, instruction, input, output) from a jarvis-tools record with a value for ``prop``."""
    from .structures import atoms_from_record

    atoms = atoms_from_record(record)
    value = float(record[prop])
    return {
        "id": record.get("jid", ""),
        "instruction": instruction,
        "input": make_input(atoms.composition.reduced_formula, prop, value, decimals),
        "output": atoms_to_text(atoms),
        "value": value,
    }


def alpaca_records(records: list[dict[str, Any]], prop: str, instruction: str = INSTRUCTION) -> list[dict]:
    """Alpaca records of every record whose ``prop`` holds a number (``"na"`` skipped)."""
    from .data import is_missing

    return [alpaca_record(r, prop, instruction) for r in records if not is_missing(r.get(prop))]


def prompt_of(rec: dict[str, Any]) -> str:
    """The text the model sees before it writes the structure (the Alpaca prompt, output left empty)."""
    return ALPACA_PROMPT.format(rec["instruction"], rec["input"], "")


def to_prompt_completion(recs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """trl's prompt-completion format: the loss is computed on the completion (the structure) only."""
    return [{"prompt": prompt_of(r), "completion": r["output"]} for r in recs]


def xrd_peaks(atoms, n_peaks: int = 10, thetas: tuple[float, float] = (0.0, 90.0)) -> list[tuple[float, float]]:
    """The ``n_peaks`` strongest simulated Cu K-alpha XRD peaks (2θ in degrees rounded to 0.1, intensity
    relative to the strongest), sorted by 2θ. Simulated with jarvis-tools' ``XRD``; reflections that fall
    on the same rounded angle are summed."""
    from jarvis.analysis.diffraction.xrd import XRD

    two_theta, _, intensity = XRD(thetas=list(thetas)).simulate(atoms=atoms)
    if len(two_theta) == 0:
        return []
    # XRD lists each (hkl) reflection separately; reflections at the same angle add up to one measured peak
    merged: dict[float, float] = {}
    for t, i in zip(np.round(np.asarray(two_theta, float), 1), np.asarray(intensity, float)):
        merged[float(t)] = merged.get(float(t), 0.0) + float(i)
    strongest = max(merged.values())
    top = sorted(merged.items(), key=lambda kv: -kv[1])[:n_peaks]
    return sorted((t, i / strongest) for t, i in top)


def xrd_record(record: dict[str, Any], n_peaks: int = 10) -> dict:
    """An Alpaca record whose input carries the formula and the top XRD peaks (the DiffractGPT idea)."""
    from .structures import atoms_from_record

    atoms = atoms_from_record(record)
    peaks = ", ".join(f"{t:.1f}({i:.2f})" for t, i in xrd_peaks(atoms, n_peaks))
    return {
        "id": record.get("jid", ""),
        "instruction": "Below is a description of a material and its X-ray diffraction pattern.",
        "input": (
            f"The chemical formula is {atoms.composition.reduced_formula} . The top XRD peaks, 2theta in degrees "
            f"(relative intensity), are {peaks}. {OUTPUT_REQUEST}"
        ),
        "output": atoms_to_text(atoms),
    }


# --------------------------------------------------------------------------------------------------
# 3. Tokenizer and models built from scratch
# --------------------------------------------------------------------------------------------------

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]


def train_tokenizer(texts: list[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on ``texts``.

    Text is first cut at whitespace, so a token never spans two fields and frequent whole numbers such as
    ``0.500`` or ``90`` become single tokens (short sequences help a small model trained from scratch).

    Returned as a transformers fast tokenizer with ``<s>`` (BOS, prepended), ``</s>`` (EOS) and ``<pad>``.
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
        special_tokens=SPECIAL_TOKENS,
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


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


# --------------------------------------------------------------------------------------------------
# 4. The base-model switch: pretrained hub model + LoRA, or a small model from scratch
# --------------------------------------------------------------------------------------------------


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the Hugging Face hub answers a TCP connection within ``timeout`` seconds, and why (not).

    Returns at once when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set. The probe (DNS lookup
    included) runs in a daemon thread, so a stuck resolver can never hang the caller past ``timeout``.
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if _env_true(var):
            return False, f"{var}=1 is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host, port = parsed.hostname or "huggingface.co", parsed.port or (80 if parsed.scheme == "http" else 443)
    result: dict[str, Any] = {}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if result.get("ok"):
        return True, f"{host}:{port} answered in {time.monotonic() - start:.1f} s"
    if "error" in result:
        return False, f"{host}:{port} unreachable ({type(result['error']).__name__}: {result['error']})"
    return False, f"no answer from {host}:{port} within {timeout:.0f} s"


def _cached_locally(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:
        return False


def resolve_base_model(base_model: str | None, timeout: float = 3.0) -> tuple[str, str]:
    """Decide where the inverse model starts: ``("pretrained", why)`` or ``("scratch", why)``.

    Pretrained when ``base_model`` is a local folder, is already in the Hugging Face cache, or the hub
    is reachable; from scratch when ``base_model`` is empty or none of these holds.
    """
    if not base_model:
        return "scratch", "no BASE_MODEL given"
    if Path(base_model).is_dir():
        return "pretrained", f"local folder {base_model}"
    if _cached_locally(base_model):
        return "pretrained", f"{base_model} found in the local Hugging Face cache"
    ok, why = hub_reachable(timeout)
    if ok:
        return "pretrained", f"hub reachable ({why})"
    return "scratch", f"hub not reachable: {why}"


@dataclass
class BaseModel:
    """A causal LM ready for fine-tuning, with its tokenizer and how it was obtained."""

    model: Any
    tokenizer: Any
    kind: str  # "pretrained+lora" or "scratch"
    name: str
    reason: str
    trainable: int = 0
    total: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        frac = 100.0 * self.trainable / max(self.total, 1)
        return (
            f"{self.kind}: {self.name} ({self.reason}); trainable parameters {self.trainable:,} of "
            f"{self.total:,} ({frac:.2f} %)"
        )


def load_pretrained_lora(
    name: str,
    device: str,
    lora_r: int = 16,
    lora_alpha: int = 16,
    load_in_4bit: bool = False,
    local_files_only: bool = False,
) -> tuple[Any, Any, list[str]]:
    """A pretrained causal LM from the hub (or a local folder) wrapped with LoRA adapters (peft).

    4-bit loading (bitsandbytes, QLoRA) is used only when asked, on a CUDA device, with bitsandbytes
    installed; otherwise a note says why it was skipped.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    notes = []
    kwargs: dict[str, Any] = {"local_files_only": local_files_only}
    if device == "cuda":
        kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quantized = False
    if load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig

            if device != "cuda":
                raise RuntimeError("4-bit loading needs a CUDA GPU")
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=kwargs["dtype"]
            )
            quantized = True
        except Exception as exc:  # bitsandbytes missing or no GPU
            notes.append(f"4-bit loading skipped ({exc}); the model is loaded in {kwargs.get('dtype', 'float32')}")
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
        notes.append("loaded in 4 bit (QLoRA)")
    elif device == "cuda":
        model = model.to(device)
    config = LoraConfig(
        r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    model = get_peft_model(model, config)
    return model, tokenizer, notes


def _pretrained_or_scratch(base_model: str | None, timeout: float, pretrained, scratch, fallback: str):
    """``pretrained(local_files_only, reason)`` when :func:`resolve_base_model` finds ``base_model``, else
    ``scratch(reason)``; a pretrained load that fails warns (``fallback`` says what happens instead) and
    falls back to ``scratch``. The one place where both the forward and the inverse model choose."""
    where, reason = resolve_base_model(base_model, timeout)
    if where == "pretrained":
        try:
            return pretrained(not reason.startswith("hub"), reason)
        except Exception as exc:  # download interrupted, gated model, not an encoder, out of memory, ...
            warnings.warn(f"Could not load {base_model} ({exc}); {fallback}.", stacklevel=3)
            reason = f"loading {base_model} failed: {type(exc).__name__}"
    return scratch(reason)


def load_base_model(
    base_model: str | None,
    train_texts: list[str],
    device: str,
    vocab_size: int = 512,
    tiny: dict[str, int] | None = None,
    lora_r: int = 16,
    load_in_4bit: bool = False,
    timeout: float = 3.0,
) -> BaseModel:
    """The starting point of the inverse model.

    Pretrained ``base_model`` + LoRA when :func:`resolve_base_model` says it is available; otherwise (or
    if loading fails) a tokenizer trained on ``train_texts`` and a small Llama-style model from scratch
    (``tiny`` = keyword arguments of :func:`tiny_llama`), all of whose weights are trained.
    """

    def pretrained(local_files_only: bool, reason: str) -> BaseModel:
        model, tokenizer, notes = load_pretrained_lora(
            base_model, device, lora_r=lora_r, load_in_4bit=load_in_4bit, local_files_only=local_files_only
        )
        trainable, total = count_parameters(model)
        return BaseModel(model, tokenizer, "pretrained+lora", base_model, reason, trainable, total, notes)

    def scratch(reason: str) -> BaseModel:
        tokenizer = train_tokenizer(train_texts, vocab_size=vocab_size)
        model = tiny_llama(tokenizer, **(tiny or {})).to(device)
        trainable, total = count_parameters(model)
        return BaseModel(
            model, tokenizer, "scratch", "small Llama-style model (random init)", reason, trainable, total, []
        )

    return _pretrained_or_scratch(
        base_model, timeout, pretrained, scratch, "training a small model from scratch instead"
    )


# --------------------------------------------------------------------------------------------------
# 5. Inverse model: causal-LM fine-tuning with trl, then generation
# --------------------------------------------------------------------------------------------------


def train_causal_lm(
    base: BaseModel,
    train_recs: list[dict[str, Any]],
    output_dir: str | Path,
    max_steps: int,
    batch_size: int = 8,
    learning_rate: float = 1e-3,
    max_length: int = 1024,
    device: str = "cpu",
    logging_steps: int = 5,
    seed: int = 42,
) -> list[dict[str, float]]:
    """Fine-tune ``base.model`` on the Alpaca records with trl's ``SFTTrainer`` (loss on the structure only).

    Returns the trainer's log history (one dict per logging step with ``step`` and ``loss``).
    """
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*is deprecated.*", category=FutureWarning)
    args = SFTConfig(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, max_steps // 20),
        weight_decay=0.0,
        logging_steps=logging_steps,
        save_strategy="no",
        report_to="none",
        max_length=max_length,
        bf16=use_bf16,
        fp16=False,
        gradient_checkpointing=False,
        use_cpu=device != "cuda",
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    dataset = Dataset.from_list(to_prompt_completion(train_recs))
    trainer = SFTTrainer(model=base.model, args=args, train_dataset=dataset, processing_class=base.tokenizer)
    trainer.train()
    return [h for h in trainer.state.log_history if "loss" in h]


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
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    texts: list[str] = []
    try:
        for start in tqdm(range(0, len(prompts), batch_size), desc="Generating", leave=False):
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


# --------------------------------------------------------------------------------------------------
# 6. Evaluation of generated structures (JARVIS-leaderboard AtomGen style)
# --------------------------------------------------------------------------------------------------


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

    matcher = StructureMatcher(**MATCHER_KWARGS)
    try:
        rms = matcher.get_rms_dist(generated.pymatgen_converter(), truth.pymatgen_converter())
    except Exception:  # degenerate cells can make the matcher fail; that is "no match"
        return None
    return None if rms is None else float(rms[0])


def lattice_errors(generated, truth) -> tuple[float, float]:
    """Mean absolute errors of (a, b, c) in Å and of (alpha, beta, gamma) in degrees, as written in the text."""
    da = np.abs(np.subtract(generated.lattice.abc, truth.lattice.abc)).mean()
    dg = np.abs(np.subtract(generated.lattice.angles, truth.lattice.angles)).mean()
    return float(da), float(dg)


def evaluate_one(generated_text: str, truth) -> dict[str, Any]:
    """Every metric of one generated structure text against the true ``Atoms``."""
    atoms, reason = try_parse(generated_text)
    row: dict[str, Any] = {"parsed": atoms is not None, "reason": reason}
    if atoms is None:
        return row
    row["formula"] = atoms.composition.reduced_formula
    row["composition_match"] = row["formula"] == truth.composition.reduced_formula
    row["min_distance"] = min_distance(atoms)
    row["valid_distance"] = row["min_distance"] > MIN_DISTANCE_OK
    rms = match_structures(atoms, truth) if row["composition_match"] else None
    row["matched"], row["rms"] = rms is not None, rms
    row["lattice_mae"], row["angle_mae"] = lattice_errors(atoms, truth)
    return row


def evaluate_generated(generated_texts: list[str], truths: list) -> tuple[Any, dict[str, float]]:
    """Per-structure table and summary, as the JARVIS leaderboard's AtomGen benchmark reports it.

    Summary (fractions of *all* targets unless said otherwise): ``parse_rate``, ``composition_match``,
    ``valid_distance`` (min distance > 0.5 Å), ``match_rate`` (StructureMatcher stol 0.5, ltol 0.3,
    angle_tol 10), ``rmse`` (mean normalised RMS displacement over matched pairs), ``lattice_mae`` (Å,
    also ``lattice_mae_median``: one absurd cell can dominate the mean) and ``angle_mae`` (degrees) over
    parsed outputs.
    """
    import pandas as pd

    if len(generated_texts) != len(truths):
        raise ValueError(
            f"Need one truth per generated text; found {len(generated_texts)} texts, {len(truths)} truths."
        )
    table = pd.DataFrame([evaluate_one(t, a) for t, a in zip(generated_texts, truths)])
    n = len(table)
    parsed = table[table["parsed"]] if n else table

    def frac(col: str) -> float:
        return float(parsed[col].sum()) / n if n and col in parsed else 0.0

    matched = parsed[parsed["matched"].astype(bool)] if "matched" in parsed else parsed.iloc[:0]
    summary = {
        "n": n,
        "parse_rate": float(table["parsed"].mean()) if n else 0.0,
        "composition_match": frac("composition_match"),
        "valid_distance": frac("valid_distance"),
        "match_rate": frac("matched"),
        "rmse": float(matched["rms"].mean()) if len(matched) else float("nan"),
        "lattice_mae": float(parsed["lattice_mae"].mean()) if len(parsed) else float("nan"),
        "lattice_mae_median": float(parsed["lattice_mae"].median()) if len(parsed) else float("nan"),
        "angle_mae": float(parsed["angle_mae"].mean()) if len(parsed) else float("nan"),
    }
    return table, summary


def mean_lattice_baseline(train_atoms: list, test_atoms: list) -> tuple[float, float]:
    """Lattice MAE (Å) and angle MAE (degrees) of always answering the training set's mean a, b, c and
    angles: the "MAD baseline" of the lattice-parameter error."""
    abc = np.mean([a.lattice.abc for a in train_atoms], axis=0)
    ang = np.mean([a.lattice.angles for a in train_atoms], axis=0)
    da = np.mean([np.abs(np.subtract(a.lattice.abc, abc)).mean() for a in test_atoms])
    dg = np.mean([np.abs(np.subtract(a.lattice.angles, ang)).mean() for a in test_atoms])
    return float(da), float(dg)


# --------------------------------------------------------------------------------------------------
# 7. Forward model: text -> property with a transformer encoder and a regression head
# --------------------------------------------------------------------------------------------------


def describe_text(atoms) -> str:
    """jarvis-tools' natural-language description of a crystal (``Atoms.describe()["desc_2"]``): formula,
    space group, bond lengths, lattice and the strongest XRD peaks."""
    return atoms.describe()["desc_2"]


def build_text_regressor(
    tokenizer,
    hidden: int = 128,
    layers: int = 4,
    heads: int = 4,
    max_positions: int = 512,
    base_model: str | None = None,
    local_files_only: bool = False,
):
    """A transformer encoder (pretrained ``base_model`` via ``AutoModel``, or a small BERT from scratch)
    followed by masked mean pooling and a two-layer regression head."""
    import torch
    from torch import nn

    if base_model:
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(base_model, local_files_only=local_files_only)
    else:
        from transformers import BertConfig, BertModel

        encoder = BertModel(
            BertConfig(
                vocab_size=len(tokenizer),
                hidden_size=hidden,
                num_hidden_layers=layers,
                num_attention_heads=heads,
                intermediate_size=4 * hidden,
                max_position_embeddings=max_positions,
                pad_token_id=tokenizer.pad_token_id,
            ),
            add_pooling_layer=False,
        )
    size = encoder.config.hidden_size

    class TextRegressor(nn.Module):
        """Encoder -> mean over real tokens -> MLP -> one number (in standardised units)."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = nn.Sequential(nn.Linear(size, size), nn.GELU(), nn.Linear(size, 1))
            self.register_buffer("y_mean", torch.zeros(()))
            self.register_buffer("y_std", torch.ones(()))

        def forward(self, input_ids, attention_mask):
            hidden_states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
            pooled = (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return TextRegressor()


def load_forward_model(
    base_model: str | None,
    train_texts: list[str],
    device: str,
    vocab_size: int = 512,
    tiny: dict[str, int] | None = None,
    timeout: float = 3.0,
) -> tuple[Any, Any, str]:
    """``(model, tokenizer, description)`` of the forward model: a pretrained encoder (``base_model``, e.g.
    ``"distilbert/distilbert-base-cased"``) when :func:`resolve_base_model` finds it, else a tokenizer
    trained on ``train_texts`` and a small BERT from scratch (``tiny`` = hidden, layers, heads)."""

    def pretrained(local_files_only: bool, reason: str):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base_model, local_files_only=local_files_only)
        model = build_text_regressor(tokenizer, base_model=base_model, local_files_only=local_files_only)
        return model.to(device), tokenizer, f"pretrained encoder {base_model} ({reason})"

    def scratch(reason: str):
        tokenizer = train_tokenizer(train_texts, vocab_size=vocab_size)
        model = build_text_regressor(tokenizer, **(tiny or {}))
        return model.to(device), tokenizer, f"small BERT-style encoder from scratch ({reason})"

    return _pretrained_or_scratch(base_model, timeout, pretrained, scratch, "using a small encoder from scratch")


def _batches(n: int, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def _encode(tokenizer, texts: list[str], max_length: int, device: str):
    """A padded, truncated batch of ``texts`` for the text regressor, on ``device``."""
    return tokenizer(
        texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length, return_token_type_ids=False
    ).to(device)


def predict_regressor(
    model, tokenizer, texts: list[str], device: str, batch_size: int = 32, max_length: int = 512
) -> np.ndarray:
    """Predictions of a :func:`build_text_regressor` model, in the units of the target."""
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for idx in _batches(len(texts), batch_size, None):
            enc = _encode(tokenizer, [texts[i] for i in idx], max_length, device)
            out = model(enc["input_ids"], enc["attention_mask"])
            preds.append((out * model.y_std + model.y_mean).float().cpu().numpy())
    return np.concatenate(preds) if preds else np.zeros(0)


def train_regressor(
    model,
    tokenizer,
    train_texts: list[str],
    y_train: list[float],
    val_texts: list[str],
    y_val: list[float],
    device: str,
    epochs: int = 10,
    batch_size: int = 16,
    learning_rate: float = 3e-4,
    max_length: int = 512,
    seed: int = 42,
) -> dict[str, list[float]]:
    """Train with an L1 loss on the standardised target (MAE is the metric); keep the weights of the epoch
    with the lowest validation MAE. Returns ``{"train": [...], "val": [...]}`` MAEs per epoch."""
    import copy

    import torch
    from tqdm.auto import tqdm

    y = torch.tensor(y_train, dtype=torch.float32)
    model.y_mean.fill_(float(y.mean()))
    model.y_std.fill_(float(y.std()) if len(y) > 1 and float(y.std()) > 0 else 1.0)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    steps = epochs * math.ceil(len(train_texts) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=max(steps, 1), pct_start=0.1
    )
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"train": [], "val": []}
    best, best_state = float("inf"), None
    for _ in tqdm(range(epochs), desc="Forward model epochs"):
        model.train()
        total, count = 0.0, 0
        for idx in _batches(len(train_texts), batch_size, rng):
            enc = _encode(tokenizer, [train_texts[i] for i in idx], max_length, device)
            target = ((y[idx] - model.y_mean.cpu()) / model.y_std.cpu()).to(device)
            loss = torch.nn.functional.l1_loss(model(enc["input_ids"], enc["attention_mask"]), target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx) * float(model.y_std)
            count += len(idx)
        history["train"].append(total / max(count, 1))
        val_mae = float(
            np.mean(
                np.abs(
                    predict_regressor(model, tokenizer, val_texts, device, max_length=max_length) - np.asarray(y_val)
                )
            )
        )
        history["val"].append(val_mae)
        if val_mae < best:
            best, best_state = val_mae, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
