"""The GNN potential that notebook 06a writes out (section 5), for the parts that train and use it on DFT data.
Units: Å, eV, eV/Å, GPa."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from .simulation import EV_PER_A3_TO_GPA


class GNNPotential(torch.nn.Module):
    """E = sum of atomic energies; features: species embedding updated by CGCNN layers (unpacked
    W_d x_i + W_s x_j + W_r b on Gaussian radial bases, pair-species bias, smooth cutoff on every message);
    F = -dE/dr (written out in notebook 06a, sections 3-5). ``species``: the element symbols the model knows
    (their order fixes the embedding rows)."""

    def __init__(self, species: Sequence[str], cutoff: float, hidden: int = 32, layers: int = 2, n_rbf: int = 24):
        super().__init__()
        nn, n = torch.nn, len(species)
        self.species, self.cutoff, self.n_rbf = list(species), float(cutoff), int(n_rbf)
        self.embed = nn.Embedding(n, hidden)
        self.w_d = nn.ModuleList(nn.Linear(hidden, 2 * hidden) for _ in range(layers))
        self.w_s = nn.ModuleList(nn.Linear(hidden, 2 * hidden, bias=False) for _ in range(layers))
        self.w_r = nn.ModuleList(nn.Linear(n_rbf, 2 * hidden, bias=False) for _ in range(layers))
        self.pair_bias = nn.ModuleList(nn.Embedding(n * n, 2 * hidden) for _ in range(layers))
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        self.register_buffer("shift", torch.zeros(()))  # eV/atom, the training mean
        self.register_buffer("scale", torch.ones(()))  # eV/atom, the training spread

    def forward(self, g: dict, strain: torch.Tensor | None = None):
        """(energy of each structure in eV, forces in eV/Å) of a graph from ``batch_graph``; with a zero ``strain``
        tensor (n, 3, 3), one per structure, also dE/d(strain) (eV): its symmetric part over the volume is the
        stress."""
        pos = g["pos"].detach().requires_grad_(True)
        i, j, kind = g["i"], g["j"], g["kind"]
        vectors = pos[j] - pos[i] + g["offsets"]
        if strain is not None:  # r -> r (1 + strain of its structure)
            vectors = vectors + torch.einsum("ea,eab->eb", vectors, strain[g["structure"][i]])
        r = torch.linalg.norm(vectors, dim=1)
        centers = torch.linspace(0, self.cutoff, self.n_rbf, dtype=r.dtype, device=r.device)
        b = torch.exp(-((r[:, None] - centers) ** 2) / (2 * (centers[1] - centers[0]) ** 2))  # Gaussian radial basis
        fc = torch.where(r < self.cutoff, 0.5 * (torch.cos(torch.pi * r / self.cutoff) + 1), 0.0)[:, None]  # smooth
        pair, x = kind[i] * len(self.species) + kind[j], self.embed(kind)
        for w_d, w_s, w_r, bias in zip(self.w_d, self.w_s, self.w_r, self.pair_bias):
            gate, core = (w_d(x)[i] + w_s(x)[j] + w_r(b) + bias(pair)).chunk(2, dim=1)
            message = torch.sigmoid(gate) * torch.nn.functional.softplus(core) * fc
            x = x + torch.zeros_like(x).index_add(0, i, message)
        e_atom = self.readout(x).squeeze(1) * self.scale + self.shift
        energy = torch.zeros(g["n"], device=pos.device, dtype=e_atom.dtype).index_add(0, g["structure"], e_atom)
        inputs = [pos] if strain is None else [pos, strain]
        grads = torch.autograd.grad(energy.sum(), inputs, create_graph=self.training)
        return (energy, -grads[0]) if strain is None else (energy, -grads[0], grads[1])


def structure_graph(atoms, cutoff: float, species: Sequence[str], dtype: torch.dtype = torch.float32) -> dict:
    """The tensors of one structure's radius graph (CPU; positions and offsets in ``dtype``), ready for
    ``batch_graph``: edges (i, j) of every pair closer than ``cutoff`` (Å), periodic images included, and the
    cartesian offset of each (bond vector ``pos[j] - pos[i] + offset``)."""
    from ase.neighborlist import neighbor_list
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(species))
    if unknown:
        raise ValueError(f"The structure contains {', '.join(unknown)}; the model knows only {', '.join(species)}.")
    i, j, shift = neighbor_list("ijS", atoms, cutoff)
    return {"pos": torch.tensor(atoms.positions, dtype=dtype), "i": torch.as_tensor(i), "j": torch.as_tensor(j),
            "offsets": torch.tensor(shift @ atoms.cell.array, dtype=dtype),
            "kind": torch.tensor([list(species).index(s) for s in symbols])}


def batch_graph(graphs: Sequence[dict], device: str = "cpu") -> dict:
    """Several ``structure_graph`` results as one disconnected graph on ``device`` (written out in notebook 06a,
    section 5)."""
    starts = np.cumsum([0] + [len(g["kind"]) for g in graphs[:-1]])
    out = {key: torch.cat([g[key] for g in graphs]) for key in ("pos", "offsets", "kind")}
    out["i"] = torch.cat([g["i"] + int(s) for g, s in zip(graphs, starts)])
    out["j"] = torch.cat([g["j"] + int(s) for g, s in zip(graphs, starts)])
    out["structure"] = torch.cat([torch.full((len(g["kind"]),), k) for k, g in enumerate(graphs)])
    return {**{k: v.to(device) for k, v in out.items()}, "n": len(graphs)}


class GNNCalculator(Calculator):
    """ASE calculator of a trained ``GNNPotential`` (float64 on the CPU): energy (eV), forces (eV/Å) and stress
    (eV/Å³, ASE's sign and Voigt order) as the strain derivative of the energy over the volume."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model: GNNPotential):
        super().__init__()
        self.model = copy.deepcopy(model).cpu().double().eval()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        graph = structure_graph(self.atoms, self.model.cutoff, self.model.species, torch.float64)
        strain = torch.zeros(1, 3, 3, dtype=torch.float64, requires_grad=True)
        energy, forces, de_dstrain = self.model(batch_graph([graph]), strain)
        volume = torch.tensor([self.atoms.get_volume()], dtype=torch.float64)
        stress = stress_gpa(de_dstrain, volume)[0] / EV_PER_A3_TO_GPA  # eV/Å³, as ASE expects
        self.results = {"energy": energy.item(), "free_energy": energy.item(),
                        "forces": forces.detach().numpy(), "stress": stress.detach().numpy()}


def fit(model: GNNPotential, configs, epochs: int, batch_size: int = 4, seed: int = 42, device: str = "cpu",
        stress_weight: float = 1.0) -> GNNPotential:
    """Train ``model`` on ``configs`` (``forcefields.FFConfig``: energy per atom, forces) with the loss and loop
    written out in notebook 06b, section 4: squared errors of energy per atom and force components, each over the
    variance of its targets, and (``stress_weight``) of the stress components (GPa) of the configurations with a
    stress; Adam with a cosine learning rate. Returns the model in eval mode."""
    e_train = np.array([c.energy_per_atom for c in configs])
    model.shift.fill_(float(e_train.mean()))
    model.scale.fill_(float(e_train.std()) or 1.0)
    e_var = float(e_train.var()) or 1.0
    f_var = float(np.concatenate([c.forces.ravel() for c in configs]).var()) or 1.0
    graphs = [structure_graph(c.atoms, model.cutoff, model.species) for c in configs]
    has = [c.stress is not None for c in configs]
    stresses = np.array([c.stress if h else np.zeros(6) for c, h in zip(configs, has)])
    s_var = float(stresses[has].var()) if any(has) else 1.0
    volumes = np.array([c.atoms.get_volume() for c in configs])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        for chunk in np.array_split(rng.permutation(len(configs)), max(1, len(configs) // batch_size)):
            strain = torch.zeros(len(chunk), 3, 3, device=device, requires_grad=True)
            e_pred, f_pred, de = model(batch_graph([graphs[k] for k in chunk], device), strain)
            n = torch.tensor([configs[k].natoms for k in chunk], device=device)
            e = torch.tensor([configs[k].energy_per_atom for k in chunk], device=device)
            f = torch.tensor(np.concatenate([configs[k].forces for k in chunk]), device=device)
            loss = ((e_pred / n - e) ** 2).mean() / e_var + ((f_pred - f.float()) ** 2).mean() / f_var
            s_pred = stress_gpa(de, torch.tensor(volumes[chunk], device=device))
            s_true = torch.tensor(stresses[chunk], dtype=torch.float32, device=device)
            mask = torch.tensor([has[k] for k in chunk], device=device)
            if stress_weight and mask.any():
                loss = loss + stress_weight * ((s_pred - s_true)[mask] ** 2).mean() / s_var
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    return model.eval()


def stress_gpa(de_dstrain: torch.Tensor, volumes: torch.Tensor) -> torch.Tensor:
    """Stresses (GPa, ASE's sign, Voigt order xx, yy, zz, yz, xz, xy) from dE/d(strain) (n, 3, 3) in eV and the
    volumes (n,) in Å³ (written out in notebook 06b, section 4)."""
    sym = 0.5 * (de_dstrain + de_dstrain.transpose(1, 2)) / volumes[:, None, None].to(de_dstrain.dtype)
    return EV_PER_A3_TO_GPA * sym[:, [0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
