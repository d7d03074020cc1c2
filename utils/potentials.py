"""The GNN potential that notebook 06a writes out (section 5), for the parts that train and use it on DFT data.

A radius graph per structure, Gaussian radial basis functions with a smooth cutoff, a species embedding updated
by CGCNN layers in their unpacked form (W_d x_i + W_s x_j + W_r b + a pair-species bias), one energy per atom,
forces by autograd. Units: Å, eV, eV/Å.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def radius_graph(atoms, cutoff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edges (i, j) of every pair closer than ``cutoff`` (Å), periodic images included, and the cartesian
    offset of each: the bond vector is ``pos[j] - pos[i] + offset`` (written out in notebook 06a, section 3)."""
    from ase.neighborlist import neighbor_list

    i, j, shift = neighbor_list("ijS", atoms, cutoff)
    return torch.as_tensor(i), torch.as_tensor(j), torch.tensor(shift @ atoms.cell.array)


def rbf(r: torch.Tensor, n_rbf: int, cutoff: float) -> torch.Tensor:
    """Gaussian radial basis: ``n_rbf`` bumps with centres evenly spaced on [0, cutoff] (Å)."""
    centers = torch.linspace(0, cutoff, n_rbf, dtype=r.dtype, device=r.device)
    width = centers[1] - centers[0]
    return torch.exp(-((r[:, None] - centers) ** 2) / (2 * width**2))


def smooth_cutoff(r: torch.Tensor, cutoff: float) -> torch.Tensor:
    """½ (cos(π r / r_c) + 1) inside r_c, 0 outside: value and slope vanish at r_c."""
    return torch.where(r < cutoff, 0.5 * (torch.cos(torch.pi * r / cutoff) + 1), 0.0)


class GNNPotential(torch.nn.Module):
    """E = sum of atomic energies; features: species embedding updated by CGCNN layers (unpacked
    W_d x_i + W_s x_j + W_r b, pair-species bias, smooth cutoff on every message); F = -dE/dr.

    ``species``: the element symbols the model knows (their order fixes the embedding rows); ``neighbours``:
    the typical number of neighbours within the cutoff, which divides each sum of messages.
    """

    def __init__(
        self, species: Sequence[str], cutoff: float, hidden: int = 32, layers: int = 2, n_rbf: int = 24,
        neighbours: float = 1.0,
    ):
        super().__init__()
        nn, n = torch.nn, len(species)
        self.species, self.cutoff, self.n_rbf = list(species), float(cutoff), int(n_rbf)
        self.neighbours = float(neighbours)
        self.embed = nn.Embedding(n, hidden)
        self.w_d = nn.ModuleList(nn.Linear(hidden, 2 * hidden) for _ in range(layers))
        self.w_s = nn.ModuleList(nn.Linear(hidden, 2 * hidden, bias=False) for _ in range(layers))
        self.w_r = nn.ModuleList(nn.Linear(n_rbf, 2 * hidden, bias=False) for _ in range(layers))
        self.pair_bias = nn.ModuleList(nn.Embedding(n * n, 2 * hidden) for _ in range(layers))
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        self.register_buffer("shift", torch.zeros(()))  # eV/atom, the training mean
        self.register_buffer("scale", torch.ones(()))  # eV/atom, the training spread

    def forward(self, g: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(energy of each structure in eV, forces in eV/Å) of a graph from ``batch_graph``."""
        pos = g["pos"].detach().requires_grad_(True)
        i, j, kind = g["i"], g["j"], g["kind"]
        r = torch.linalg.norm(pos[j] - pos[i] + g["offsets"], dim=1)
        b, fc = rbf(r, self.n_rbf, self.cutoff), smooth_cutoff(r, self.cutoff)[:, None]
        pair, x = kind[i] * len(self.species) + kind[j], self.embed(kind)
        for w_d, w_s, w_r, bias in zip(self.w_d, self.w_s, self.w_r, self.pair_bias):
            gate, core = (w_d(x)[i] + w_s(x)[j] + w_r(b) + bias(pair)).chunk(2, dim=1)
            message = torch.sigmoid(gate) * torch.nn.functional.softplus(core) * fc
            x = x + torch.zeros_like(x).index_add(0, i, message) / self.neighbours
        e_atom = self.readout(x).squeeze(1) * self.scale + self.shift
        energy = torch.zeros(g["n"], device=pos.device, dtype=e_atom.dtype).index_add(0, g["structure"], e_atom)
        (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=self.training)
        return energy, -grad


def structure_graph(atoms, cutoff: float, species: Sequence[str]) -> dict:
    """The tensors of one structure's radius graph (CPU, float32), ready for ``batch_graph``."""
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(species))
    if unknown:
        raise ValueError(f"The structure contains {', '.join(unknown)}; the model knows only {', '.join(species)}.")
    i, j, offsets = radius_graph(atoms, cutoff)
    kind = torch.tensor([list(species).index(s) for s in symbols])
    return {"pos": torch.tensor(atoms.positions, dtype=torch.float32), "i": i, "j": j,
            "offsets": offsets.float(), "kind": kind}  # fmt: skip


def batch_graph(graphs: Sequence[dict], device: str = "cpu") -> dict:
    """Several ``structure_graph`` results as one disconnected graph on ``device`` (written out in notebook 06a)."""
    starts = np.cumsum([0] + [len(g["kind"]) for g in graphs[:-1]])
    out = {key: torch.cat([g[key] for g in graphs]) for key in ("pos", "offsets", "kind")}
    out["i"] = torch.cat([g["i"] + int(s) for g, s in zip(graphs, starts)])
    out["j"] = torch.cat([g["j"] + int(s) for g, s in zip(graphs, starts)])
    out["structure"] = torch.cat([torch.full((len(g["kind"]),), k) for k, g in enumerate(graphs)])
    return {**{k: v.to(device) for k, v in out.items()}, "n": len(graphs)}
