"""Tests of utils.benchmark: the strain + EOS + elastic steps on cases with known answers (ASE EMT), the registry.

The smoothness check, the plausibility flags, the elemental references and the scorecard are taught in notebook 07
and checked by its assert cells.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from ase.units import GPa

from utils import benchmark as bm
from utils import chipsff_reference
from utils import forcefields as ff
from utils import simulation as sim


def ase_reference_bulk_modulus(element: str, a0: float) -> float:
    """ASE's own recipe: ideal fcc cells around a0, EquationOfState (Birch-Murnaghan), in GPa."""
    volumes, energies = [], []
    for x in np.linspace(0.98, 1.02, 9):
        atoms = bulk(element, "fcc", a=a0 * x)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    _, _, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return b / GPa


@pytest.mark.parametrize("element, a_start", [("Cu", 3.70), ("Al", 4.10)])
def test_emt_bulk_modulus_matches_ase_eos_and_elastic_constants(element: str, a_start: float) -> None:
    calc = EMT()
    relaxed = sim.relax(bulk(element, "fcc", a=a_start), calc, fmax=1e-4)
    assert relaxed.converged
    a0 = (4 * relaxed.atoms.get_volume()) ** (1 / 3)
    reference = ase_reference_bulk_modulus(element, a0)
    eos = sim.eos_scan(relaxed.atoms, calc)
    assert eos.ok, eos.note
    assert eos.bulk_modulus == pytest.approx(reference, rel=0.02)
    conventional = sim.relax(bm.conventional_cell(relaxed.atoms), calc, fmax=1e-4).atoms
    c = bm.cubic_constants(bm.elastic_tensor(conventional, calc, cubic=True))
    assert (c["c11"] + 2 * c["c12"]) / 3 == pytest.approx(eos.bulk_modulus, rel=0.10)


def test_full_and_cubic_elastic_tensors_agree() -> None:
    calc = EMT()
    cell = sim.relax(bulk("Cu", "fcc", a=3.6, cubic=True), calc, fmax=1e-4).atoms
    full = bm.elastic_tensor(cell, calc)
    cubic = bm.elastic_tensor(cell, calc, cubic=True)
    assert np.allclose(full, cubic, atol=1.0)
    assert bm.voigt_bulk_modulus(full) == pytest.approx((full[0, 0] + 2 * full[0, 1]) / 3, rel=1e-6)


def test_surface_energy_of_emt_al_is_positive_and_ordered() -> None:
    calc = EMT()
    conv = sim.relax(bulk("Al", "fcc", a=4.05, cubic=True), calc, fmax=1e-4).atoms
    e_bulk = bm.energy_of(conv, calc) / len(conv)
    g100 = bm.surface_energy(conv, calc, (1, 0, 0), e_bulk, min_thickness=8, relax_steps=0)
    g111 = bm.surface_energy(conv, calc, (1, 1, 1), e_bulk, min_thickness=8, relax_steps=0)
    assert 0 < g111 < g100 < 2.0  # J/m²; close-packed (111) is the cheapest fcc facet


def test_si_slab_keeps_the_one_dangling_bond_termination() -> None:
    from ase.neighborlist import neighbor_list

    slab = bm.build_slab(bulk("Si", "diamond", a=5.43, cubic=True), (1, 1, 1), min_thickness=8)
    cn = np.bincount(neighbor_list("i", slab, 2.7), minlength=len(slab))
    assert cn.min() == 3  # shuffle-plane cut, not the glide cut (1 neighbour left)


def test_vacancy_formation_energy_emt_cu() -> None:
    calc = EMT()
    relaxed = sim.relax(bulk("Cu", "fcc", a=3.6, cubic=True), calc, fmax=1e-4)
    mu = relaxed.energy / len(relaxed.atoms)
    e_vac = bm.vacancy_formation_energy(relaxed.atoms, calc, "Cu", mu, min_length=7.0)
    assert 0.9 < e_vac < 1.3  # EMT Cu vacancy ~1.1 eV (experiment 1.28 eV)


def test_formation_energy_and_references() -> None:
    mu = {"Al": -1.0, "O": -2.0}
    assert bm.formation_energy_per_atom(-10.0, ["Al", "Al", "O", "O", "O"], mu) == pytest.approx(-0.4)
    assert math.isnan(bm.formation_energy_per_atom(-1.0, ["Se"], mu))


def test_registry_hook_and_unavailable_calculator() -> None:
    bm.register_calculator("test-emt", EMT, elements=["Cu"], note="test")
    try:
        assert bm.CALCULATORS["test-emt"].supports(["Cu"])
        assert not bm.CALCULATORS["test-emt"].supports(["Cu", "O"])
        assert bm.available_calculators(["test-emt"], verbose=False) == ["test-emt"]
    finally:
        del bm.CALCULATORS["test-emt"]
    with pytest.raises(bm.CalculatorUnavailable, match="No calculator named"):
        bm.get_calculator("nope")


def test_download_model_fails_fast_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom():
        raise bm.CalculatorUnavailable("weights not cached and network unreachable")

    monkeypatch.setitem(bm.CALCULATORS, "fake", bm.CalculatorSpec("fake", boom))
    assert bm.available_calculators(["fake"], verbose=False) == []


