"""Checks of part 06a (interatomic potentials: from Lennard-Jones to a GNN)."""

from __future__ import annotations

import numpy as np

from . import blank, check_number, close, is_blank, verdict


def check_lj_minimum(r_min, depth, epsilon: float, sigma: float) -> bool:
    """Minimum of 4 eps [(s/r)^12 - (s/r)^6]: r = 2^(1/6) sigma, depth -epsilon."""
    if is_blank((r_min, depth)):
        return blank()
    right_r = close(r_min, 2 ** (1 / 6) * sigma, rtol=1e-3)
    right_depth = close(depth, -epsilon, rtol=1e-3)
    hint = (
        "r_min is the r where v is lowest (np.argmin), depth the lowest v (in eV)"
        if not right_r
        else "depth is the lowest value of v, in eV: negative"
    )
    return verdict(
        right_r and right_depth,
        hint,
        f"r_min = 2^(1/6) σ = {2 ** (1 / 6) * sigma:.4f} Å, depth −ε = {-epsilon} eV",
    )


def lj_energy(atoms, cutoff: float, params: dict) -> float:
    """Shifted Lennard-Jones energy (eV) with Lorentz-Berthelot mixing."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff)
    symbols = np.array(atoms.get_chemical_symbols())
    eps = np.sqrt([params[a][0] * params[b][0] for a, b in zip(symbols[i], symbols[j])])
    sig = np.array(
        [0.5 * (params[a][1] + params[b][1]) for a, b in zip(symbols[i], symbols[j])]
    )

    def pair(r):
        return 4 * eps * ((sig / r) ** 12 - (sig / r) ** 6)

    return float(0.5 * np.sum(pair(d) - pair(cutoff)))


def check_lj_energy(energy, atoms, cutoff: float, params: dict) -> bool:
    """The energy of ``atoms`` (eV) equals the shifted, mixed Lennard-Jones energy."""
    if is_blank(energy):
        return blank()
    expected = lj_energy(atoms, cutoff, params)
    return check_number(
        energy,
        expected,
        "call lj_messages(cell, LJ_CUTOFF, eps_mixed, sig_mixed) "
        "and take its first value, the energy in eV",
        rtol=1e-6,
        atol=1e-9,
        unit="eV",
    )


def check_unpacked(w_d, w_s, w_r, layer, hidden: int) -> bool:
    """W_d x_i + W_s x_j + W_r b + bias equals layer([x_i; x_j; b]) on random inputs."""
    import torch

    if is_blank((w_d, w_s, w_r)):
        return blank()
    k = layer.in_features - 2 * hidden
    try:
        x_i, x_j, b = torch.randn(5, hidden), torch.randn(5, hidden), torch.randn(5, k)
        with torch.no_grad():
            unpacked = x_i @ w_d.T + x_j @ w_s.T + b @ w_r.T + layer.bias
            packed = layer(torch.cat([x_i, x_j, b], dim=1))
        ok = torch.allclose(unpacked, packed, atol=1e-5)
    except (RuntimeError, TypeError, AttributeError):
        ok = False
    return verdict(
        ok,
        f"W has {2 * hidden + k} columns: the first {hidden} act on x_i, the next "
        f"{hidden} on x_j, the last {k} on b (slice W[:, a:b])",
    )
