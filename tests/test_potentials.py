"""Tests of utils.potentials, the GNN potential of notebook 06a used on DFT data in 06b."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from utils import potentials as pot


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return pot.GNNPotential(["Si"], cutoff=4.0, hidden=8, layers=2, n_rbf=8).double().eval()


def energy_forces(model, atoms):
    graph = pot.structure_graph(atoms, model.cutoff, model.species, torch.float64)
    energy, forces = model(pot.batch_graph([graph]))
    return float(energy[0].detach()), forces.detach().numpy()


def test_forces_are_minus_the_energy_gradient_and_translation_changes_nothing(model):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=1)
    e0, f0 = energy_forces(model, atoms)
    moved = atoms.copy()
    moved.positions[3, 1] += 1e-5
    assert -(energy_forces(model, moved)[0] - e0) / 1e-5 == pytest.approx(f0[3, 1], rel=1e-3, abs=1e-6)
    shifted = atoms.copy()
    shifted.positions += 0.37
    assert energy_forces(model, shifted)[0] == pytest.approx(e0, abs=1e-9)
    assert np.allclose(f0.sum(axis=0), 0, atol=1e-9)  # no net force on a periodic crystal


def test_a_batch_is_the_sum_of_its_structures(model):
    small, large = bulk("Si", "diamond", a=5.43), bulk("Si", "diamond", a=5.6, cubic=True)
    graphs = [pot.structure_graph(a, model.cutoff, model.species) for a in (small, large)]
    model32 = model.float()
    energies, forces = model32(pot.batch_graph(graphs))
    alone = [model32(pot.batch_graph([g]))[0] for g in graphs]
    assert torch.allclose(energies, torch.cat(alone), atol=1e-4) and forces.shape == (10, 3)
    model.double()


def test_an_unknown_element_is_refused():
    with pytest.raises(ValueError, match="contains Cu; the model knows only Si"):
        pot.structure_graph(bulk("Cu"), 4.0, ["Si"])


def test_the_calculator_stress_is_the_strain_derivative_of_the_energy(model):
    atoms = bulk("Si", "diamond", a=5.5, cubic=True)
    atoms.rattle(0.02, seed=2)
    atoms.calc = pot.GNNCalculator(model)
    stress, volume, h = atoms.get_stress(), atoms.get_volume(), 1e-5

    def energy(a, b, size):  # strain with eps_ab = eps_ba, summing to ``size``
        strain = np.eye(3)
        strain[a, b] += size / 2
        strain[b, a] += size / 2
        strained = atoms.copy()
        strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        strained.calc = pot.GNNCalculator(model)
        return strained.get_potential_energy()

    for voigt, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        slope = (energy(a, b, h) - energy(a, b, -h)) / (2 * h)
        assert stress[voigt] == pytest.approx(slope / volume, rel=1e-3, abs=1e-8)
    assert atoms.get_forces().shape == (8, 3)


def test_a_batch_strain_gives_each_structure_its_own_stress(model):
    cells = [bulk("Si", "diamond", a=5.45, cubic=True), bulk("Si", "diamond", a=5.6, cubic=True)]
    cells[1].rattle(0.03, seed=3)
    graphs = [pot.structure_graph(atoms, model.cutoff, model.species, torch.float64) for atoms in cells]
    strain = torch.zeros(2, 3, 3, dtype=torch.float64, requires_grad=True)
    _, _, de = model(pot.batch_graph(graphs), strain)
    volumes = torch.tensor([a.get_volume() for a in cells], dtype=torch.float64)
    batched = pot.stress_gpa(de, volumes).detach().numpy()
    for k, atoms in enumerate(cells):
        atoms.calc = pot.GNNCalculator(model)
        assert np.allclose(batched[k], atoms.get_stress() * pot.EV_PER_A3_TO_GPA, rtol=1e-6, atol=1e-9)
