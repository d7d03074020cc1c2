"""Tests of utils.simulation, the relax / E-V / MD / g(r) API shared by notebooks 06 and 07 (ASE EMT as the model)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from ase.units import GPa

from utils import simulation as sim


@pytest.fixture(scope="module")
def cu_cell():
    return sim.relax(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), fmax=1e-4).atoms


def test_relax_returns_a_clean_converged_copy(cu_cell):
    start = bulk("Cu", "fcc", a=3.7, cubic=True)
    out = sim.relax(start, EMT(), fmax=1e-3, steps=500)
    assert out.converged and out.steps > 0
    assert out.atoms.constraints == [] and out.atoms.calc is None
    assert out.atoms.cell.lengths()[0] == pytest.approx(cu_cell.cell.lengths()[0], abs=2e-3)
    assert start.cell.lengths()[0] == pytest.approx(3.7)  # the input is not changed
    with pytest.raises(sim.SimulationError, match="empty"):
        sim.relax(start[:0], EMT())


def test_eos_scan_matches_ase_recipe(cu_cell):
    volumes, energies = [], []
    a0 = cu_cell.cell.lengths()[0]
    for x in np.linspace(0.99, 1.01, 9):
        atoms = bulk("Cu", "fcc", a=a0 * x, cubic=True)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    _, _, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    eos = sim.eos_scan(cu_cell, EMT(), max_strain=0.01, n_points=9)
    assert eos.ok, eos.note
    assert eos.bulk_modulus == pytest.approx(b / GPa, rel=1e-3)
    per_atom = sim.fit_eos(eos.volumes / len(cu_cell), eos.energies / len(cu_cell), n_atoms=1)
    assert per_atom.bulk_modulus == pytest.approx(eos.bulk_modulus, rel=1e-6)  # per atom or per cell: same B
    with pytest.raises(sim.SimulationError, match="fraction"):
        sim.eos_scan(cu_cell, EMT(), max_strain=1.0)


def test_fit_eos_flags_an_off_centre_range():
    v = np.linspace(10, 12, 7)
    result = sim.fit_eos(v, 0.5 * (v - 9.0) ** 2, n_atoms=1)  # minimum at 9, outside the scanned volumes
    assert not result.ok and "outside" in result.note


def test_strain_keeps_fractional_coordinates():
    atoms = bulk("Si", "diamond", a=5.43)
    strain = 0.02 * np.eye(3)
    strain[1, 2] = strain[2, 1] = 0.005
    out = sim.strained(atoms, strain)
    assert np.allclose(out.get_scaled_positions(), atoms.get_scaled_positions())
    assert out.get_volume() == pytest.approx(atoms.get_volume() * 1.02**3, rel=1e-3)
    with pytest.raises(sim.SimulationError, match="3x3"):
        sim.strained(atoms, np.zeros(6))


def test_nve_conserves_energy_and_nvt_ramp_follows_the_target(cu_cell):
    cell = cu_cell.repeat(2)
    _, nve = sim.run_md(cell, EMT(), steps=40, timestep_fs=2.0, temperature_K=300, ensemble="nve", progress=False)
    assert len(nve.time_fs) == 41 and nve.time_fs[-1] == pytest.approx(80.0)
    assert np.std(nve.etot) < 1e-3 * np.ptp(nve.ekin) + 1e-4  # eV/atom
    hot, ramp = sim.run_md(
        cell, EMT(), steps=60, timestep_fs=2.0, temperature_K=600, ensemble="nvt", friction=0.05,
        final_temperature_K=50, sample_every=20, progress=False,
    )  # fmt: skip
    assert len(ramp.frames) == 4 and ramp.frames[0].calc is None
    assert np.mean(ramp.temperature[-10:]) < np.mean(ramp.temperature[5:15])
    _, more = sim.run_md(hot, EMT(), steps=2, ensemble="nve", progress=False)  # momenta kept, not redrawn
    assert more.ekin[0] == pytest.approx(hot.get_kinetic_energy() / len(hot))
    with pytest.raises(sim.SimulationError, match="ensemble"):
        sim.run_md(cell, EMT(), steps=1, ensemble="npt", progress=False)


def test_rdf_and_coordination_of_fcc():
    a, b = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2), bulk("Cu", "fcc", a=3.8, cubic=True).repeat(2)
    r, g_a = sim.rdf(a, r_max=4.0, n_bins=80)
    assert r[np.argmax(g_a)] == pytest.approx(3.6 / np.sqrt(2), abs=0.05)
    _, g_b = sim.rdf(b, r_max=4.0, n_bins=80)
    _, g_ab = sim.rdf([a, b], r_max=4.0, n_bins=80)
    assert np.allclose(g_ab, 0.5 * (g_a + g_b))
    assert sim.coordination_number(a, 3.0) == pytest.approx(12.0)
    assert sim.coordination_number([a, b], 3.0) == pytest.approx(12.0)
    with pytest.raises(sim.SimulationError, match="non-empty"):
        sim.rdf([], r_max=4.0)
