"""Machine-learning force fields: what notebook 06 uses but does not teach.

* **Data**: mlearn configurations -> checked ``FFConfig`` objects (energy per atom, forces, stress in
  ASE's convention; non-finite ones dropped) and a train/val/test split that follows the JARVIS-Leaderboard.
* **ALIGNN-FF driver**: alignn's DGL-free ``alignn_atomwise_pure`` model trained with alignn's own trainer
  (``neighbor_strategy="pure_torch"``); a checkpoint is reused only when its completion marker matches
  the requested config and data exactly; an ASE calculator that works for 1-atom cells and refuses
  elements outside its training set.
* **Evaluation**: predictions of any ASE calculator on configurations, MAEs beside their baselines, and
  a plausibility verdict for an equation of state.

The Lennard-Jones potential, the GNN potential and the E-V fit are taught in notebook 06 itself;
relaxation, E-V scans, MD and g(r) live in ``utils.simulation``. Units: eV, Å, eV/Å, GPa.
"""

from __future__ import annotations

import contextlib
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

from .runtime import outputs_dir

KBAR_TO_GPA = 0.1

# References for the lesson's checks, per element: experimental cubic lattice constant a_exp (Å) and bulk
# modulus B_exp (GPa) from Kittel, Introduction to Solid State Physics (8th ed., tables 1.3 and 3.3), except
# B_exp of Si and Cu, which are the JARVIS-Leaderboard experimental values (ES bulk modulus, JVASP-1002 and
# JVASP-867); B_jarvis_dft is the JARVIS-DFT OptB88vdW bulk_modulus_kv of the same entries; T_melt_K is the
# experimental melting point (CRC Handbook).
REFERENCE_DATA: dict[str, dict[str, float]] = {
    "Si": {"a_exp": 5.431, "B_jarvis_dft": 87.3, "B_exp": 99.2, "T_melt_K": 1687},
    "Cu": {"a_exp": 3.615, "B_jarvis_dft": 141.4, "B_exp": 142.0, "T_melt_K": 1358},
    "Ni": {"a_exp": 3.524, "B_exp": 186.0, "T_melt_K": 1728},
    "Li": {"a_exp": 3.491, "B_exp": 11.6, "T_melt_K": 454},
    "Ge": {"a_exp": 5.658, "B_exp": 77.2, "T_melt_K": 1211},
    "Mo": {"a_exp": 3.147, "B_exp": 272.5, "T_melt_K": 2896},
}


class ForceFieldError(ValueError):
    """Bad input to a force-field helper; the message says what was expected and what to do."""


# =====================================================================
# Data: mlearn configurations
# =====================================================================


@dataclass
class FFConfig:
    """One DFT configuration: structure, energy per atom (eV/atom), forces (eV/Å), stress (GPa, ASE sign)."""

    jid: str
    atoms: Any  # ASE Atoms
    energy_per_atom: float
    forces: np.ndarray
    stress: np.ndarray | None = None  # Voigt xx, yy, zz, yz, xz, xy in GPa, ASE sign (tension > 0)
    split: str | None = None

    @property
    def natoms(self) -> int:
        return len(self.atoms)


def mlearn_elements() -> list[str]:
    """Elements of the mlearn set according to the dataset registry (data/datasets.json)."""
    from .data import registry

    return list(registry()["families"]["mlearn_<Element>"]["elements"])


def check_element(element: str) -> str:
    """Return ``"mlearn_<element>"`` or raise ForceFieldError naming the elements mlearn has."""
    from ase.data import chemical_symbols

    known = mlearn_elements()
    if not isinstance(element, str) or element not in chemical_symbols[1:]:
        raise ForceFieldError(
            f"ELEMENT={element!r} is not a chemical symbol. mlearn has {', '.join(known)}; use e.g. 'Si'."
        )
    if element not in known:
        raise ForceFieldError(
            f"mlearn has no DFT data for {element}: it covers {', '.join(known)}. "
            f"Pick one of these for ELEMENT (capitalised, e.g. 'Si')."
        )
    return f"mlearn_{element}"


