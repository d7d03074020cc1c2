"""The checks of lesson 01's exercises accept the right answer, reject wrong ones and never fail on a blank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from jarvis.analysis.defects.surface import Surface
from jarvis.core.atoms import ase_to_atoms

from exercises import lesson_01a, lesson_01b
from utils import data


@pytest.fixture(scope="module")
def silicon():
    return ase_to_atoms(bulk("Si", "diamond", a=5.431))


@pytest.fixture(scope="module")
def sample():
    records = data.read_records(data.SAMPLE_DIR / "dft_3d.json.zip", ["jid", "atoms"])
    frame = data.to_dataframe(records)
    frame["elements"] = [tuple(sorted(set(r["atoms"]["elements"]))) for r in records]
    return records, frame


def test_card_check_rebuilds_space_group_and_bond(silicon, capsys):
    records = [{"jid": "Si-test", "atoms": silicon.to_dict()}]
    bond = 5.431 * np.sqrt(3) / 4  # nearest-neighbour distance of diamond
    assert lesson_01a.check_card("Si-test", 227, bond, records)
    assert not lesson_01a.check_card("Si-test", 225, bond, records)
    assert not lesson_01a.check_card("Si-test", 227, 2 * bond, records)
    assert not lesson_01a.check_card("JVASP-0", 227, bond, records)
    assert not lesson_01a.check_card(..., 227, bond, records)
    assert "Replace each ..." in capsys.readouterr().out


def test_ductile_fractions_split_metals_from_gapped_materials():
    frame = pd.DataFrame({"bulk_modulus_kv": [100, 100, 100, 100, 0, 100],
                          "shear_modulus_gv": [30, 80, 30, 80, 10, -5],
                          "optb88vdw_bandgap": [0, 0, 2, 2, 0, 0]})
    assert lesson_01a.ductile_fractions(frame) == (0.5, 0.5)  # K = 0 and G < 0 are left out
    assert lesson_01a.check_ductile_fractions(0.5, 0.5, frame)
    assert not lesson_01a.check_ductile_fractions(0.5, 0.25, frame)
    assert not lesson_01a.check_ductile_fractions(True, 0.5, frame)
    assert not lesson_01a.check_ductile_fractions(..., 0.5, frame)


def test_stable_oxide_check_finds_the_lowest_pugh_ratio():
    frame = pd.DataFrame({"jid": ["a", "b", "c", "d"], "formula": ["X2O3", "YO2", "ZO", "W"],
                          "elements": [("O", "X"), ("O", "Y"), ("O", "Z"), ("W",)],
                          "optb88vdw_bandgap": [5.0, 4.0, 1.0, 5.0], "e_hull_here": [0.0, 0.05, 0.0, 0.0],
                          "bulk_modulus_kv": [200, 100, 100, 100], "shear_modulus_gv": [150, 40, 10, 5]})
    assert lesson_01b.check_stable_oxide("b", True, frame)  # c has a small gap, d is no oxide
    assert not lesson_01b.check_stable_oxide("b", False, frame)
    assert not lesson_01b.check_stable_oxide("a", False, frame)
    assert not lesson_01b.check_stable_oxide(..., True, frame)
    assert lesson_01b.check_stable_oxide(None, False, frame.iloc[2:])


def test_easiest_magnet_check(sample):
    _, frame = sample
    right = lesson_01b.easiest_magnet(frame)
    assert right is not None and lesson_01b.check_easiest_magnet(right, frame)
    assert not lesson_01b.check_easiest_magnet("JVASP-1002", frame)
    assert not lesson_01b.check_easiest_magnet(..., frame)
    assert lesson_01b.check_easiest_magnet(None, frame[frame["magmom_oszicar"] < 0.5])


def test_broken_bonds_of_a_si111_slab(silicon):
    slab = Surface(atoms=silicon, indices=[1, 1, 1], layers=3, vacuum=15.0).make_surface()
    assert lesson_01b.broken_bonds(slab) == 8  # one dangling bond per surface atom, 4 atoms per side
    assert lesson_01b.check_broken_bonds(8, slab)
    assert not lesson_01b.check_broken_bonds(16, slab)
    assert not lesson_01b.check_broken_bonds(True, slab)
    assert not lesson_01b.check_broken_bonds(..., slab)


def test_benchmark_check_recomputes_the_train_mean_baseline(sample):
    records, _ = sample
    split = data.split_records(records, "optb88vdw_bandgap")
    size, mae = lesson_01b.train_mean_baseline(split, "optb88vdw_bandgap")
    assert size == len(split["test"]) and mae > 0
    assert lesson_01b.check_benchmark("optb88vdw_bandgap", size, mae, split)
    assert not lesson_01b.check_benchmark("optb88vdw_bandgap", size + 1, mae, split)
    assert not lesson_01b.check_benchmark("optb88vdw_bandgap", size, 2 * mae, split)
    assert not lesson_01b.check_benchmark(..., size, mae, None)


def test_registry_counts_are_whole_benchmarks_beside_the_sample():
    """The database counts lesson 01 prints are at least the sample's counts (whole benchmarks, not samples)."""
    counts = data.registry()["datasets"]["dft_3d"]["property_counts"]
    records = data.read_records(data.SAMPLE_DIR / "dft_3d.json.zip", ["jid", "atoms"])
    assert counts["formation_energy_peratom"] > 50000
    for prop, whole in counts.items():
        assert whole >= len(data.with_property(records, prop)), prop
