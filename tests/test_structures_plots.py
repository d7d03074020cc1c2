"""Structure conversions and the shared plots (the mode switch, device and card: tests/test_runtime.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from conftest import make_record

from utils import metrics, plots
from utils.structures import (
    StructureError,
    atoms_from_record,
    from_ase,
    is_cubic,
    lattice_summary,
    record_to_ase,
    standard_cell,
    to_ase,
)


def test_jarvis_ase_round_trip():
    atoms = atoms_from_record(make_record("JVASP-1"))
    ase_atoms = to_ase(atoms)
    assert ase_atoms.get_chemical_symbols() == ["Si", "Si"]
    assert ase_atoms.get_volume() == pytest.approx(atoms.volume)
    back = from_ase(ase_atoms)
    assert np.allclose(back.frac_coords, atoms.frac_coords)
    assert np.allclose(back.lattice_mat, atoms.lattice_mat)



def test_standard_cells_of_diamond_si_and_the_cubic_test():
    from ase.build import bulk

    primitive = record_to_ase(make_record("JVASP-1"))  # two-atom fcc cell of Si, a = 5.4 Å
    conventional = standard_cell(primitive)
    assert len(conventional) == 8 and np.allclose(conventional.cell.lengths(), 5.4)
    assert np.allclose(conventional.cell.angles(), 90)
    assert len(standard_cell(conventional, primitive=True)) == 2
    assert is_cubic(primitive) and not is_cubic(bulk("Cu", "hcp", a=2.55, c=4.2))
    summary = lattice_summary(primitive)
    assert summary["a"] == pytest.approx(5.4 / np.sqrt(2)) and summary["vol"] == pytest.approx(5.4**3 / 4)

@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("coords"), "lacks coords"),
        (lambda a: a.update(lattice_mat=[[1, 0, 0], [0, 1, 0]]), "must be 3x3"),
        (lambda a: a.update(elements=["Si"]), "one row per element"),
        (lambda a: a.update(lattice_mat=[[1, 0, 0], [2, 0, 0], [0, 0, 1]]), "zero volume"),
    ],
)
def test_malformed_structure_errors(change, message):
    record = make_record("JVASP-9")
    change(record["atoms"])
    with pytest.raises(StructureError, match=message):
        atoms_from_record(record)


def test_record_without_atoms_dict():
    with pytest.raises(StructureError, match="expected an 'atoms' dict"):
        atoms_from_record({"jid": "JVASP-1", "atoms": "Si2"})


def test_metrics_known_values():
    assert metrics.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert metrics.mad([0, 2], [1, 3]) == pytest.approx(1.0)  # predicts the training mean 1


def test_parity_plot_reports_mae_with_unit():
    ax = plots.parity_plot([0, 1, 2], [0, 1, 3], unit="eV/atom")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("MAE 0.333 eV/atom" in t for t in labels)
    assert ax.get_xlabel() == "true (eV/atom)"



@pytest.mark.parametrize(
    "lattice, coords, message",
    [
        ([[float("nan"), 0, 0], [0, 5, 0], [0, 0, 5]], None, "non-finite"),
        ([[float("inf"), 0, 0], [0, 5, 0], [0, 0, 5]], None, "non-finite"),
        ([[1e200, 0, 0], [0, 5, 0], [0, 0, 5]], None, "lattice vector lengths"),
        (np.eye(3) * 1e6, None, "lattice vector lengths"),
        (np.eye(3) * 0.02, None, "lattice vector lengths"),
        (np.diag([0.6, 0.6, 0.6]), None, "volume per atom"),
        (np.eye(3) * 5.43, [[0, 0, 0], [float("nan"), 0.25, 0.25]], "coordinates"),
    ],
)
def test_implausible_cells_are_refused_naming_the_record(lattice, coords, message):
    record = make_record("JVASP-bad")
    record["atoms"]["lattice_mat"] = np.asarray(lattice, dtype=float).tolist()
    if coords is not None:
        record["atoms"]["coords"] = coords
    with pytest.raises(StructureError, match=f"JVASP-bad: .*{message}"):
        atoms_from_record(record)