def _energy_key(rec: dict[str, Any]) -> str:
    for key in ("total_energy", "energy", "energy_per_atom"):
        if key in rec:
            return key
    raise ForceFieldError(
        f"Configuration {rec.get('jid', '?')} has no energy (looked for total_energy, energy, energy_per_atom)."
    )


def _energy(rec: dict[str, Any]) -> float:
    try:
        return float(rec[_energy_key(rec)])
    except (TypeError, ValueError):
        return math.nan


def energy_convention(records: Sequence[dict[str, Any]]) -> str:
    """``"per_atom"`` or ``"per_cell"``: how the records' energies are given, decided from the data.

    Energies of one element differ by a few eV/atom at most, so whichever of E and E/N has the smaller
    relative spread (std/|mean|) across configurations of different sizes is the per-atom one. With all
    cells the same size, |E| < 20 eV means per atom (no element binds by more than ~10 eV/atom in DFT).
    Non-finite energies (NaN, inf) are ignored: one of them must not decide for all the others.
    ALIGNN's offline copy of mlearn is per atom (Si jid 1: 63 atoms, -4.6904 eV/atom; leaderboard total
    -295.4975 eV). The online jarvis-tools ``mlearn`` keys/units are not verified offline; hence this check.
    """
    values = np.array([_energy(r) for r in records])
    sizes = np.array([len(r["atoms"]["elements"]) for r in records], dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        raise ForceFieldError(f"None of the {len(records)} configurations has a finite energy.")
    values, sizes = values[finite], sizes[finite]
    if np.ptp(sizes) > 0:
        per_cell_spread = np.std(values) / max(abs(np.mean(values)), 1e-12)
        per_atom_spread = np.std(values / sizes) / max(abs(np.mean(values / sizes)), 1e-12)
        return "per_atom" if per_cell_spread <= per_atom_spread else "per_cell"
    return "per_atom" if np.median(np.abs(values)) < 20 else "per_cell"


def _as_stress(value: Any) -> np.ndarray | None:
    """mlearn/VASP stress in kbar, compressive positive -> ASE convention (GPa, tensile positive)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    if arr.shape == (3, 3):
        arr = arr[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    if arr.shape != (6,) or not np.all(np.isfinite(arr)):
        return None
    return -KBAR_TO_GPA * arr


def _config(rec: dict[str, Any], k: int, element: str | None, per_cell: bool, labels: dict[str, str]) -> FFConfig:
    from .structures import atoms_from_record, to_ase

    jid = str(rec.get("jid", f"#{k}"))
    atoms = to_ase(atoms_from_record(rec))
    if element is not None and set(atoms.get_chemical_symbols()) != {element}:
        raise ForceFieldError(
            f"Configuration {jid} contains {sorted(set(atoms.get_chemical_symbols()))}, expected only {element}."
        )
    forces = np.asarray(rec.get("forces"), dtype=float)
    if forces.shape != (len(atoms), 3):
        raise ForceFieldError(
            f"Configuration {jid}: forces have shape {forces.shape}, expected ({len(atoms)}, 3) for its "
            f"{len(atoms)} atoms. The record is inconsistent; drop it or fix its 'forces'."
        )
    energy = _energy(rec) / (len(atoms) if per_cell else 1)
    stress = _as_stress(rec.get("stresses", rec.get("stress")))
    return FFConfig(jid, atoms, energy, forces, stress, labels.get(jid))


def prepare_configs(
    records: Sequence[dict[str, Any]], element: str | None = None, split_labels: dict[str, str] | None = None
) -> list[FFConfig]:
    """Turn mlearn records into checked ``FFConfig`` objects.

    * Energies become eV/atom (per-cell data are divided by N; see ``energy_convention``).
    * Forces must be an N x 3 array for an N-atom cell, else ForceFieldError names the configuration.
    * Configurations with a non-finite energy or force (NaN, inf) are dropped with a warning naming them.
    * Stresses (if present, 6 Voigt numbers or 3x3 in kbar with VASP's sign, as in ALIGNN's mlearn copy)
      become GPa in ASE's sign convention; a missing or malformed stress becomes None.
    * With ``element`` given, configurations containing anything else are an error.
    * ``split_labels`` (jid -> "train"/"test", e.g. ``utils.split_records(records, "total_energy").labels``,
      the JARVIS-Leaderboard mlearn split) sets each configuration's ``split``.
    """
    if not records:
        raise ForceFieldError("No configurations given.")
    per_cell = energy_convention(records) == "per_cell"
    configs = [_config(rec, k, element, per_cell, split_labels or {}) for k, rec in enumerate(records)]
    bad = [c.jid for c in configs if not (np.isfinite(c.energy_per_atom) and np.all(np.isfinite(c.forces)))]
    if bad:
        warnings.warn(
            f"Dropped {len(bad)} of {len(configs)} configurations with a non-finite energy or force: "
            f"{', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}. Fix or remove them in the data.",
            stacklevel=2,
        )
    return [c for c in configs if c.jid not in set(bad)]


def split_configs(
    configs: Sequence[FFConfig], max_configs: int | None = None, val_fraction: float = 0.1, seed: int = 42
) -> dict[str, list[FFConfig]]:
    """Train/val/test split following the JARVIS-Leaderboard mlearn split where the configurations carry one.

    test = the leaderboard's test configurations; val = a seeded ``val_fraction`` of the leaderboard's train
    ones; train = the rest. Configurations outside the leaderboard are not used (so no test leakage). Without
    any split labels (e.g. other data), a seeded 80/10/10 random split is used. ``max_configs`` keeps a
    seeded subset of that size, in the same proportions (at least 2 per part).
    """
    rng = np.random.default_rng(seed)
    labelled = [c for c in configs if c.split in ("train", "test")]
    if labelled:
        test = [c for c in labelled if c.split == "test"]
        pool = [c for c in labelled if c.split == "train"]
    else:
        order = rng.permutation(len(configs))
        n_test = max(2, int(round(0.1 * len(configs))))
        test = [configs[k] for k in order[:n_test]]
        pool = [configs[k] for k in order[n_test:]]
    if max_configs is not None and max_configs < len(test) + len(pool):
        n_test = max(2, int(round(max_configs * len(test) / (len(test) + len(pool)))))
        test = [test[k] for k in sorted(rng.choice(len(test), min(n_test, len(test)), replace=False))]
        n_pool = max(4, max_configs - len(test))
        pool = [pool[k] for k in sorted(rng.choice(len(pool), min(n_pool, len(pool)), replace=False))]
    order = rng.permutation(len(pool))
    n_val = max(2, int(round(val_fraction * len(pool))))
    val = [pool[k] for k in sorted(order[:n_val])]
    train = [pool[k] for k in sorted(order[n_val:])]
    if len(train) < 2:
        raise ForceFieldError(f"Only {len(train)} training configurations after the split; use more data.")
    return {"train": train, "val": val, "test": test}


def reference_equilibrium(configs: Sequence[FFConfig]) -> FFConfig:
    """The DFT configuration with the lowest energy per atom among the (nearly) force-free ones.

    In mlearn this is the relaxed crystal; its volume per atom is the DFT (PBE) equilibrium volume.
    """
    still = [c for c in configs if np.abs(c.forces).max() < 1e-2] or list(configs)
    return min(still, key=lambda c: c.energy_per_atom)


# =====================================================================
# ALIGNN-FF driver (alignn's DGL-free alignn_atomwise_pure)
# =====================================================================

MARKER = "complete.json"
"""Written into a checkpoint folder when training finished; holds the hash of the config and the data."""


def alignn_ff_dir(element: str, lesson: str = "06_ml_force_fields") -> Path:
    """Checkpoint folder ``outputs/<lesson>/alignn_ff_<element>`` (created): each lesson trains its own."""
    check_element(element)
    return outputs_dir(lesson, f"alignn_ff_{element}")


def alignn_ff_config(
    n_train: int,
    n_val: int,
    n_test: int,
    epochs: int,
    output_dir: Path,
    batch_size: int = 8,
    learning_rate: float = 2e-3,
    hidden_features: int = 64,
    embedding_features: int = 32,
    alignn_layers: int = 2,
    gcn_layers: int = 2,
    cutoff: float = 5.0,
    force_weight: float = 10.0,
    stress_weight: float = 0.0,
    seed: int = 42,
) -> dict[str, Any]:
    """alignn ``TrainingConfig`` dict for a force field: energy per atom + forces (+ stress) on the
    DGL-free ``alignn_atomwise_pure`` model with ``neighbor_strategy="pure_torch"``.

    Sizes are small compared with the published ALIGNN-FF (256 hidden, 4+4 layers, cutoff 8 Å) so that it
    trains on a CPU. ``max_neighbors=None`` keeps every neighbour inside the cutoff (a k-nearest cap would
    make the energy jump when neighbours swap order).
    """
    # fmt: off
    model = {
        "name": "alignn_atomwise_pure", "atom_input_features": 92, "alignn_layers": alignn_layers,
        "gcn_layers": gcn_layers, "hidden_features": hidden_features, "embedding_features": embedding_features,
        "calculate_gradient": True, "graphwise_weight": 1.0, "gradwise_weight": force_weight,
        "stresswise_weight": stress_weight, "atomwise_output_features": 0, "atomwise_weight": 0.0,
    }
    return {
        "dataset": "user_data", "target": "target", "atom_features": "cgcnn", "neighbor_strategy": "pure_torch",
        "id_tag": "jid", "random_seed": seed, "n_train": n_train, "n_val": n_val, "n_test": n_test,
        "keep_data_order": True, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
        "criterion": "l1", "optimizer": "adamw", "scheduler": "onecycle", "num_workers": 0, "cutoff": cutoff,
        "three_body_cutoff": min(3.5, cutoff), "max_neighbors": None, "use_lmdb": True, "write_predictions": True,
        "output_dir": str(output_dir), "filename": str(Path(output_dir) / "cache_"), "model": model,
    }
    # fmt: on


def _alignn_record(config: FFConfig, with_stress: bool) -> dict[str, Any]:
    from .structures import from_ase

    rec = {
        "jid": config.jid,
        "atoms": from_ase(config.atoms).to_dict(),
        "total_energy": config.energy_per_atom,  # alignn's atomwise model predicts energy per atom ("out")
        "forces": config.forces.tolist(),
    }
    if with_stress:
        s = config.stress if config.stress is not None else np.zeros(6)
        # 3x3 in GPa, ASE sign, the convention of alignn's stress output (-160.2 r.T dE/dr / V)
        rec["stresses"] = [[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]]
    return rec


def _alignn_initial_model(cfg: dict[str, Any], energy_per_atom: float, folder: Path) -> Path:
    """A freshly initialised ALIGNN-FF whose output bias is the training mean energy per atom.

    Without it the network starts near 0 eV/atom while mlearn energies sit near -5 eV/atom, and a short
    run spends its few steps learning that offset. Saved as alignn expects a restart checkpoint
    (``current_model.pt`` beside a ``config.json``).
    """
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


def training_hash(cfg: dict[str, Any], id_prop: str) -> str:
    """sha256 of the training config (without its output paths) and of the training data text."""
    settings = {k: v for k, v in cfg.items() if k not in ("output_dir", "filename")}
    text = json.dumps(settings, sort_keys=True) + "\n" + id_prop
    return hashlib.sha256(text.encode()).hexdigest()


def completed_checkpoint(folder: Path | str, digest: str | None = None) -> bool:
    """True when ``folder`` holds a finished training (marker and ``best_model.pt``), and, with ``digest``,
    one whose marker records exactly that ``training_hash``."""
    folder = Path(folder)
    marker = folder / MARKER
    if not (marker.exists() and (folder / "best_model.pt").exists()):
        return False
    return digest is None or json.loads(marker.read_text()).get("hash") == digest


def _run_alignn_trainer(out: Path, data_dir: Path, init: Path, verbose: bool) -> float:
    """alignn's ``train_for_folder`` on ``data_dir`` into ``out``; returns the wall time (s)."""
    from alignn.train_alignn import train_for_folder

    start = time.time()
    log_path = out / "train.log"
    with open(log_path, "w") as log, contextlib.nullcontext() if verbose else contextlib.redirect_stdout(log):
        train_for_folder(
            root_dir=str(data_dir),
            config_name=str(out / "train_config.json"),
            output_dir=str(out),
            restart_model_path=str(init),
        )
    for cache in out.glob("cache_*"):  # alignn's LMDB graph caches: rebuilt on every run
        shutil.rmtree(cache, ignore_errors=True) if cache.is_dir() else cache.unlink()
    if not (out / "best_model.pt").exists():
        raise ForceFieldError(f"alignn finished without writing best_model.pt in {out}; see {log_path}.")
    return time.time() - start


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_alignn_ff(
    element: str,
    out_dir: Path | str | None = None,
    epochs: int = 5,
    max_configs: int | None = None,
    records: Sequence[dict[str, Any]] | None = None,
    stress_weight: float = 0.0,
    seed: int = 42,
    verbose: bool = False,
    **config_kwargs: Any,
) -> Path:
    """Train ALIGNN-FF on the mlearn data of ``element`` with alignn's own trainer; return the checkpoint folder.

    * Data: ``records`` or ``utils.load_dataset(f"mlearn_{element}")``, checked by ``prepare_configs``, split
      by ``split_configs`` on the JARVIS-Leaderboard split (``max_configs`` for a smaller run).
    * Config: ``alignn_ff_config(**config_kwargs)``; alignn's console output goes to ``train.log``.
    * Reuse: a folder whose marker (``complete.json``) records the same config and data hash is returned
      as it is; any other content (another config, an interrupted run) is deleted and trained anew.
    * Result in ``out_dir`` (default ``alignn_ff_dir(element)``): ``config.json``, ``best_model.pt``,
      ``history_*.json``, ``split.json`` (jids per part), ``ffinfo.json`` and the marker, written last.
    Stress training (``stress_weight > 0``) counts configurations without a usable stress as zero stress.
    """
    from .data import load_dataset, split_records

    name = check_element(element)
    out = Path(out_dir) if out_dir is not None else alignn_ff_dir(element)
    records = records if records is not None else load_dataset(name)
    configs = prepare_configs(records, element, split_labels=split_records(records, "total_energy").labels)
    parts = split_configs(configs, max_configs=max_configs, seed=seed)
    ordered = parts["train"] + parts["val"] + parts["test"]
    id_prop = json.dumps([_alignn_record(c, stress_weight > 0) for c in ordered])
    sizes = [len(parts[k]) for k in ("train", "val", "test")]
    cfg = alignn_ff_config(*sizes, epochs, out, stress_weight=stress_weight, seed=seed, **config_kwargs)
    digest = training_hash(cfg, id_prop)
    if completed_checkpoint(out, digest):
        print(f"Reusing the ALIGNN-FF checkpoint in {out} (its marker matches this config and data).")
        return out
    if out.exists() and any(out.iterdir()) and not (out / "train_config.json").exists():
        raise ForceFieldError(f"{out} holds files that are not an ALIGNN-FF training: choose an empty folder.")
    shutil.rmtree(out, ignore_errors=True)  # a stale or unfinished training: start again
    (out / "data").mkdir(parents=True)
    (out / "data" / "id_prop.json").write_text(id_prop)
    (out / "train_config.json").write_text(json.dumps(cfg, indent=2))
    init = _alignn_initial_model(cfg, float(np.mean([c.energy_per_atom for c in parts["train"]])), out / "init")
    seconds = _run_alignn_trainer(out, out / "data", init, verbose)
    (out / "split.json").write_text(json.dumps({k: [c.jid for c in v] for k, v in parts.items()}))
    info = dict(element=element, elements=[element], n_train=sizes[0], n_val=sizes[1], n_test=sizes[2])
    info.update(epochs=epochs, train_seconds=round(seconds, 1), stress_weight=stress_weight)
    info.update(energy_unit="eV/atom (model 'out'); calculator returns eV per cell", device=_device())
    (out / "ffinfo.json").write_text(json.dumps(info, indent=2))
    (out / MARKER).write_text(json.dumps({"hash": digest, "epochs": epochs, "finished": time.ctime()}))
    return out


def alignn_history(model_dir: Path | str) -> dict[str, list[float]]:
    """Per-epoch energy and force L1 losses from alignn's ``history_train.json``/``history_val.json``.

    alignn logs the weighted losses: energy in eV/atom, force loss = gradwise_weight x MAE (eV/Å).
    """
    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())["model"]
    out = {}
    for part in ("train", "val"):
        rows = json.loads((model_dir / f"history_{part}.json").read_text())
        out[f"{part} energy (meV/atom)"] = [1000 * r[1] / cfg.get("graphwise_weight", 1.0) for r in rows]
        out[f"{part} force (eV/Å)"] = [r[3] / cfg.get("gradwise_weight", 1.0) for r in rows]
    return out


