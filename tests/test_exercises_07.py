"""The checks of lesson 07's exercises accept the right answer, reject wrong ones and treat a blank as not done."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from exercises import lesson_07a, lesson_07b


def test_parabola_modulus_is_computed_from_the_scan(capsys) -> None:
    volumes = np.linspace(19.0, 21.0, 7)
    energies = 0.5 * (volumes - 20.0) ** 2 / 20.0 * 0.5  # E'' = 0.5/20 eV/Å⁶, so B = 20 x E'' eV/Å³
    right = 20.0 * (0.5 / 20.0) * 160.21766208
    assert lesson_07a.check_parabola_modulus(right, volumes, energies)
    assert not lesson_07a.check_parabola_modulus(right * 1.1, volumes, energies)
    assert not lesson_07a.check_parabola_modulus(right / 160.21766208, volumes, energies)  # eV/Å³, not GPa
    assert not lesson_07a.check_parabola_modulus(..., volumes, energies)
    assert "Replace each ..." in capsys.readouterr().out


@pytest.fixture
def results() -> pd.DataFrame:
    return pd.DataFrame(
        [["JVASP-1", "CHGNet", "kv", 90.0, 87.0], ["JVASP-2", "CHGNet", "kv", 60.0, 70.0],
         ["JVASP-3", "CHGNet", "kv", 400.0, math.nan], ["JVASP-1", "EMT", "kv", 50.0, 87.0]],
        columns=["jid", "calculator", "property", "value", "reference"],
    )


def test_mae_and_mad_use_the_rows_of_one_force_field_with_a_reference(results) -> None:
    assert lesson_07a.check_mae_and_mad((6.5, 8.5), results, "kv", "CHGNet")
    assert not lesson_07a.check_mae_and_mad((6.5, 0.0), results, "kv", "CHGNet")  # wrong MAD
    assert not lesson_07a.check_mae_and_mad((8.5, 8.5), results, "kv", "CHGNet")  # swapped
    assert not lesson_07a.check_mae_and_mad(6.5, results, "kv", "CHGNet")  # one number only
    assert not lesson_07a.check_mae_and_mad((..., ...), results, "kv", "CHGNet")
    assert not lesson_07a.check_mae_and_mad((1.0, 0.0), results, "c44", "CHGNet")  # no such rows


def test_lattice_error_is_signed_force_field_minus_dft() -> None:
    rows = [{"property": "a", "value": 3.86, "reference": 3.885}, {"property": "kv", "value": 90.0, "reference": 87.0}]
    assert lesson_07a.check_lattice_error(-0.025, rows)
    assert not lesson_07a.check_lattice_error(0.025, rows)  # the sign matters
    assert not lesson_07a.check_lattice_error(..., rows)
    assert not lesson_07a.check_lattice_error(-0.025, ...)
    assert not lesson_07a.check_lattice_error(0.0, [{"property": "kv", "value": 1.0, "reference": 1.0}])


def test_wavenumber_from_terahertz() -> None:
    assert lesson_07b.check_wavenumber(15.6 * 33.35641, 15.6)
    assert lesson_07b.check_wavenumber(520.4, 15.6)
    assert not lesson_07b.check_wavenumber(15.6 * 2 * np.pi * 33.35641, 15.6)  # angular frequency
    assert not lesson_07b.check_wavenumber(..., 15.6)


def test_scaling_exponent_is_the_log_log_slope() -> None:
    n = np.array([8, 64, 216])
    t = 1e-3 * n**0.9
    assert lesson_07b.check_scaling_exponent(0.9, n, t)
    assert not lesson_07b.check_scaling_exponent(1.0, n, t)
    assert not lesson_07b.check_scaling_exponent(0.9, [8], [0.1])  # one size: no exponent
    assert not lesson_07b.check_scaling_exponent(..., n, t)


def test_surface_energy_counts_two_surfaces_and_converts_to_joules() -> None:
    right = (-95.0 - 20 * -5.0) / (2 * 20.0) * 16.021766208
    assert lesson_07b.check_surface_energy(right, -95.0, 20, -5.0, 20.0)
    assert not lesson_07b.check_surface_energy(2 * right, -95.0, 20, -5.0, 20.0)  # one surface
    assert not lesson_07b.check_surface_energy(right / 16.021766208, -95.0, 20, -5.0, 20.0)  # eV/Å²
    assert not lesson_07b.check_surface_energy(..., -95.0, 20, -5.0, 20.0)
    assert not lesson_07b.check_surface_energy(1.0, -95.0, 20, -5.0, ...)
