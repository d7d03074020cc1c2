"""Machine-learning force fields: Lennard-Jones, a plain-PyTorch GNN potential, ALIGNN-FF, and simulations.

Used by notebook 05 (and notebook 06 picks up the ALIGNN-FF trained there). Sections:

* **Lennard-Jones**: analytic pair energy/forces, the same from autograd, Lorentz-Berthelot mixing.
* **Data**: mlearn configurations -> checked ``FFConfig`` objects (energy per atom, forces, stress in
  ASE's convention) and a train/val/test split that follows the JARVIS-Leaderboard.
* **GNN potential**: periodic radius graph, Gaussian radial basis with a smooth cutoff, species
  embedding, message passing with ``index_add_``, forces = -dE/dx by autograd; training helpers.
* **ALIGNN-FF**: alignn's DGL-free ``alignn_atomwise_pure`` model trained with alignn's own trainer
  (``neighbor_strategy="pure_torch"``), and an ASE calculator for it that also works for 1-atom cells.
* **Simulations**: relaxation, equation of state, NVE/NVT molecular dynamics, radial distribution.

Units everywhere: eV, Å, eV/Å, GPa, fs, K.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .runtime import outputs_dir

EV_PER_A3_TO_GPA = 160.21766208
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
# Lennard-Jones
# =====================================================================

# Textbook 12-6 parameters (Ashcroft & Mermin, Solid State Physics, table 20.5): epsilon in eV, sigma in Å.
LJ_PARAMETERS: dict[str, tuple[float, float]] = {
    "Ne": (0.0031, 2.74),
    "Ar": (0.0104, 3.40),
    "Kr": (0.0140, 3.65),
    "Xe": (0.0200, 3.98),
}


def lj_pair(r: np.ndarray | float, epsilon: float, sigma: float) -> dict[str, np.ndarray]:
    """Lennard-Jones pair energy V(r) = 4 eps [(s/r)^12 - (s/r)^6], its two parts and the force -dV/dr.

    Returns a dict with ``energy``, ``repulsive`` (the r^-12 term), ``attractive`` (the r^-6 term) in eV
    and ``force`` (-dV/dr, positive = repulsive) in eV/Å.
    """
    r = np.asarray(r, dtype=float)
    if np.any(r <= 0):
        raise ForceFieldError("Distances must be positive (Å); found r <= 0.")
    sr6 = (sigma / r) ** 6
    repulsive, attractive = 4 * epsilon * sr6**2, -4 * epsilon * sr6
    force = 24 * epsilon * (2 * sr6**2 - sr6) / r
    return {"energy": repulsive + attractive, "repulsive": repulsive, "attractive": attractive, "force": force}


def lorentz_berthelot(sigma_a: float, epsilon_a: float, sigma_b: float, epsilon_b: float) -> tuple[float, float]:
    """Lorentz-Berthelot mixing: sigma_ab = (sigma_a + sigma_b)/2 (arithmetic), eps_ab = sqrt(eps_a eps_b)."""
    if min(sigma_a, sigma_b) <= 0 or min(epsilon_a, epsilon_b) < 0:
        raise ForceFieldError("sigma must be > 0 and epsilon >= 0 for both species.")
    return 0.5 * (sigma_a + sigma_b), math.sqrt(epsilon_a * epsilon_b)


def _pair_parameters(symbols: Sequence[str], params: dict[str, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(epsilon, sigma) matrices for every pair of species in ``symbols`` from per-species params."""
    species = sorted(set(symbols))
    missing = [s for s in species if s not in params]
    if missing:
        raise ForceFieldError(
            f"No Lennard-Jones parameters for {', '.join(missing)}; give (epsilon, sigma) for every species "
            f"present (known defaults: {', '.join(LJ_PARAMETERS)})."
        )
    index = {s: k for k, s in enumerate(species)}
    eps = np.zeros((len(species), len(species)))
    sig = np.zeros_like(eps)
    for a in species:
        for b in species:
            s_ab, e_ab = lorentz_berthelot(params[a][1], params[a][0], params[b][1], params[b][0])
            eps[index[a], index[b]], sig[index[a], index[b]] = e_ab, s_ab
    kinds = np.array([index[s] for s in symbols])
    return eps[kinds[:, None], kinds[None, :]], sig[kinds[:, None], kinds[None, :]]


def _lj_neighbors(atoms, cutoff: float):
    from ase.neighborlist import neighbor_list

    i, j, shift = neighbor_list("ijS", atoms, cutoff)
    return i, j, shift


