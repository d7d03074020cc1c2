"""Force fields for notebooks 06 and 07 (eV, Å, eV/Å, GPa): mlearn records as checked ``FFConfig`` objects with the
JARVIS-Leaderboard split; ALIGNN-FF trained by alignn's own trainer (reused on an exact match) and its calculator."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .files import Record
from .runtime import get_device, outputs_dir


class ForceFieldError(ValueError):
    """Bad input to a force-field helper; the message says what was expected and what to do."""


@dataclass
class FFConfig:
    """One DFT configuration: structure, energy per atom (eV/atom), forces (eV/Å), stress (GPa, ASE sign)."""

    jid: str
    atoms: Any  # ASE Atoms
    energy_per_atom: float
    forces: np.ndarray
    stress: np.ndarray | None = None  # ASE's Voigt order xx, yy, zz, yz, xz, xy in GPa, ASE sign (tension > 0)
    split: str | None = None

    @property
    def natoms(self) -> int:
        return len(self.atoms)


def check_element(element: str) -> str:
    """``"mlearn_<element>"``, or ForceFieldError naming the elements mlearn has (the data layer's check)."""
    from .data import DatasetError, check_name
    try:
        check_name(f"mlearn_{element}")
    except DatasetError as exc:
        raise ForceFieldError(str(exc)) from exc
    return f"mlearn_{element}"


def _energy(rec: dict[str, Any]) -> float:
    """The record's ``total_energy`` (eV); NaN when it is missing or not a number."""
    try:
        return float(rec["total_energy"])
    except (KeyError, TypeError, ValueError):  # a missing or non-numeric energy
        return math.nan


def _per_cell(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """For each record, whether its energy is given per cell, decided from the data.

    Energies of one element differ by a few eV/atom at most, so the majority's convention is the one of E and E/N
    with the smaller robust relative spread across cells of different sizes (with all cells the same size,
    |E| < 20 eV means per atom). A configuration that is an outlier (> 1 eV/atom, or 5 spreads, from the median)
    read the majority's way but not the other way is in the other convention: a warning names it.
    """
    def spread(x: np.ndarray, n: np.ndarray) -> float:  # each cell size counts once; outliers move no median
        m = np.array([np.median(x[n == k]) for k in np.unique(n)])
        return float(np.median(np.abs(m - np.median(m))) / max(abs(np.median(m)), 1e-12))

    values = np.array([_energy(r) for r in records])
    sizes = np.array([len(r["atoms"]["elements"]) for r in records], float)
    finite = np.isfinite(values)
    if not finite.any():
        raise ForceFieldError(f"None of the {len(records)} configurations has a finite energy.")
    v, n = values[finite], sizes[finite]
    majority = spread(v / n, n) < spread(v, n) if np.ptp(n) > 0 else np.median(np.abs(v)) >= 20
    per_atom, other = (values / sizes, values) if majority else (values, values / sizes)
    finite = per_atom[np.isfinite(per_atom)]
    level = np.median(finite)
    tolerance = max(1.0, 5 * float(np.median(np.abs(finite - level))))
    odd = (np.abs(other - level) <= tolerance) & (np.abs(per_atom - level) > tolerance)
    if odd.any():
        names = [str(records[k].get("jid", f"#{k}")) for k in np.flatnonzero(odd)]
        given, rest = ("per atom", "per cell") if majority else ("per cell", "per atom")
        warnings.warn(f"{len(names)} of {len(records)} configurations give their energy {given}, the others {rest}: "
                      f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''}. Each is read in its own "
                      "convention; check these configurations in the data.", stacklevel=3)
    return odd != majority


def _as_stress(value: Any) -> np.ndarray | None:
    """mlearn stress in kbar, compressive positive, as a 3x3 tensor or a 6-vector in mlearn's order (xx, yy, zz, xy,
    xz, yz: on mlearn_Cu's sheared cells the shears sit there with the size and sign of ASE's EMT) -> ASE convention
    (GPa, tensile positive, Voigt order xx, yy, zz, yz, xz, xy); None if malformed."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):  # None, "na", ragged lists
        return None
    if arr.shape == (6,):
        xx, yy, zz, xy, zx, yz = arr
        arr = np.array([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]])
    if arr.shape != (3, 3) or not np.all(np.isfinite(arr)):
        return None
    return -0.1 * arr[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]  # 1 kbar = 0.1 GPa


def _config(rec: dict[str, Any], k: int, element: str | None, per_cell: bool, labels: dict[str, str]) -> FFConfig:
    from .structures import atoms_from_record, to_ase
    jid = str(rec.get("jid", f"#{k}"))
    atoms = to_ase(atoms_from_record(rec))
    if element is not None and set(atoms.get_chemical_symbols()) != {element}:
        raise ForceFieldError(f"Configuration {jid} contains {sorted(set(atoms.get_chemical_symbols()))}, expected "
                              f"only {element}.")
    try:
        forces = np.asarray(rec.get("forces"), dtype=float)
    except (TypeError, ValueError):  # "na", ragged rows, text among the numbers
        forces = None
    if forces is None or forces.shape != (len(atoms), 3):
        found = f"have shape {forces.shape}" if forces is not None else "are not a table of numbers"
        raise ForceFieldError(f"Configuration {jid}: forces {found} ({str(rec.get('forces'))[:40]}), expected "
                              f"({len(atoms)}, 3) for its {len(atoms)} atoms. The record is inconsistent; drop it or "
                              "fix its 'forces'.")
    energy = _energy(rec) / (len(atoms) if per_cell else 1)
    return FFConfig(jid, atoms, energy, forces, _as_stress(rec.get("stresses", rec.get("stress"))), labels.get(jid))


def prepare_configs(records: Sequence[Record], element: str | None = None, split_labels: dict | None = None):
    """Checked ``FFConfig`` objects of mlearn records: energies in eV/atom (per atom or per cell, read from the data),
    forces N x 3 (else ForceFieldError), stresses in ASE's GPa, sign and order (None when missing or malformed), only
    ``element`` if given; non-finite configurations dropped with a warning; ``split_labels`` (jid -> "train" or
    "test", e.g. ``utils.split_records(records, "total_energy").labels``) sets each ``split``."""
    per_cell = _per_cell(records)
    configs = [_config(rec, k, element, per_cell[k], split_labels or {}) for k, rec in enumerate(records)]
    bad = [c.jid for c in configs if not (np.isfinite(c.energy_per_atom) and np.all(np.isfinite(c.forces)))]
    if bad:
        warnings.warn(f"Dropped {len(bad)} of {len(configs)} configurations with a non-finite energy or force: "
                      f"{', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}. Fix or remove them in the data.",
                      stacklevel=2)
    dropped = set(bad)
    return [c for c in configs if c.jid not in dropped]


def split_configs(configs: Sequence[FFConfig], max_configs: int | None = None, seed: int = 42) -> dict[str, list]:
    """Train/val/test split: test = the leaderboard's test configurations, val = a seeded 10 % of its train ones,
    train = the rest; configurations outside the leaderboard unused (no test leakage). Without split labels a seeded
    80/10/10 random split. ``max_configs`` keeps a seeded subset of that size in the same proportions (>= 2 a part)."""
    from .leaderboard import random_split
    rng = np.random.default_rng(seed)
    labelled = [c for c in configs if c.split in ("train", "test")]
    if labelled:
        test = [c for c in labelled if c.split == "test"]
        pool = [c for c in labelled if c.split == "train"]
    else:
        parts = random_split(list(configs), seed)
        test, pool = parts["test"], parts["train"] + parts["val"]
        if len(test) < 2:
            raise ForceFieldError(f"Only {len(configs)} configurations: too few for a test set; use more data.")
    if max_configs is not None and max_configs < len(test) + len(pool):
        n_test = max(2, int(round(max_configs * len(test) / (len(test) + len(pool)))))
        test = [test[k] for k in sorted(rng.choice(len(test), min(n_test, len(test)), replace=False))]
        n_pool = max(4, max_configs - len(test))
        pool = [pool[k] for k in sorted(rng.choice(len(pool), min(n_pool, len(pool)), replace=False))]
    order = rng.permutation(len(pool))
    n_val = max(2, int(round(0.1 * len(pool))))
    val = [pool[k] for k in sorted(order[:n_val])]
    train = [pool[k] for k in sorted(order[n_val:])]
    if len(train) < 2:
        raise ForceFieldError(f"Only {len(train)} training configurations after the split; use more data.")
    return {"train": train, "val": val, "test": test}


MARKER = "complete.json"  # written last into the folder of a finished training: the hash of its config and data


def _alignn_ff_config(n_train: int, n_val: int, n_test: int, output_dir: Path, stress_weight: float = 0.0, **sizes):
    """alignn ``TrainingConfig`` dict: energy per atom + 10 x forces (+ stress) on ``alignn_atomwise_pure``;
    ``sizes`` (``utils.gnn.GNNConfig`` fields) over small CPU defaults (the published ALIGNN-FF has 4+4 layers,
    256 hidden). Every neighbour inside the 5 Å cutoff counts: a k-nearest cap makes the energy jump."""
    from .alignn_trainer import training_config
    from .gnn import GNNConfig
    small = dict(alignn_layers=2, gcn_layers=2, hidden_features=64, embedding_features=32, batch_size=8)
    settings = GNNConfig(**{**small, "cutoff": 5.0, "learning_rate": 2e-3, "weight_decay": 0.0, **sizes})
    settings.max_neighbors, settings.three_body_cutoff = None, min(3.5, settings.cutoff)
    cfg = training_config(settings, n_train, n_val, n_test, Path(output_dir))
    cfg["filename"] = str(Path(output_dir) / "cache_")
    forces = {"calculate_gradient": True, "gradwise_weight": 10.0, "stresswise_weight": stress_weight}
    cfg["model"].update(forces, use_penalty=True)
    return cfg


def _alignn_record(config: FFConfig, with_stress: bool) -> dict[str, Any]:
    from .structures import from_ase
    rec = {"jid": config.jid, "atoms": from_ase(config.atoms).to_dict(),  # alignn's atomwise model: energy per atom
           "total_energy": config.energy_per_atom, "forces": config.forces.tolist()}  # fmt: skip
    if with_stress:
        s = config.stress if config.stress is not None else np.zeros(6)
        # 3x3 in GPa, ASE sign, the convention of alignn's stress output (-160.2 r.T dE/dr / V)
        rec["stresses"] = [[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]]
    return rec


def _alignn_initial_model(cfg: dict[str, Any], energy_per_atom: float, folder: Path) -> Path:
    """A new ALIGNN-FF whose output bias is the training mean energy per atom (else a short run spends its steps
    learning the offset from 0 to about -5 eV/atom), saved as alignn's restart checkpoint expects."""
    import torch
    from alignn.config import TrainingConfig
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig
    torch.manual_seed(cfg.get("random_seed") or 0)
    model = ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**cfg["model"]))
    with torch.no_grad():
        model.fc.bias.fill_(energy_per_atom)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(TrainingConfig(**cfg).dict()))
    path = folder / "current_model.pt"
    torch.save(model.state_dict(), path)
    return path