def test_benchmark_material_and_scorecard_with_emt() -> None:
    from utils.structures import from_ase

    atoms = bulk("Al", "fcc", a=4.0)
    jatoms = from_ase(atoms)
    record = {
        "jid": "JVASP-816",
        "atoms": {
            "lattice_mat": jatoms.lattice_mat.tolist(),
            "coords": jatoms.frac_coords.tolist(),
            "elements": jatoms.elements,
        },
        "reference": {
            "a": 2.876,
            "vol": 16.82,
            "kv": 69.93,
            "c11": 93.4,
            "c44": 16.2,
            "form_en": 0.0,
            "vac_en": {"Al": 0.44},
        },
    }
    calc = EMT()
    mu = {"Al": sim.relax(bulk("Al", "fcc", a=4.0), calc, fmax=0.01).energy}  # 1-atom fcc cell: eV/atom
    settings = bm.Settings(do_surface=False, eos_points=7)
    rows, extras = bm.benchmark_material(record, "EMT", calc, mu, settings)
    df = pd.DataFrame(rows)
    values = dict(zip(df["property"], df["value"]))
    assert values["form_en"] == pytest.approx(0.0, abs=1e-3)
    assert values["b_eos"] == pytest.approx(values["kv"], rel=0.10)
    assert extras["relax_converged"] and extras["eos"].ok and extras["cubic"]
    assert set(df["unit"]) <= set(bm.UNITS.values()) and df.loc[df["property"] == "kv", "reference"].item() == 69.93


def test_reference_records_builder() -> None:
    tables = {
        "kv": {"JVASP-1": 10.0, "JVASP-2": 20.0},
        "surf_en": {"Surface-JVASP-1_miller_1_0_0": 1.5, "Surface-JVASP-10_miller_1_0_0": 9.0},
        "vac_en": {"JVASP-1_Si": 3.0, "JVASP-10_Si": 9.0},
    }
    structures = {"JVASP-1": {"lattice_mat": np.eye(3).tolist(), "coords": [[0, 0, 0]], "elements": ["Si"]}}
    experiments = {"bulk_modulus": {"JVASP-1": 99.2}}
    recs = chipsff_reference.reference_records(structures, tables, experiments, ["JVASP-1", "JVASP-2"])
    assert len(recs) == 1
    assert recs[0]["reference"] == {"kv": 10.0, "surf_en": {"1_0_0": 1.5}, "vac_en": {"Si": 3.0}}
    assert recs[0]["experiment"] == {"bulk_modulus": 99.2}
    json.dumps(recs)


def test_alignn_ff_entry_trains_its_own_checkpoint_not_notebook_05s(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(bm, "alignn_ff_folder", lambda element="Si": tmp_path / element)
    monkeypatch.setattr(bm.CALCULATORS["ALIGNN-FF"], "_instance", None)
    with pytest.raises(bm.CalculatorUnavailable, match="ensure_alignn_ff"):
        bm.get_calculator("ALIGNN-FF")
    (tmp_path / "Si").mkdir()
    (tmp_path / "Si" / "best_model.pt").write_bytes(b"no marker: an unfinished training")
    with pytest.raises(bm.CalculatorUnavailable, match="no completed"):
        bm.get_calculator("ALIGNN-FF")

    trained = []

    def fake_training(element, folder, epochs, max_configs):
        trained.append((element, folder, epochs))
        (folder / ff.MARKER).write_text("{}")
        return folder

    monkeypatch.setattr(ff, "train_alignn_ff", fake_training)
    assert bm.ensure_alignn_ff("Si", epochs=3) == tmp_path / "Si"
    assert trained == [("Si", tmp_path / "Si", 3)]
    built = []
    monkeypatch.setattr(ff, "alignn_ff_calculator", lambda folder: built.append(folder) or "calculator")
    assert bm.get_calculator("ALIGNN-FF") == "calculator" and built == [tmp_path / "Si"]


def test_alignn_ff_folder_belongs_to_notebook_06() -> None:
    assert bm.alignn_ff_folder("Si").parent.name == "07_chipsff"


def test_published_alignn_ff_is_listed_unavailable_offline_with_its_reason(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("utils.files.reachable", lambda url, timeout=3.0, offline_vars=(): (False, "no DNS"))
    monkeypatch.setattr(bm.CALCULATORS["ALIGNN-FF-MPtrj"], "_instance", None)
    assert bm.CALCULATORS["ALIGNN-FF-MPtrj"].supports(["Cu", "O", "Si"])  # universal: every element
    assert bm.available_calculators(["ALIGNN-FF-MPtrj"]) == []
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("  ALIGNN-FF-MPtrj: not available (Published ALIGNN model mptrj_ff")
    assert "https://ndownloader.figshare.com/files/" in out and "no network (no DNS)" in out
    monkeypatch.setattr(ff, "published_ff_calculator", lambda name: ("calculator", f"{name}: cached"))
    assert bm.get_calculator("ALIGNN-FF-MPtrj") == "calculator"