def lj_energy_forces(
    atoms, params: dict[str, tuple[float, float]] | None = None, cutoff: float | None = None, shift: bool = False
) -> tuple[float, np.ndarray]:
    """Analytic Lennard-Jones energy (eV) and forces (eV/Å) of an ASE ``Atoms`` (periodic or not).

    ``params`` maps each element to (epsilon eV, sigma Å), default ``LJ_PARAMETERS``; unlike pairs are
    mixed with Lorentz-Berthelot. ``cutoff`` defaults to 3 x the largest sigma (ASE's default).
    ``shift=True`` subtracts V(cutoff) from every pair as ASE's ``LennardJones`` does, so the energy is
    continuous at the cutoff; the forces are not changed by the shift.
    """
    params = params or LJ_PARAMETERS
    eps, sig = _pair_parameters(atoms.get_chemical_symbols(), params)
    cutoff = cutoff or 3.0 * float(sig.max())
    i, j, s = _lj_neighbors(atoms, cutoff)
    vec = atoms.positions[j] - atoms.positions[i] + s @ atoms.cell.array
    r = np.linalg.norm(vec, axis=1)
    e_ij, s_ij = eps[i, j], sig[i, j]
    if np.any(r < 1e-8):
        raise ForceFieldError("Two atoms sit on top of each other (distance 0 Å); Lennard-Jones is infinite there.")
    sr6 = (s_ij / r) ** 6
    energy_pairs = 4 * e_ij * (sr6**2 - sr6)
    if shift:
        sc6 = (s_ij / cutoff) ** 6
        energy_pairs = energy_pairs - 4 * e_ij * (sc6**2 - sc6)
    dvdr = -24 * e_ij * (2 * sr6**2 - sr6) / r  # dV/dr
    # force on i from pair (i, j): -dV/dr * d r/d x_i = +dV/dr * vec/r
    f_pairs = (dvdr / r)[:, None] * vec
    forces = np.zeros((len(atoms), 3))
    np.add.at(forces, i, f_pairs)
    return 0.5 * float(energy_pairs.sum()), forces  # every pair appears twice (i->j and j->i)


def lj_energy_forces_autograd(
    atoms, params: dict[str, tuple[float, float]] | None = None, cutoff: float | None = None
) -> tuple[float, np.ndarray]:
    """The same Lennard-Jones energy written in torch; forces = -dE/dx by autograd (float64)."""
    import torch

    params = params or LJ_PARAMETERS
    eps, sig = _pair_parameters(atoms.get_chemical_symbols(), params)
    cutoff = cutoff or 3.0 * float(sig.max())
    i, j, s = _lj_neighbors(atoms, cutoff)
    pos = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
    offsets = torch.tensor(s @ atoms.cell.array, dtype=torch.float64)
    ii, jj = torch.as_tensor(i), torch.as_tensor(j)
    r = torch.linalg.norm(pos[jj] - pos[ii] + offsets, dim=1)
    e_ij, s_ij = torch.as_tensor(eps[i, j]), torch.as_tensor(sig[i, j])
    sr6 = (s_ij / r) ** 6
    energy = 0.5 * (4 * e_ij * (sr6**2 - sr6)).sum()
    (grad,) = torch.autograd.grad(energy, pos)
    return float(energy.detach()), (-grad).numpy()


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


def energy_convention(records: Sequence[dict[str, Any]]) -> str:
    """``"per_atom"`` or ``"per_cell"``: how the records' energies are given, decided from the data.

    Energies of one element differ by a few eV/atom at most, so whichever of E and E/N has the smaller
    relative spread (std/|mean|) across configurations of different sizes is the per-atom one. With all
    cells the same size, |E| < 20 eV means per atom (no element binds by more than ~10 eV/atom in DFT).
    ALIGNN's offline copy of mlearn is per atom (Si jid 1: 63 atoms, -4.6904 eV/atom; leaderboard total
    -295.4975 eV). The online jarvis-tools ``mlearn`` keys/units are not verified offline; hence this check.
    """
    values = np.array([float(r[_energy_key(r)]) for r in records])
    sizes = np.array([len(r["atoms"]["elements"]) for r in records], dtype=float)
    if np.ptp(sizes) > 0:

        def rel_spread(x: np.ndarray) -> float:
            return float(np.std(x) / max(abs(np.mean(x)), 1e-12))

        return "per_atom" if rel_spread(values) <= rel_spread(values / sizes) else "per_cell"
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


def prepare_configs(
    records: Sequence[dict[str, Any]], element: str | None = None, split_labels: dict[str, str] | None = None
) -> list[FFConfig]:
    """Turn mlearn records into checked ``FFConfig`` objects.

    * Energies become eV/atom (per-cell data are divided by N; see ``energy_convention``).
    * Forces must be an N x 3 array for an N-atom cell, else ForceFieldError names the configuration.
    * Stresses (if present, 6 Voigt numbers or 3x3 in kbar with VASP's sign, as in ALIGNN's mlearn copy)
      become GPa in ASE's sign convention; a missing or malformed stress becomes None.
    * With ``element`` given, configurations containing anything else are an error.
    * ``split_labels`` (jid -> "train"/"test", e.g. ``utils.split_records(records, "total_energy").labels``,
      the JARVIS-Leaderboard mlearn split) sets each configuration's ``split``.
    """
    from .structures import atoms_from_record, to_ase

    if not records:
        raise ForceFieldError("No configurations given.")
    convention = energy_convention(records)
    configs = []
    for k, rec in enumerate(records):
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
        energy = float(rec[_energy_key(rec)])
        if convention == "per_cell":
            energy /= len(atoms)
        split = (split_labels or {}).get(jid)
        stress = _as_stress(rec.get("stresses", rec.get("stress")))
        configs.append(FFConfig(jid, atoms, energy, forces, stress, split))
    return configs


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
# A small GNN potential in plain PyTorch
# =====================================================================


