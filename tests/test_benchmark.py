"""Tests of utils.benchmark: the strain + EOS + elastic steps on cases with known answers (ASE EMT), the registry
(devices, the hook), the JARVIS elemental solids that formation energies are measured from, and the protocol.

The scorecard and the protocol check are taught in notebook 07a, phonons, melting, timings, surfaces and vacancies
in 07b.
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
from utils import chipsff_reference, data
from utils import forcefields as ff
from utils import simulation as sim
from utils.structures import standard_cell


def voigt_kv(c: np.ndarray) -> float:
    """Voigt bulk modulus Kv = [(C11+C22+C33) + 2(C12+C13+C23)] / 9, as notebook 07a computes it."""
    return float((c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[0, 2] + c[1, 2])) / 9)


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
    conventional = sim.relax(standard_cell(relaxed.atoms), calc, fmax=1e-4).atoms
    c = bm.elastic_tensor(conventional, calc, cubic=True)
    assert (c[0, 0] + 2 * c[0, 1]) / 3 == pytest.approx(eos.bulk_modulus, rel=0.10)


def test_full_and_cubic_elastic_tensors_agree() -> None:
    calc = EMT()
    cell = sim.relax(bulk("Cu", "fcc", a=3.6, cubic=True), calc, fmax=1e-4).atoms
    full = bm.elastic_tensor(cell, calc)
    cubic = bm.elastic_tensor(cell, calc, cubic=True)
    assert np.allclose(full, cubic, atol=1.0)
    assert voigt_kv(full) == pytest.approx((full[0, 0] + 2 * full[0, 1]) / 3, rel=1e-6)


def test_formation_energy_and_references() -> None:
    mu = {"Al": -1.0, "O": -2.0}
    assert bm.formation_energy_per_atom(-10.0, ["Al", "Al", "O", "O", "O"], mu) == pytest.approx(-0.4)
    assert math.isnan(bm.formation_energy_per_atom(-1.0, ["Se"], mu))


def test_registry_hook_and_unavailable_calculator() -> None:
    bm.register_calculator("test-emt", EMT, elements=["Cu"], note="test")
    try:
        assert bm.CALCULATORS["test-emt"].supports(["Cu"])
        assert not bm.CALCULATORS["test-emt"].supports(["Cu", "O"])
        assert bm.available_calculators(["test-emt"]) == ["test-emt"]
    finally:
        del bm.CALCULATORS["test-emt"]
    with pytest.raises(bm.CalculatorUnavailable, match="No calculator named"):
        bm.get_calculator("nope")


def test_download_model_fails_fast_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom():
        raise bm.CalculatorUnavailable("weights not cached and network unreachable")

    monkeypatch.setitem(bm.CALCULATORS, "fake", bm.CalculatorSpec("fake", boom))
    assert bm.available_calculators(["fake"]) == []


def _al_record(a: float = 4.0) -> dict:
    from utils.structures import from_ase

    jatoms = from_ase(bulk("Al", "fcc", a=a))
    atoms = {
        "lattice_mat": jatoms.lattice_mat.tolist(),
        "coords": jatoms.frac_coords.tolist(),
        "elements": jatoms.elements,
    }
    reference = {"a": 2.876, "vol": 16.82, "kv": 69.93, "c11": 93.4, "c44": 16.2, "form_en": 0.0}
    return {"jid": "JVASP-816", "atoms": atoms, "reference": reference}


def test_benchmark_material_with_emt_gives_consistent_moduli_and_zero_formation_energy() -> None:
    calc = EMT()
    mu = {"Al": sim.relax(bulk("Al", "fcc", a=4.0), calc, fmax=0.001).energy}  # 1-atom fcc cell: eV/atom
    rows, extras = bm.benchmark_material(_al_record(), "EMT", calc, mu, bm.Settings(eos_points=7))
    df = pd.DataFrame(rows)
    values = dict(zip(df["property"], df["value"]))
    assert values["form_en"] == pytest.approx(0.0, abs=1e-3)
    assert values["b_eos"] == pytest.approx(values["kv"], rel=0.02)  # one atom: no ions to relax
    assert (values["c11"] + 2 * values["c12"]) / 3 == pytest.approx(values["kv"], rel=0.02)
    assert extras["relax_converged"] and extras["eos"].ok and extras["cubic"]
    assert set(df["unit"]) <= set(bm.UNITS.values()) and df.loc[df["property"] == "kv", "reference"].item() == 69.93


def test_benchmark_material_without_elastic_constants_and_without_chemical_potentials() -> None:
    rows, _ = bm.benchmark_material(_al_record(), "EMT", EMT(), {}, bm.Settings(eos_points=5, elastic="none"))
    values = {r["property"]: r["value"] for r in rows}
    assert "c11" not in values and "c44" not in values
    assert math.isnan(values["form_en"])  # no mu for Al: no formation energy, not an error


def test_hydrostatic_bulk_modulus_equals_the_voigt_average_of_the_relaxed_ion_tensor() -> None:
    """EMT hcp Cu, a non-cubic cell: two hydrostatic strains give the Voigt average of all 36 constants."""
    calc = EMT()
    cell = sim.relax(bulk("Cu", "hcp", a=2.55, c=4.2), calc, fmax=1e-4).atoms
    tensor = bm.elastic_tensor(cell, calc, delta=0.002, fmax=1e-4, steps=200)
    kv = bm.bulk_modulus_hydrostatic(cell, calc, delta=0.002, fmax=1e-4, steps=200)
    assert kv == pytest.approx(voigt_kv(tensor), rel=0.01)


def test_elastic_constants_of_the_standard_primitive_cell_equal_the_conventional_cells() -> None:
    calc = EMT()
    conventional = sim.relax(bulk("Cu", "fcc", a=3.6, cubic=True), calc, fmax=1e-4).atoms
    primitive = standard_cell(conventional, primitive=True)
    assert len(primitive) == 1
    c_conv = bm.elastic_tensor(conventional, calc, cubic=True)
    c_prim = bm.elastic_tensor(primitive, calc, cubic=True)
    assert c_prim[[0, 0, 3], [0, 1, 3]] == pytest.approx(c_conv[[0, 0, 3], [0, 1, 3]], rel=1e-3)


def test_device_of_names_where_a_calculator_computes() -> None:
    import torch

    class TorchCalc:
        model = torch.nn.Linear(2, 2)

    class NamedDevice:
        device = torch.device("cpu")

    assert bm.device_of(EMT()) == "cpu"
    assert bm.device_of(TorchCalc()) == "cpu" and bm.device_of(NamedDevice()) == "cpu"


def test_registry_builds_cuda_capable_factories_on_the_asked_device_and_others_on_the_cpu() -> None:
    built = []
    bm.register_calculator("test-gpu", lambda device: built.append(device) or f"calc on {device}", cuda=True)
    bm.register_calculator("test-cpu", lambda: "numpy calc")
    try:
        assert bm.get_calculator("test-gpu", "cuda") == "calc on cuda"
        assert bm.get_calculator("test-gpu", "cuda") == "calc on cuda" and built == ["cuda"]  # built once
        assert bm.CALCULATORS["test-cpu"].device_for("cuda") == "cpu"
        assert bm.get_calculator("test-cpu", "cuda") == "numpy calc"
        bm.release_calculators()
        bm.get_calculator("test-gpu", "cpu")
        assert built == ["cuda", "cpu"]
        with pytest.raises(TypeError, match="factory\\(device\\)"):
            bm.register_calculator("test-bad", lambda: None, cuda=True)
    finally:
        for name in ("test-gpu", "test-cpu", "test-bad"):
            bm.CALCULATORS.pop(name, None)


def test_pick_elemental_reference_prefers_jarvis_solid_then_a_close_polymorph(monkeypatch) -> None:
    monkeypatch.setattr(bm, "jarvis_elemental_reference_jids", lambda: {"C": "JVASP-REF", "O": "JVASP-O2"})
    solids = [
        {"jid": "JVASP-DIAMOND", "formation_energy_peratom": 0.10},
        {"jid": "JVASP-NEAR", "formation_energy_peratom": 0.002},
        {"jid": "JVASP-FAR", "formation_energy_peratom": 4.7},
    ]
    assert bm.pick_elemental_reference("C", solids)["jid"] == "JVASP-NEAR"
    assert (
        bm.pick_elemental_reference("C", [*solids, {"jid": "JVASP-REF", "formation_energy_peratom": 0.0}])["jid"]
        == "JVASP-REF"
    )
    assert bm.pick_elemental_reference("C", solids[2:]) is None  # 4.7 eV/atom above: no stand-in
    assert bm.pick_elemental_reference("O", []) is None  # no O solid loaded: no chemical potential


def test_chemical_potential_removes_jarvis_energy_of_the_stand_in_above_the_reference() -> None:
    record = _al_record()
    record["formation_energy_peratom"] = 0.25
    e_relaxed = sim.relax(bulk("Al", "fcc", a=4.0), EMT(), fmax=0.005).energy
    assert bm.chemical_potential(record, EMT()) == pytest.approx(e_relaxed - 0.25, abs=1e-4)


def test_jarvis_elemental_references_are_solids_for_gas_phase_elements() -> None:
    jids = bm.jarvis_elemental_reference_jids()
    assert jids["Si"] == "JVASP-1002" and jids["Al"] == "JVASP-816"
    assert all(jids[el].startswith("JVASP-") for el in ("O", "N", "H", "F", "Cl"))


def test_elemental_solids_streams_single_element_records(isolated) -> None:
    from conftest import make_record, write_json

    offline, _ = isolated
    compound = make_record("JVASP-2")
    compound["atoms"]["elements"] = ["Si", "C"]
    write_json(offline / "dft_3d.json", [make_record("JVASP-1", 0.0), compound, make_record("JVASP-3", "na")])
    found = bm.elemental_solids(["Si", "O"])
    assert [r["jid"] for r in found["Si"]] == ["JVASP-1"] and found["O"] == []


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


def test_published_alignn_ff_is_listed_unavailable_offline_with_its_reason(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("utils.files.reachable", lambda url, timeout=3.0, offline_vars=(): (False, "no DNS"))
    bm.CALCULATORS["ALIGNN-FF-MPtrj"].release()
    assert bm.CALCULATORS["ALIGNN-FF-MPtrj"].supports(["Cu", "O", "Si"])  # universal: every element
    assert bm.available_calculators(["ALIGNN-FF-MPtrj"]) == []
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("  ALIGNN-FF-MPtrj: not available (Published ALIGNN model mptrj_ff")
    assert "https://ndownloader.figshare.com/files/" in out and "no network (no DNS)" in out
    monkeypatch.setattr(ff, "published_ff_calculator", lambda name, device=None: (f"calculator on {device}", name))
    assert bm.get_calculator("ALIGNN-FF-MPtrj", "cpu") == "calculator on cpu"


def test_importing_utils_and_the_registry_loads_no_force_field_package() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; import utils; from utils import benchmark; "
        "print(sorted(m for m in ('torch', 'chgnet', 'sevenn', 'mace', 'alignn', 'phonopy') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_factory_that_changes_torch_default_dtype_leaves_it_as_it_was() -> None:
    import torch

    def float64_model(device):
        torch.set_default_dtype(torch.float64)  # as some force-field loaders do
        return f"model on {device}"

    bm.register_calculator("test-dtype", float64_model, cuda=True)
    try:
        assert bm.get_calculator("test-dtype", "cpu") == "model on cpu"
        assert torch.get_default_dtype() == torch.float32
    finally:
        bm.CALCULATORS.pop("test-dtype", None)
        torch.set_default_dtype(torch.float32)


def test_register_calculator_refuses_a_factory_that_is_not_a_function() -> None:
    with pytest.raises(TypeError, match="must be a function"):
        bm.register_calculator("test-not-callable", EMT(), elements=["Cu"])
    assert "test-not-callable" not in bm.CALCULATORS


@pytest.mark.parametrize(
    "kwargs, message",
    [({"elastic": "some"}, "'all', 'cubic' or 'none'"), ({"strain": 0.0}, "0 < strain"),
     ({"eos_points": 3}, "eos_points >= 5"), ({"relax_steps": -1}, "steps >= 0")],
)  # fmt: skip
def test_settings_refuse_values_the_protocol_cannot_use(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        bm.Settings(**kwargs)


def test_benchmark_material_names_what_a_record_lacks() -> None:
    record = _al_record()
    del record["atoms"]
    with pytest.raises(ValueError, match="JVASP-816 lacks atoms"):
        bm.benchmark_material(record, "EMT", EMT(), {})


def test_elemental_solids_fall_back_to_the_sample_when_the_download_fails(monkeypatch, capsys, tmp_path) -> None:
    import requests

    from utils import files

    monkeypatch.setenv("AIMS_MODE", "full")
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(files, "_network_failed", [])
    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    found = bm.elemental_solids(["Si"])
    assert "JVASP-1002" in [r["jid"] for r in found["Si"]]  # the sample has JARVIS's Si
    assert "continuing on the shipped workshop sample" in capsys.readouterr().out
    monkeypatch.setenv("AIMS_DATA_DIR", str(data.SAMPLE_DIR.parent))  # a folder without dft_3d: its error stands
    with pytest.raises(data.DatasetError, match="No dft_3d.json"):
        bm.elemental_solids(["Si"])


def test_benchmark_material_rows_are_nan_free_except_missing_references() -> None:
    record = _al_record()
    record["reference"] = {"a": 2.876}  # only one DFT value: the other rows carry NaN references
    rows, _ = bm.benchmark_material(record, "EMT", EMT(), {}, bm.Settings(eos_points=5, elastic="cubic"))
    by_property = {r["property"]: r for r in rows}
    assert by_property["a"]["reference"] == 2.876 and math.isnan(by_property["kv"]["reference"])
    assert all(math.isfinite(r["value"]) for r in rows if r["property"] != "form_en")