class AlignnFFCalculator(Calculator):
    """ASE calculator of an ALIGNN-FF checkpoint: alignn's own calculator inside, with two guards.

    * Forces always come back shaped (N, 3): alignn's model squeezes them, so a 1-atom cell would get
      shape (3,) and ASE's optimizers and filters would fail or broadcast silently.
    * A structure with an element outside ``elements`` (the training set) is refused: a model trained
      on Si alone returns numbers for Cu, but they mean nothing.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model_dir, elements=None, device: str = "cpu", model_filename: str = "best_model.pt"):
        from alignn.ff.calculators import AlignnAtomwiseCalculator

        super().__init__()
        self.elements = frozenset(elements) if elements else None
        self.inner = AlignnAtomwiseCalculator(path=str(model_dir), model_filename=model_filename, device=device)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if atoms is None or len(atoms) == 0:
            raise ForceFieldError("The ALIGNN-FF calculator needs an ASE Atoms with at least one atom.")
        unknown = set(atoms.get_chemical_symbols()) - (self.elements or set(atoms.get_chemical_symbols()))
        if unknown:
            raise ForceFieldError(
                f"This ALIGNN-FF was trained on {', '.join(sorted(self.elements))} only; the structure contains "
                f"{', '.join(sorted(unknown))}, for which its energies mean nothing. Train it on data with them."
            )
        super().calculate(atoms, properties, system_changes)
        self.inner.calculate(self.atoms, properties, system_changes)
        forces = np.asarray(self.inner.results["forces"], dtype=float)
        if forces.size != 3 * len(atoms):
            raise ForceFieldError(f"ALIGNN-FF returned {forces.size} force components for {len(atoms)} atoms.")
        stress = np.asarray(self.inner.results.get("stress", np.zeros(6)), dtype=float)
        energy = float(self.inner.results["energy"])
        self.results = {"energy": energy, "free_energy": energy, "forces": forces.reshape(len(atoms), 3)}
        self.results["stress"] = stress if stress.shape == (6,) else np.zeros(6)


def alignn_ff_calculator(model_dir: Path | str, device: str | None = None, model_filename: str = "best_model.pt"):
    """``AlignnFFCalculator`` (energy eV, forces eV/Å, stress eV/Å³) of a checkpoint folder.

    ``model_dir`` must hold alignn's ``config.json`` and ``model_filename``, as written by
    ``train_alignn_ff``; its ``ffinfo.json`` names the training elements (without it: a warning, and
    no element check).
    """
    import torch

    model_dir = Path(model_dir)
    missing = [n for n in ("config.json", model_filename) if not (model_dir / n).exists()]
    if missing:
        raise ForceFieldError(
            f"{model_dir} is not an ALIGNN-FF checkpoint folder: {', '.join(missing)} missing. "
            f"Train one with utils.forcefields.train_alignn_ff(element) first."
        )
    info = model_dir / "ffinfo.json"
    elements = json.loads(info.read_text()).get("elements") if info.exists() else None
    if not elements:
        warnings.warn(f"{model_dir} does not say which elements it was trained on: no element check.", stacklevel=2)
    torch.set_default_dtype(torch.float32)
    return AlignnFFCalculator(model_dir, elements, device or "cpu", model_filename)


# =====================================================================
# Evaluation
# =====================================================================


def predict_calculator(calc, configs: Sequence[FFConfig], progress: bool = False) -> dict[str, np.ndarray]:
    """Energies per atom (eV/atom) and force components (eV/Å), true and predicted by an ASE calculator."""
    from tqdm.auto import tqdm

    e_true, e_pred, f_true, f_pred = [], [], [], []
    for c in tqdm(configs, desc="predicting", disable=not progress):
        atoms = c.atoms.copy()
        atoms.calc = calc
        e_pred.append(atoms.get_potential_energy() / len(atoms))
        f_pred.append(atoms.get_forces().ravel())
        e_true.append(c.energy_per_atom)
        f_true.append(c.forces.ravel())
    return {"e_true": np.array(e_true), "e_pred": np.array(e_pred), "f_true": np.concatenate(f_true),
            "f_pred": np.concatenate(f_pred)}  # fmt: skip


def ff_metrics(pred: dict[str, np.ndarray], train: Sequence[FFConfig]) -> dict[str, float]:
    """Energy MAE (meV/atom) and force MAE (eV/Å) with their baselines (training mean energy; zero force)."""
    e_mean = float(np.mean([c.energy_per_atom for c in train]))
    return {
        "energy MAE (meV/atom)": 1000 * float(np.mean(np.abs(pred["e_true"] - pred["e_pred"]))),
        "energy baseline MAE (meV/atom)": 1000 * float(np.mean(np.abs(pred["e_true"] - e_mean))),
        "force MAE (eV/Å)": float(np.mean(np.abs(pred["f_true"] - pred["f_pred"]))),
        "force baseline MAE (eV/Å)": float(np.mean(np.abs(pred["f_true"]))),
    }


def bulk_modulus_verdict(
    b_gpa: float, reference_gpa: float | None, a: float, a_reference: float, fit_note: str = "ok"
) -> str:
    """One sentence on whether an E-V result is physically plausible, so that a notebook never prints an
    absurd number without comment.

    Implausible: a failed fit check (``fit_note`` other than "ok"), a modulus more than a factor of two
    from ``reference_gpa``, or a relaxed lattice constant ``a`` more than 3 % from ``a_reference``.
    """
    problems = []
    if fit_note != "ok":
        problems.append(f"the E-V fit failed its checks ({fit_note})")
    elif reference_gpa and not 0.5 < b_gpa / reference_gpa < 2:
        problems.append(f"B = {b_gpa:.1f} GPa is more than a factor of two from {reference_gpa} GPa")
    if abs(a / a_reference - 1) > 0.03:
        problems.append(f"a = {a:.3f} Å is {100 * (a / a_reference - 1):+.1f} % from {a_reference:.3f} Å")
    if not problems:
        return "plausible: lattice constant within 3 % and bulk modulus within a factor of two of the references"
    return (
        "IMPLAUSIBLE: "
        + "; ".join(problems)
        + ". This is not a property of the element but of an unconverged model: its energy surface is too flat, "
        "too steep or has its minimum in the wrong place. Expected in fast mode (a few epochs on ~80 cells); "
        "in full mode, train longer or check the data."
    )
