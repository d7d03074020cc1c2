"""The checks of lesson 06's exercises (06a-06c) accept the right answer and reject wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.units import GPa

torch = pytest.importorskip("torch")

from exercises import lesson_06a, lesson_06b, lesson_06c  # noqa: E402
from utils import forcefields as ff  # noqa: E402

LJ = {"Ne": (0.0031, 2.74), "Ar": (0.0104, 3.40)}


def test_lj_minimum_accepts_the_analytic_minimum_and_rejects_sigma():
    eps, sigma = LJ["Ar"]
    assert lesson_06a.check_lj_minimum(2 ** (1 / 6) * sigma, -eps, eps, sigma)
    assert not lesson_06a.check_lj_minimum(sigma, -eps, eps, sigma)
    assert not lesson_06a.check_lj_minimum(2 ** (1 / 6) * sigma, eps, eps, sigma)
    assert not lesson_06a.check_lj_minimum(..., ..., eps, sigma)


def test_lj_energy_accepts_the_shifted_mixed_sum_and_rejects_the_unshifted_one():
    cell = bulk("Ar", "fcc", a=5.3, cubic=True)
    cell.symbols[::2] = "Ne"
    right = lesson_06a.lj_energy(cell, 8.5, LJ)
    assert lesson_06a.check_lj_energy(right, cell, 8.5, LJ)
    assert not lesson_06a.check_lj_energy(right * 1.01, cell, 8.5, LJ)


def test_unpacked_accepts_the_three_column_blocks_and_rejects_swapped_ones():
    h, k = 4, 6
    layer = torch.nn.Linear(2 * h + k, 2 * h)
    w = layer.weight
    assert lesson_06a.check_unpacked(w[:, :h], w[:, h : 2 * h], w[:, 2 * h :], layer, h)
    assert not lesson_06a.check_unpacked(w[:, h : 2 * h], w[:, :h], w[:, 2 * h :], layer, h)
    assert not lesson_06a.check_unpacked(w[:, :h], w[:, :h], w[:, 2 * h + 1 :], layer, h)


def configs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return [ff.FFConfig(jid=str(k), atoms=bulk("Cu"), energy_per_atom=float(rng.normal(-3.7, 0.1)),
                        forces=rng.normal(0, 0.2, (1, 3)), stress=None, split="train")
            for k in range(n)]  # fmt: skip


def test_baselines_accept_the_mean_and_zero_force_errors_and_reject_eV_instead_of_meV():
    train, test = configs(20, 0), configs(5, 1)
    mean = np.mean([c.energy_per_atom for c in train])
    e_base = 1000 * np.mean([abs(c.energy_per_atom - mean) for c in test])
    f_base = np.mean([np.abs(c.forces).mean() for c in test])
    assert lesson_06b.check_baselines(e_base, f_base, train, test)
    assert not lesson_06b.check_baselines(e_base / 1000, f_base, train, test)
    assert not lesson_06b.check_baselines(e_base, 2 * f_base, train, test)


def test_bulk_from_elastic_accepts_c11_plus_2c12_over_3_and_rejects_the_plain_mean():
    assert lesson_06c.check_bulk_from_elastic((150 + 2 * 60) / 3, 150, 60)
    assert not lesson_06c.check_bulk_from_elastic((150 + 60) / 2, 150, 60)
    assert not lesson_06c.check_bulk_from_elastic(..., 150, 60)


def test_c11_accepts_the_central_difference_and_rejects_another_strain_size():
    copper = bulk("Cu", "fcc", a=3.59, cubic=True)
    calc = EMT()

    def c11(size):
        stresses = []
        for sign in (1, -1):
            strained = copper.copy()
            strained.set_cell(copper.cell.array @ np.diag([1 + sign * size, 1, 1]), scale_atoms=True)
            strained.calc = calc
            stresses.append(strained.get_stress()[0] / GPa)
        return (stresses[0] - stresses[1]) / (2 * size)

    assert lesson_06c.check_c11(c11(0.02), copper, calc, 0.02)
    assert not lesson_06c.check_c11(c11(0.002) * 1.1, copper, calc, 0.02)
    assert not lesson_06c.check_c11(c11(0.02), copper, calc, 2.0)  # per cent, not a fraction


def test_bcc_shells_accept_8_and_14_neighbours_and_reject_them_swapped():
    lithium = bulk("Li", "bcc", a=3.44, cubic=True)
    assert lesson_06c.check_bcc_shells(8, 14, lithium)
    assert not lesson_06c.check_bcc_shells(14, 8, lithium)