def _fine_tune(out: Path, data_dir: Path, init: Path) -> float:
    """alignn's trainer on ``data_dir`` into ``out``, starting from ``init``; returns the wall time (s)."""
    from .alignn_trainer import run_in_folder
    start = time.time()
    run_in_folder(data_dir, out / "train_config.json", out, restart_model_path=str(init))
    for cache in out.glob("cache_*"):  # alignn's LMDB graph caches: rebuilt on every run
        shutil.rmtree(cache, ignore_errors=True) if cache.is_dir() else cache.unlink()
    if not (out / "best_model.pt").exists():
        raise ForceFieldError(f"alignn finished without writing best_model.pt in {out}; see {out / 'train.log'}.")
    return time.time() - start


def train_alignn_ff(element: str, out_dir: Path | str | None = None, epochs: int = 5, max_configs: int | None = None,
                    records: Sequence[Record] | None = None, stress_weight: float = 0.0, seed: int = 42,
                    **config_kwargs: Any) -> Path:  # fmt: skip
    """Train ALIGNN-FF on the mlearn data of ``element`` (or ``records``) with alignn's own trainer on the
    ``split_configs`` split, config ``_alignn_ff_config(**config_kwargs)``; return the folder (default
    ``outputs/06b_training_potentials/alignn_ff_<element>``: alignn's files, ``split.json``, ``ffinfo.json``).
    A folder whose marker (written last) holds the sha256 of the same config and data is reused; any other
    training in it is deleted and run anew. With ``stress_weight > 0`` a missing stress counts as zero."""
    from .data import load_dataset
    from .files import write_atomically
    from .leaderboard import split_records
    name = check_element(element)
    out = Path(out_dir) if out_dir is not None else outputs_dir("06b_training_potentials", f"alignn_ff_{element}")
    records = records if records is not None else load_dataset(name)
    configs = prepare_configs(records, element, split_labels=split_records(records, "total_energy").labels)
    parts = split_configs(configs, max_configs=max_configs, seed=seed)
    id_prop = json.dumps([_alignn_record(c, stress_weight > 0) for k in ("train", "val", "test") for c in parts[k]])
    sizes = [len(parts[k]) for k in ("train", "val", "test")]
    cfg = _alignn_ff_config(*sizes, out, stress_weight=stress_weight, epochs=epochs, seed=seed, **config_kwargs)
    settings = {k: v for k, v in cfg.items() if k not in ("output_dir", "filename")}
    digest = hashlib.sha256((json.dumps(settings, sort_keys=True) + "\n" + id_prop).encode()).hexdigest()
    marker = out / MARKER
    if marker.exists() and (out / "best_model.pt").exists() and json.loads(marker.read_text()).get("hash") == digest:
        print(f"Reusing the ALIGNN-FF checkpoint in {out} (its marker matches this config and data).")
        return out
    if out.exists() and any(out.iterdir()) and not (out / "train_config.json").exists():
        raise ForceFieldError(f"{out} holds files that are not an ALIGNN-FF training: choose an empty folder.")
    shutil.rmtree(out, ignore_errors=True)  # a stale or unfinished training: start again
    (out / "data").mkdir(parents=True)
    (out / "data" / "id_prop.json").write_text(id_prop)
    (out / "train_config.json").write_text(json.dumps(cfg, indent=2))
    init = _alignn_initial_model(cfg, float(np.mean([c.energy_per_atom for c in parts["train"]])), out / "init")
    seconds = _fine_tune(out, out / "data", init)
    (out / "split.json").write_text(json.dumps({k: [c.jid for c in v] for k, v in parts.items()}))
    info = dict(elements=[element], n_train=sizes[0], n_val=sizes[1], n_test=sizes[2], epochs=epochs)
    info.update(train_seconds=round(seconds, 1), stress_weight=stress_weight, device=get_device())
    (out / "ffinfo.json").write_text(json.dumps(info, indent=2))
    write_atomically(marker, json.dumps({"hash": digest, "epochs": epochs, "finished": time.ctime()}))
    return out


