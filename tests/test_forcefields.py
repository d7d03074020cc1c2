"""Tests of utils.forcefields: Lennard-Jones, mixing, data checks, the GNN potential, the ALIGNN-FF calculator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones

from utils import forcefields as ff

AR = ff.LJ_PARAMETERS["Ar"]  # (epsilon eV, sigma Å)


def ar_cluster(seed: int = 0) -> Atoms:
    rng = np.random.default_rng(seed)
    grid = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], float) * 3.8
    return Atoms("Ar8", positions=grid + rng.normal(0, 0.1, grid.shape), pbc=False)


def test_lj_pair_minimum_and_parts():
    eps, sigma = AR
    r_min = 2 ** (1 / 6) * sigma
    out = ff.lj_pair(np.array([r_min]), eps, sigma)
    assert out["energy"][0] == pytest.approx(-eps)
    assert out["force"][0] == pytest.approx(0.0, abs=1e-12)
    assert out["repulsive"][0] + out["attractive"][0] == pytest.approx(out["energy"][0])
    assert ff.lj_pair(sigma, eps, sigma)["energy"] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ff.ForceFieldError):
        ff.lj_pair(0.0, eps, sigma)


def test_lj_analytic_matches_autograd_and_ase_cluster():
    atoms = ar_cluster()
    e, f = ff.lj_energy_forces(atoms, cutoff=12.0)
    e_ag, f_ag = ff.lj_energy_forces_autograd(atoms, cutoff=12.0)
    assert e == pytest.approx(e_ag, rel=1e-12)
    np.testing.assert_allclose(f, f_ag, atol=1e-12)
    assert np.abs(f.sum(axis=0)).max() < 1e-12  # Newton's third law
    ref = atoms.copy()
    ref.calc = LennardJones(epsilon=AR[0], sigma=AR[1], rc=12.0)
    np.testing.assert_allclose(f, ref.get_forces(), atol=1e-10)
    # ASE shifts every pair energy by -V(rc): equal only with shift=True
    e_shift, _ = ff.lj_energy_forces(atoms, cutoff=12.0, shift=True)
    assert e_shift == pytest.approx(ref.get_potential_energy(), rel=1e-10)
    assert abs(e - ref.get_potential_energy()) > 1e-6


def test_lj_periodic_matches_ase():
    atoms = bulk("Ar", "fcc", a=5.26) * (2, 2, 2)
    atoms.rattle(0.05, seed=3)
    e, f = ff.lj_energy_forces(atoms, cutoff=8.0, shift=True)
    atoms.calc = LennardJones(epsilon=AR[0], sigma=AR[1], rc=8.0)
    assert e == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
    np.testing.assert_allclose(f, atoms.get_forces(), atol=1e-10)


def test_lorentz_berthelot_and_mixed_dimer():
    (eps_ne, sig_ne), (eps_ar, sig_ar) = ff.LJ_PARAMETERS["Ne"], ff.LJ_PARAMETERS["Ar"]
    sig, eps = ff.lorentz_berthelot(sig_ne, eps_ne, sig_ar, eps_ar)
    assert sig == pytest.approx(0.5 * (2.74 + 3.40))
    assert eps == pytest.approx(np.sqrt(0.0031 * 0.0104))
    assert ff.lorentz_berthelot(sig_ar, eps_ar, sig_ar, eps_ar) == pytest.approx((sig_ar, eps_ar))
    dimer = Atoms("NeAr", positions=[[0, 0, 0], [0, 0, 3.3]], pbc=False)
    energy, forces = ff.lj_energy_forces(dimer, cutoff=20.0)
    assert energy == pytest.approx(ff.lj_pair(3.3, eps, sig)["energy"])
    assert forces[1, 2] == pytest.approx(ff.lj_pair(3.3, eps, sig)["force"])
    with pytest.raises(ff.ForceFieldError, match="No Lennard-Jones parameters for He"):
        ff.lj_energy_forces(Atoms("He2", positions=[[0, 0, 0], [0, 0, 3]]))


def record(natoms: int = 2, energy: float = -5.0, forces=None, jid="x-1") -> dict:
    rec = {
        "jid": jid,
        "atoms": {
            "lattice_mat": (np.eye(3) * 5.43).tolist(),
            "coords": [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]][:natoms],
            "elements": ["Si"] * natoms,
            "cartesian": False,
        },
        "total_energy": energy,
        "forces": forces if forces is not None else np.zeros((natoms, 3)).tolist(),
        "stresses": [1.0, 2.0, 3.0, 0.0, 0.0, 0.0],
    }
    return rec


def test_force_shape_mismatch_is_a_clear_error():
    bad = record(natoms=2, forces=[[0.0, 0.0, 0.0]], jid="Si-bad")
    with pytest.raises(ff.ForceFieldError, match=r"Si-bad.*\(1, 3\).*\(2, 3\)"):
        ff.prepare_configs([record(jid="ok"), bad])


def test_unknown_element_is_a_clear_error():
    with pytest.raises(ff.ForceFieldError, match="not a chemical symbol"):
        ff.check_element("Xx")
    with pytest.raises(ff.ForceFieldError, match="mlearn has no DFT data for Fe"):
        ff.check_element("Fe")
    with pytest.raises(ff.ForceFieldError):
        ff.alignn_ff_dir("si")
    assert ff.check_element("Si") == "mlearn_Si"
    with pytest.raises(ff.ForceFieldError, match="expected only Cu"):
        ff.prepare_configs([record()], element="Cu")


def test_energy_units_per_atom_and_per_cell():
    per_atom = [record(2, -5.40), record(4, -5.30), record(3, -5.35)]
    per_cell = [record(2, -10.80), record(4, -21.20), record(3, -16.05)]
    assert ff.energy_convention(per_atom) == "per_atom"
    assert ff.energy_convention(per_cell) == "per_cell"
    a, c = ff.prepare_configs(per_atom), ff.prepare_configs(per_cell)
    np.testing.assert_allclose([x.energy_per_atom for x in a], [-5.40, -5.30, -5.35])
    np.testing.assert_allclose([x.energy_per_atom for x in c], [-5.40, -5.30, -5.35])
    # VASP kbar, compressive positive -> GPa, tensile positive
    np.testing.assert_allclose(a[0].stress, [-0.1, -0.2, -0.3, 0, 0, 0])


def test_split_follows_leaderboard():
    recs = [record(2, -5 - 0.01 * k, jid=f"t{k}") for k in range(20)]
    recs += [record(2, -5.0, jid=f"s{k}") for k in range(5)]
    recs += [record(2, -5.0, jid=f"n{k}") for k in range(3)]
    labels = {f"t{k}": "train" for k in range(20)} | {f"s{k}": "test" for k in range(5)}
    parts = ff.split_configs(ff.prepare_configs(recs, split_labels=labels))
    assert {c.jid for c in parts["test"]} == {f"s{k}" for k in range(5)}
    assert len(parts["train"]) + len(parts["val"]) == 20
    assert not {c.jid for c in parts["train"]} & {c.jid for c in parts["val"]}


def test_gnn_forces_are_negative_gradient():
    import torch

    torch.manual_seed(0)
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.rattle(0.05, seed=1)
    cfg = ff.FFConfig("x", atoms, -5.0, np.zeros((2, 3)))
    model = ff.build_gnn(cutoff=4.0, hidden=16, layers=2, n_rbf=8).double()
    model.eval()

    def energy(a):
        data = ff.graph_data(ff.FFConfig("x", a, -5.0, np.zeros((len(a), 3))), model.cutoff)
        batch = ff.collate([data])
        batch["positions"], batch["offsets"] = batch["positions"].double(), batch["offsets"].double()
        e, f = model(batch)
        return float(e[0].detach()), f.detach().numpy()

    e0, f0 = energy(cfg.atoms)
    h = 1e-5
    moved = atoms.copy()
    moved.positions[0, 0] += h
    e1, _ = energy(moved)
    assert -(e1 - e0) / h == pytest.approx(f0[0, 0], rel=1e-3, abs=1e-6)
    shifted = atoms.copy()
    shifted.positions += 0.3
    assert energy(shifted)[0] == pytest.approx(e0, abs=1e-8)  # translation invariant
    src, dst, off = ff.radius_graph(Atoms("Si", cell=np.eye(3) * 2.5, pbc=True), 3.0)
    assert len(src) == 6 and np.allclose(np.linalg.norm(off, axis=1), 2.5)  # a 1-atom cell sees its images


def test_rdf_first_peak_fcc():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    r, g = ff.rdf(atoms, rmax=4.0, nbins=80)
    assert r[np.argmax(g)] == pytest.approx(3.6 / np.sqrt(2), abs=0.05)


@pytest.fixture(scope="module")
def tiny_alignn_ff(tmp_path_factory):
    """An untrained (but real) alignn_atomwise_pure checkpoint folder; no data, no network."""
    folder = tmp_path_factory.mktemp("alignn_ff")
    cfg = ff.alignn_ff_config(
        2, 1, 1, 1, folder, hidden_features=16, embedding_features=16, alignn_layers=1, gcn_layers=1
    )
    path = ff._alignn_initial_model(cfg, -5.0, folder)
    return folder, path.name


def test_alignn_calculator_handles_one_atom_cell(tiny_alignn_ff):
    folder, name = tiny_alignn_ff
    calc = ff.alignn_ff_calculator(folder, model_filename=name)
    one = Atoms("Si", cell=np.eye(3) * 2.6, pbc=True)
    one.calc = calc
    assert one.get_forces().shape == (1, 3)
    assert np.isfinite(one.get_potential_energy())
    assert one.get_stress().shape == (6,)
    relaxed = ff.relax(one, calc, steps=3)  # FrechetCellFilter on a 1-atom cell must not fail
    assert len(relaxed) == 1
    two = bulk("Si", "diamond", a=5.43)
    two.calc = calc
    assert two.get_forces().shape == (2, 3)


def test_alignn_calculator_missing_checkpoint(tmp_path):
    with pytest.raises(ff.ForceFieldError, match="not an ALIGNN-FF checkpoint folder"):
        ff.alignn_ff_calculator(tmp_path)


def test_rdf_of_frames_is_the_average_and_benchmark_shares_it():
    from utils import benchmark

    a, b = bulk("Cu", cubic=True).repeat(2), bulk("Cu", a=3.8, cubic=True).repeat(2)
    r, g_a = ff.rdf(a, rmax=4.0, nbins=40)
    _, g_b = ff.rdf(b, rmax=4.0, nbins=40)
    _, g_ab = benchmark.rdf([a, b], r_max=4.0, n_bins=40)
    assert np.allclose(g_ab, 0.5 * (g_a + g_b))
    with pytest.raises(ff.ForceFieldError, match="non-empty sequence"):
        ff.rdf([], rmax=4.0)


def test_equation_of_state_per_atom_agrees_with_the_benchmark_scan():
    from ase.calculators.emt import EMT

    from utils import benchmark as bm

    cell = ff.relax(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), fmax=1e-4, symmetry=True, optimizer="BFGS")
    assert cell.info["converged"] and cell.constraints == []
    teaching = ff.equation_of_state(cell, EMT(), volume_range=0.03, points=9)
    protocol = bm.eos_scan(cell, EMT(), max_strain=0.01, n_points=9)
    assert teaching["ok"], teaching["note"]
    assert teaching["v0"] == pytest.approx(protocol.v0 / len(cell), rel=1e-3)
    assert teaching["B_GPa"] == pytest.approx(protocol.bulk_modulus, rel=0.01)
    with pytest.raises(ff.ForceFieldError, match="optimizer"):
        ff.relax(cell, EMT(), optimizer="LBFGS-typo")


def test_bulk_modulus_verdict_names_implausible_results():
    good = {"ok": True, "note": "ok", "B_GPa": 93.0}
    assert ff.bulk_modulus_verdict(good, 87.3, 5.47, 5.469).startswith("plausible")
    flat = ff.bulk_modulus_verdict({"ok": True, "B_GPa": 0.97}, 141.4, 3.628, 3.628)
    assert flat.startswith("IMPLAUSIBLE") and "factor of two" in flat
    failed = ff.bulk_modulus_verdict({"ok": False, "note": "the fit failed", "B_GPa": math.nan}, 11.6, 3.68, 3.438)
    assert "fit failed" in failed and "+7.0 %" in failed