def radius_graph(atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges (src, dst, cartesian image offset) of every pair closer than ``cutoff`` Å.

    Periodic images are included (ASE neighbour list), so small cells get edges to their own images; the
    bond vector is ``pos[dst] - pos[src] + offset``.
    """
    from ase.neighborlist import neighbor_list

    if cutoff <= 0:
        raise ForceFieldError(f"cutoff must be positive (Å), found {cutoff}.")
    src, dst, shift = neighbor_list("ijS", atoms, cutoff)
    return src, dst, shift @ atoms.cell.array


def _torch():
    import torch

    return torch


class GaussianRBF:
    """Gaussian radial basis exp(-(r - mu_k)^2 / (2 w^2)) on [0, cutoff] times a smooth cosine cutoff."""

    def __init__(self, n: int, cutoff: float):
        torch = _torch()
        self.cutoff = cutoff
        self.centers = torch.linspace(0.0, cutoff, n)
        self.width = cutoff / n

    def __call__(self, r):
        torch = _torch()
        rbf = torch.exp(-((r[:, None] - self.centers.to(r)) ** 2) / (2 * self.width**2))
        return rbf * smooth_cutoff(r, self.cutoff)[:, None]


def smooth_cutoff(r, cutoff: float):
    """0.5 (cos(pi r / rc) + 1) for r < rc, else 0: goes to zero with zero slope, so forces stay continuous."""
    torch = _torch()
    return torch.where(r < cutoff, 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0), torch.zeros_like(r))


def build_gnn(
    cutoff: float = 4.5, hidden: int = 64, layers: int = 3, n_rbf: int = 24, max_z: int = 100
):  # -> GNNPotential
    """A fresh ``GNNPotential`` (see its docstring)."""
    torch = _torch()
    nn = torch.nn

    class GNNPotential(nn.Module):
        """Species embedding -> ``layers`` rounds of distance-filtered messages -> per-atom energies.

        Message to atom i: sum_j  W(rbf(r_ij)) * MLP(h_j)  (``index_add_`` over edges), residual update.
        E = sum_i [MLP(h_i) * scale + shift]; forces = -dE/dpositions by autograd.
        """

        def __init__(self):
            super().__init__()
            self.cutoff = cutoff
            self.rbf = GaussianRBF(n_rbf, cutoff)
            self.embed = nn.Embedding(max_z + 1, hidden)
            self.filters = nn.ModuleList(
                [nn.Sequential(nn.Linear(n_rbf, hidden), nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(layers)]
            )
            self.messages = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(layers)])
            self.updates = nn.ModuleList([nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(layers)])
            self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
            self.register_buffer("energy_shift", torch.zeros(()))  # eV/atom, set from the training mean
            self.register_buffer("energy_scale", torch.ones(()))  # eV/atom

        def forward(self, batch: dict[str, Any]) -> tuple[Any, Any]:
            """(energy per structure in eV, forces in eV/Å) for a batch from ``collate``."""
            pos = batch["positions"].detach().requires_grad_(True)
            src, dst = batch["src"], batch["dst"]
            vec = pos[dst] - pos[src] + batch["offsets"]
            r = torch.linalg.norm(vec, dim=1)
            basis = self.rbf(r)
            h = self.embed(batch["numbers"])
            for filt, msg, upd in zip(self.filters, self.messages, self.updates):
                m = filt(basis) * msg(h)[dst]
                agg = torch.zeros_like(h).index_add_(0, src, m)
                h = h + upd(agg)
            e_atom = self.readout(h).squeeze(-1) * self.energy_scale + self.energy_shift
            energy = torch.zeros(batch["n_structures"], dtype=e_atom.dtype).index_add_(0, batch["batch"], e_atom)
            (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=self.training)
            return energy, -grad

    return GNNPotential()


def graph_data(config: FFConfig, cutoff: float) -> dict[str, Any]:
    """Precomputed tensors of one configuration for ``collate`` (the graph is fixed for fixed positions)."""
    torch = _torch()
    src, dst, off = radius_graph(config.atoms, cutoff)
    return {
        "positions": torch.tensor(config.atoms.positions, dtype=torch.float32),
        "numbers": torch.tensor(config.atoms.numbers, dtype=torch.long),
        "src": torch.as_tensor(src, dtype=torch.long),
        "dst": torch.as_tensor(dst, dtype=torch.long),
        "offsets": torch.tensor(off, dtype=torch.float32),
        "energy": torch.tensor(config.energy_per_atom * config.natoms, dtype=torch.float32),
        "forces": torch.tensor(config.forces, dtype=torch.float32),
    }


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge several configurations into one disconnected graph (node indices offset per structure)."""
    torch = _torch()
    offsets, start = [], 0
    for it in items:
        offsets.append(start)
        start += len(it["numbers"])
    return {
        "positions": torch.cat([it["positions"] for it in items]),
        "numbers": torch.cat([it["numbers"] for it in items]),
        "src": torch.cat([it["src"] + o for it, o in zip(items, offsets)]),
        "dst": torch.cat([it["dst"] + o for it, o in zip(items, offsets)]),
        "offsets": torch.cat([it["offsets"] for it in items]),
        "batch": torch.cat([torch.full((len(it["numbers"]),), k, dtype=torch.long) for k, it in enumerate(items)]),
        "natoms": torch.tensor([len(it["numbers"]) for it in items], dtype=torch.float32),
        "n_structures": len(items),
        "energy": torch.stack([it["energy"] for it in items]),
        "forces": torch.cat([it["forces"] for it in items]),
    }


def train_gnn(
    model,
    train: Sequence[FFConfig],
    val: Sequence[FFConfig],
    epochs: int = 20,
    batch_size: int = 4,
    lr: float = 2e-3,
    force_weight: float = 10.0,
    seed: int = 42,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Fit ``model`` to energies per atom and forces (MSE loss, Adam, cosine learning-rate decay).

    Returns per-epoch validation MAEs: ``{"val energy (meV/atom)": [...], "val force (eV/Å)": [...]}``
    plus the training loss. The energy shift/scale are set from the training set first.
    """
    torch = _torch()
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    e_train = np.array([c.energy_per_atom for c in train])
    model.energy_shift.fill_(float(e_train.mean()))
    model.energy_scale.fill_(float(max(e_train.std(), 1e-3)))
    data_train = [graph_data(c, model.cutoff) for c in train]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"train loss": [], "val energy (meV/atom)": [], "val force (eV/Å)": []}
    bar = tqdm(range(epochs), desc="GNN epochs", disable=not progress)
    for _ in bar:
        model.train()
        order = rng.permutation(len(data_train))
        losses = []
        for k in range(0, len(order), batch_size):
            batch = collate([data_train[m] for m in order[k : k + batch_size]])
            energy, forces = model(batch)
            loss_e = (((energy - batch["energy"]) / batch["natoms"]) ** 2).mean()
            loss_f = ((forces - batch["forces"]) ** 2).mean()
            loss = loss_e + force_weight * loss_f
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        sched.step()
        pred = predict_gnn(model, val)
        history["train loss"].append(float(np.mean(losses)))
        history["val energy (meV/atom)"].append(1000 * float(np.mean(np.abs(pred["e_true"] - pred["e_pred"]))))
        history["val force (eV/Å)"].append(float(np.mean(np.abs(pred["f_true"] - pred["f_pred"]))))
        bar.set_postfix(
            E=f"{history['val energy (meV/atom)'][-1]:.1f} meV/at", F=f"{history['val force (eV/Å)'][-1]:.3f} eV/Å"
        )
    return history


def predict_gnn(model, configs: Sequence[FFConfig], batch_size: int = 8) -> dict[str, np.ndarray]:
    """Energies per atom (eV/atom) and force components (eV/Å), true and predicted, for ``configs``."""
    model.eval()
    e_true, e_pred, f_true, f_pred = [], [], [], []
    for k in range(0, len(configs), batch_size):
        chunk = configs[k : k + batch_size]
        batch = collate([graph_data(c, model.cutoff) for c in chunk])
        energy, forces = model(batch)
        e_pred.extend((energy.detach() / batch["natoms"]).tolist())
        e_true.extend(c.energy_per_atom for c in chunk)
        f_pred.append(forces.detach().numpy().ravel())
        f_true.append(np.concatenate([c.forces.ravel() for c in chunk]))
    return {
        "e_true": np.array(e_true),
        "e_pred": np.array(e_pred),
        "f_true": np.concatenate(f_true),
        "f_pred": np.concatenate(f_pred),
    }


# =====================================================================
# ALIGNN-FF (alignn's DGL-free alignn_atomwise_pure)
# =====================================================================


def alignn_ff_dir(element: str) -> Path:
    """Folder of the ALIGNN-FF checkpoint for ``element``: ``outputs/alignn_ff/<element>`` (created).

    Notebook 05 trains there; notebook 06 loads from there (and trains a small one when
    ``(alignn_ff_dir(el) / "best_model.pt")`` is absent, using ``train_alignn_ff``).
    """
    check_element(element)
    return outputs_dir("alignn_ff", element)


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
    return {
        "dataset": "user_data",
        "target": "target",
        "atom_features": "cgcnn",
        "neighbor_strategy": "pure_torch",
        "id_tag": "jid",
        "random_seed": seed,
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "keep_data_order": True,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "criterion": "l1",
        "optimizer": "adamw",
        "scheduler": "onecycle",
        "num_workers": 0,
        "cutoff": cutoff,
        "three_body_cutoff": min(3.5, cutoff),
        "max_neighbors": None,
        "use_lmdb": True,
        "write_predictions": True,
        "output_dir": str(output_dir),
        "filename": str(Path(output_dir) / "cache_"),
        "model": {
            "name": "alignn_atomwise_pure",
            "atom_input_features": 92,
            "alignn_layers": alignn_layers,
            "gcn_layers": gcn_layers,
            "hidden_features": hidden_features,
            "embedding_features": embedding_features,
            "calculate_gradient": True,
            "graphwise_weight": 1.0,
            "gradwise_weight": force_weight,
            "stresswise_weight": stress_weight,
            "atomwise_output_features": 0,
            "atomwise_weight": 0.0,
        },
    }


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
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig

    torch.manual_seed(cfg.get("random_seed") or 0)
    model = ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**cfg["model"]))
    with torch.no_grad():
        model.fc.bias.fill_(energy_per_atom)
    from alignn.config import TrainingConfig

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(TrainingConfig(**cfg).dict()))
    path = folder / "current_model.pt"
    torch.save(model.state_dict(), path)
    return path


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

    * Data: ``records`` or ``utils.load_dataset(f"mlearn_{element}")``, checked by ``prepare_configs`` and
      split by ``split_configs`` on the JARVIS-Leaderboard split from ``utils.split_records``
      (``max_configs`` for a smaller run).
    * Training: ``alignn.train_alignn.train_for_folder`` on an ``id_prop.json`` written in ``out_dir``
      (order train, val, test with ``keep_data_order``), config from ``alignn_ff_config(**config_kwargs)``.
      alignn's console output goes to ``out_dir/train.log`` unless ``verbose``.
    * Result in ``out_dir`` (default ``alignn_ff_dir(element)``): ``config.json``, ``best_model.pt``,
      ``history_train.json``/``history_val.json`` (columns: total, energy, -, force, stress, - losses),
      ``split.json`` (jids per part) and ``ffinfo.json`` (element, sizes, time, units).
    Stress training (``stress_weight > 0``) uses the mlearn stresses converted to GPa in ASE's sign
    convention; configurations without a usable stress then count as zero stress, so keep it off for
    data whose stresses are missing.
    """
    from alignn.train_alignn import train_for_folder

    from .data import load_dataset, split_records

    name = check_element(element)
    out = Path(out_dir) if out_dir is not None else alignn_ff_dir(element)
    if out.exists():
        for stale in ("best_model.pt", "current_model.pt", "last_model.pt", "config.json"):
            (out / stale).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    records = records if records is not None else load_dataset(name)
    labels = split_records(records, "total_energy").labels
    configs = prepare_configs(records, element, split_labels=labels)
    parts = split_configs(configs, max_configs=max_configs, seed=seed)
    with_stress = stress_weight > 0
    data_dir = out / "data"
    data_dir.mkdir(exist_ok=True)
    ordered = parts["train"] + parts["val"] + parts["test"]
    (data_dir / "id_prop.json").write_text(json.dumps([_alignn_record(c, with_stress) for c in ordered]))
    cfg = alignn_ff_config(
        len(parts["train"]), len(parts["val"]), len(parts["test"]), epochs, out,
        stress_weight=stress_weight, seed=seed, **config_kwargs,
    )  # fmt: skip
    (out / "train_config.json").write_text(json.dumps(cfg, indent=2))
    e_mean = float(np.mean([c.energy_per_atom for c in parts["train"]]))
    init = _alignn_initial_model(cfg, e_mean, out / "init")
    start = time.time()
    log_path = out / "train.log"
    with open(log_path, "w") as log:
        ctx = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(log)
        with ctx:
            train_for_folder(
                root_dir=str(data_dir),
                config_name=str(out / "train_config.json"),
                output_dir=str(out),
                restart_model_path=str(init),
            )
    seconds = time.time() - start
    for cache in out.glob("cache_*"):  # alignn's LMDB graph caches: rebuilt on every run
        shutil.rmtree(cache, ignore_errors=True) if cache.is_dir() else cache.unlink()
    if not (out / "best_model.pt").exists():
        raise ForceFieldError(f"alignn finished without writing best_model.pt in {out}; see {log_path}.")
    (out / "split.json").write_text(json.dumps({k: [c.jid for c in v] for k, v in parts.items()}))
    info = {
        "element": element,
        "n_train": len(parts["train"]),
        "n_val": len(parts["val"]),
        "n_test": len(parts["test"]),
        "epochs": epochs,
        "train_seconds": round(seconds, 1),
        "stress_weight": stress_weight,
        "energy_unit": "eV/atom (model 'out'); calculator returns eV per cell",
        "device": "cuda" if _torch().cuda.is_available() else "cpu",
    }
    (out / "ffinfo.json").write_text(json.dumps(info, indent=2))
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


def _alignn_calculator_class():
    from alignn.ff.calculators import AlignnAtomwiseCalculator

    class AlignnFFCalculator(AlignnAtomwiseCalculator):
        """alignn's ASE calculator with the force array always shaped (N, 3).

        alignn's model squeezes its force tensor, so a 1-atom cell comes back as shape (3,) and ASE's
        optimizers and filters then fail or broadcast silently. This subclass reshapes (and checks) it.
        """

        def calculate(self, atoms=None, properties=None, system_changes=None):
            if atoms is None or len(atoms) == 0:
                raise ForceFieldError("The ALIGNN-FF calculator needs an ASE Atoms with at least one atom.")
            super().calculate(atoms, properties, system_changes)
            forces = np.asarray(self.results["forces"], dtype=float)
            if forces.size != 3 * len(atoms):
                raise ForceFieldError(
                    f"ALIGNN-FF returned {forces.size} force components for {len(atoms)} atoms "
                    f"(expected {3 * len(atoms)})."
                )
            self.results["forces"] = forces.reshape(len(atoms), 3)
            self.results["energy"] = float(self.results["energy"])
            self.results["free_energy"] = self.results["energy"]
            stress = np.asarray(self.results.get("stress", np.zeros(6)), dtype=float)
            self.results["stress"] = stress if stress.shape == (6,) else np.zeros(6)

    return AlignnFFCalculator


def alignn_ff_calculator(model_dir: Path | str, device: str | None = None, model_filename: str = "best_model.pt"):
    """ASE calculator (energy eV, forces eV/Å, stress eV/Å^3) of an ALIGNN-FF checkpoint folder.

    ``model_dir`` must hold alignn's ``config.json`` and ``model_filename``, as written by
    ``train_alignn_ff``. Works for 1-atom cells (see ``AlignnFFCalculator``).
    """
    import torch

    model_dir = Path(model_dir)
    missing = [n for n in ("config.json", model_filename) if not (model_dir / n).exists()]
    if missing:
        raise ForceFieldError(
            f"{model_dir} is not an ALIGNN-FF checkpoint folder: {', '.join(missing)} missing. "
            f"Train one with utils.forcefields.train_alignn_ff(element) first."
        )
    torch.set_default_dtype(torch.float32)
    cls = _alignn_calculator_class()
    return cls(path=str(model_dir), model_filename=model_filename, device=device or "cpu")


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
    return {
        "e_true": np.array(e_true),
        "e_pred": np.array(e_pred),
        "f_true": np.concatenate(f_true),
        "f_pred": np.concatenate(f_pred),
    }


def ff_metrics(pred: dict[str, np.ndarray], train: Sequence[FFConfig]) -> dict[str, float]:
    """Energy MAE (meV/atom) and force MAE (eV/Å) with their mean-baseline counterparts.

    Baselines: energy = always the training mean energy per atom; force = always zero force.
    """
    e_mean = float(np.mean([c.energy_per_atom for c in train]))
    return {
        "energy MAE (meV/atom)": 1000 * float(np.mean(np.abs(pred["e_true"] - pred["e_pred"]))),
        "energy baseline MAE (meV/atom)": 1000 * float(np.mean(np.abs(pred["e_true"] - e_mean))),
        "force MAE (eV/Å)": float(np.mean(np.abs(pred["f_true"] - pred["f_pred"]))),
        "force baseline MAE (eV/Å)": float(np.mean(np.abs(pred["f_true"]))),
    }


# =====================================================================
# Simulations with any ASE calculator
# =====================================================================


def relax(
    atoms,
    calc,
    fmax: float = 0.02,
    steps: int = 200,
    relax_cell: bool = True,
    symmetry: bool = False,
    optimizer: str = "FIRE",
):
    """Relax positions (and the cell, via ASE's ``FrechetCellFilter``); returns a relaxed copy.

    ``symmetry`` keeps the space group (``FixSymmetry``) during the relaxation; ``optimizer`` is
    ``"FIRE"`` (robust for rough or untrained models) or ``"BFGS"`` (fewer steps near a smooth minimum).
    The copy carries the calculator, no constraint, and ``info["relax_steps"]``, ``info["converged"]``
    and ``info["energy"]`` (eV).
    """
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    optimizers = {
        "FIRE": lambda target: FIRE(target, logfile=None),
        "BFGS": lambda target: BFGS(target, logfile=None, maxstep=0.1),
    }
    if optimizer not in optimizers:
        raise ForceFieldError(f"optimizer must be one of {sorted(optimizers)}; found {optimizer!r}.")
    if len(atoms) == 0:
        raise ForceFieldError("Cannot relax an empty structure.")
    atoms = atoms.copy()
    atoms.calc = calc
    if symmetry:
        atoms.set_constraint(FixSymmetry(atoms, symprec=1e-3))
    opt = optimizers[optimizer](FrechetCellFilter(atoms) if relax_cell else atoms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FixSymmetry and the filters warn about details we do not need
        converged = bool(opt.run(fmax=fmax, steps=steps))
    energy = float(atoms.get_potential_energy())
    atoms.set_constraint()
    atoms.info.update(relax_steps=opt.get_number_of_steps(), converged=converged, energy=energy)
    return atoms


def energy_volume_scan(atoms, calc, linear_strains: Sequence[float], keep_fractional: bool = True):
    """Energies (eV) and volumes (Å³) of ``atoms`` under isotropic linear strains (cell x (1 + strain)).

    ``keep_fractional`` keeps the fractional coordinates (the homogeneous deformation of elasticity).
    ``keep_fractional=False`` keeps the cartesian positions instead, the chipsff 2024.11.30 mistake that
    squeezes only the bonds crossing the cell boundary: only for demonstrating the artifact.
    """
    volumes, energies = [], []
    for strain in linear_strains:
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell.array * (1 + strain), scale_atoms=keep_fractional)
        scaled.calc = calc
        volumes.append(scaled.get_volume())
        energies.append(scaled.get_potential_energy())
    return np.array(volumes), np.array(energies)


@dataclass
class EOSResult:
    """Birch-Murnaghan fit of E(V): minimum volume (Å³), energy (eV), bulk modulus (GPa) and checks."""

    volumes: np.ndarray
    energies: np.ndarray
    v0: float
    e0: float
    bulk_modulus: float
    rms_residual_mev_atom: float
    min_inside: bool
    ok: bool
    note: str


def fit_eos(
    volumes: Sequence[float], energies: Sequence[float], n_atoms: int, eos: str = "birchmurnaghan"
) -> EOSResult:
    """Fit E(V) with ASE's ``EquationOfState`` and check it.

    Checks: the fitted minimum lies inside the scanned volumes (else the range was off-centre and the
    modulus is an extrapolation), the RMS residual is below 1 meV/atom, the modulus is positive.
    """
    from ase.eos import EquationOfState

    v = np.asarray(volumes, dtype=float)
    e = np.asarray(energies, dtype=float)
    fit = EquationOfState(v, e, eos=eos)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v0, e0, b = fit.fit(warn=False)
    except Exception as exc:  # flat or noisy E(V): scipy's fit does not converge
        return EOSResult(v, e, math.nan, math.nan, math.nan, math.nan, False, False, f"the fit failed ({exc})")
    pred = fit.func(v, *fit.eos_parameters)
    rms = float(np.sqrt(np.mean((pred - e) ** 2)) / n_atoms * 1000)
    inside = bool(v.min() < v0 < v.max())
    notes = []
    if not inside:
        notes.append(f"minimum {v0:.2f} Å³ outside the scanned range {v.min():.2f}-{v.max():.2f} Å³")
    if rms > 1.0:
        notes.append(f"RMS residual {rms:.2f} meV/atom > 1 meV/atom")
    if not b > 0:
        notes.append("non-positive bulk modulus")
    bulk_modulus = float(b * EV_PER_A3_TO_GPA)
    return EOSResult(v, e, float(v0), float(e0), bulk_modulus, rms, inside, not notes, "; ".join(notes) or "ok")


def equation_of_state(
    atoms, calc, volume_range: float = 0.06, points: int = 9, eos: str = "birchmurnaghan"
) -> dict[str, Any]:
    """Energy-volume curve from isotropic scaling of ``atoms`` (positions kept fractional, not relaxed).

    Volumes span ``V0 (1 - volume_range) .. V0 (1 + volume_range)``. Returns volumes (Å^3/atom), energies
    (eV/atom), the fitted V0 (Å^3/atom), E0 (eV/atom), bulk modulus B (GPa) and the fit check of
    ``fit_eos`` (``ok``, ``note``).
    """
    if not 0 < volume_range < 0.5:
        raise ForceFieldError(f"volume_range is a fraction, e.g. 0.06 for +-6 %; found {volume_range}.")
    n = len(atoms)
    factors = np.linspace(1 - volume_range, 1 + volume_range, points)
    volumes, energies = energy_volume_scan(atoms, calc, np.cbrt(factors) - 1)
    fit = fit_eos(volumes / n, energies / n, n_atoms=1, eos=eos)
    return {
        "volumes": fit.volumes,
        "energies": fit.energies,
        "v0": fit.v0,
        "e0": fit.e0,
        "B_GPa": fit.bulk_modulus,
        "ok": fit.ok,
        "note": fit.note,
    }


def bulk_modulus_verdict(eos: dict[str, Any], reference_gpa: float | None, a: float, a_reference: float) -> str:
    """One sentence on whether an E-V result of ``equation_of_state`` is physically plausible.

    Implausible: a failed fit check, a modulus more than a factor of two from ``reference_gpa`` (DFT or
    experiment), or a relaxed lattice constant ``a`` more than 3 % from ``a_reference``. The sentence
    says what such a result means, so that a notebook never prints an absurd number without comment.
    """
    problems = []
    if not eos.get("ok", True):
        problems.append(f"the E-V fit failed its checks ({eos.get('note')})")
    elif reference_gpa and not 0.5 < eos["B_GPa"] / reference_gpa < 2:
        problems.append(f"B = {eos['B_GPa']:.1f} GPa is more than a factor of two from {reference_gpa} GPa")
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


@dataclass
class MDTrace:
    """Time series of an MD run: time (fs), potential/kinetic/total energy (eV/atom), temperature (K)."""

    time_fs: list[float] = field(default_factory=list)
    epot: list[float] = field(default_factory=list)
    ekin: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)

    @property
    def etot(self) -> np.ndarray:
        return np.array(self.epot) + np.array(self.ekin)


def run_md(
    atoms,
    calc,
    steps: int,
    timestep_fs: float = 1.0,
    temperature_K: float = 300.0,
    ensemble: str = "nve",
    friction: float = 0.02,
    start_temperature_K: float | None = None,
    interval: int = 1,
    seed: int = 42,
    progress: bool = True,
) -> tuple[Any, MDTrace]:
    """Run NVE (velocity Verlet) or NVT (Langevin) MD; returns (final atoms, trace).

    Velocities start from a Maxwell-Boltzmann distribution at ``start_temperature_K`` (default:
    ``temperature_K``) unless ``atoms`` already has momenta and ``start_temperature_K`` is None.
    ``friction`` is the Langevin friction in 1/fs.
    """
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet
    from tqdm.auto import tqdm

    atoms = atoms.copy()
    atoms.calc = calc
    has_momenta = np.abs(atoms.get_momenta()).sum() > 0
    if start_temperature_K is not None or not has_momenta:
        rng = np.random.default_rng(seed)
        MaxwellBoltzmannDistribution(atoms, temperature_K=start_temperature_K or temperature_K, rng=rng)
        Stationary(atoms)
    if ensemble == "nve":
        dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    elif ensemble == "nvt":
        dyn = Langevin(
            atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=friction / units.fs,
            rng=np.random.default_rng(seed),
        )  # fmt: skip
    else:
        raise ForceFieldError(f"ensemble must be 'nve' or 'nvt', found {ensemble!r}.")
    trace = MDTrace()
    n = len(atoms)

    def record():
        trace.time_fs.append(dyn.get_number_of_steps() * timestep_fs)
        trace.epot.append(atoms.get_potential_energy() / n)
        trace.ekin.append(atoms.get_kinetic_energy() / n)
        trace.temperature.append(atoms.get_temperature())

    record()
    bar = tqdm(total=steps, desc=f"MD {ensemble.upper()}", disable=not progress)
    done = 0
    while done < steps:
        k = min(interval, steps - done)
        dyn.run(k)
        done += k
        record()
        bar.update(k)
    bar.close()
    return atoms, trace


def rdf(atoms, rmax: float = 5.0, nbins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function g(r) of a periodic structure, or averaged over a sequence of frames.

    Periodic images are included. Returns bin centres (Å) and g(r), normalised so that an ideal gas of
    the same density gives 1. The one g(r) of the curriculum: notebook 06 uses it through utils.benchmark.
    """
    from ase.neighborlist import neighbor_list

    frames = [atoms] if hasattr(atoms, "get_volume") else list(atoms)
    if not frames:
        raise ForceFieldError("rdf needs a structure or a non-empty sequence of frames; found none.")
    edges = np.linspace(0.0, rmax, nbins + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = np.zeros(nbins)
    for frame in frames:
        counts, _ = np.histogram(neighbor_list("d", frame, rmax), bins=edges)
        density = len(frame) / frame.get_volume()
        g += counts / (len(frame) * density * shell)
    return 0.5 * (edges[1:] + edges[:-1]), g / len(frames)


def crystal(element: str, a: float | None = None, cubic: bool = True, repeat: Iterable[int] = (1, 1, 1)):
    """ASE's reference crystal of ``element`` (diamond Si/Ge, fcc Cu/Ni, bcc Li/Mo), optionally with lattice
    constant ``a`` (Å), as a conventional cubic cell repeated ``repeat`` times."""
    from ase.build import bulk

    try:
        atoms = bulk(element, a=a, cubic=cubic) if a else bulk(element, cubic=cubic)
    except (ValueError, KeyError) as exc:
        raise ForceFieldError(f"ASE knows no reference crystal for {element!r} ({exc}).") from exc
    return atoms.repeat(tuple(repeat))


def lattice_constant_from_volume(element: str, volume_per_atom: float) -> float:
    """Cubic lattice constant (Å) of ``crystal(element)`` with the given volume per atom (Å^3)."""
    ref = crystal(element)
    return float((volume_per_atom * len(ref)) ** (1 / 3))


def set_threads(n: int | None = None) -> int:
    """Limit torch's CPU threads (default: env ``OMP_NUM_THREADS`` or all cores); returns the number used."""
    torch = _torch()
    n = n or int(os.environ.get("OMP_NUM_THREADS", 0)) or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n