class AlignnFFCalculator(Calculator):
    """alignn's ``AlignnAtomwiseCalculator`` with three guards: only weights are read (a crafted ``best_model.pt``
    is a ForceFieldError, never run); forces are (N, 3) even for a 1-atom cell; a structure with an element outside
    ``elements`` (the training set) is a ForceFieldError, not meaningless numbers."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model_dir, elements=None, device: str = "cpu"):
        from alignn.ff.calculators import AlignnAtomwiseCalculator

        from .gnn import GNNError
        from .pretrained import alignn_model
        super().__init__()
        self.elements = frozenset(elements) if elements else None
        config = json.loads((Path(model_dir) / "config.json").read_text())
        # as alignn's calculator sets them: the model returns stresses only with a non-zero stress weight
        config["model"].update(stresswise_weight=config["model"].get("stresswise_weight") or 0.1, batch_stress=True)
        try:
            model = alignn_model(config, Path(model_dir) / "best_model.pt", device)
        except GNNError as exc:
            raise ForceFieldError(str(exc)) from exc
        self.inner = AlignnAtomwiseCalculator(model=model, config=config, device=device)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        unknown = set(atoms.get_chemical_symbols()) - (self.elements or set(atoms.get_chemical_symbols()))
        if unknown:
            raise ForceFieldError(f"This ALIGNN-FF was trained on {', '.join(sorted(self.elements))} only; the "
                                  f"structure contains {', '.join(sorted(unknown))}, for which its energies mean "
                                  "nothing. Train it on data with them.")
        super().calculate(atoms, properties, system_changes)
        self.inner.calculate(self.atoms, properties, system_changes)
        energy, forces, stress = (self.inner.results[k] for k in ("energy", "forces", "stress"))
        self.results = {"energy": energy, "free_energy": energy, "forces": np.reshape(forces, (len(atoms), 3))}
        self.results["stress"] = stress if np.shape(stress) == (6,) else np.zeros(6)  # alignn's "no stress": 3x3


def alignn_ff_calculator(model_dir: Path | str) -> AlignnFFCalculator:
    """``AlignnFFCalculator`` (eV, eV/Å, eV/Å³, on the CPU) of a folder with alignn's ``config.json`` and
    ``best_model.pt`` (``train_alignn_ff`` writes one); its ``ffinfo.json`` names the training elements (else a
    warning, no check)."""
    model_dir = Path(model_dir)
    missing = [n for n in ("config.json", "best_model.pt") if not (model_dir / n).exists()]
    if missing:
        raise ForceFieldError(f"{model_dir} is not an ALIGNN-FF checkpoint folder: {', '.join(missing)} missing. "
                              f"Train one with utils.forcefields.train_alignn_ff(element) first.")
    info = model_dir / "ffinfo.json"
    elements = json.loads(info.read_text()).get("elements") if info.exists() else None
    if not elements:
        warnings.warn(f"{model_dir} does not say which elements it was trained on: no element check.", stacklevel=2)
    return AlignnFFCalculator(model_dir, elements)


def published_ff_calculator(name: str, device: str | None = None):
    """``(calculator, line)``: alignn's published universal force field ``name`` (e.g. ``mptrj_ff``) for any element,
    or None offline or when the download fails, ``line`` saying why (``utils.pretrained.published_model``)."""
    from .pretrained import published_model
    folder, line = published_model(name)
    return (None if folder is None else AlignnFFCalculator(folder, None, device or get_device())), line
