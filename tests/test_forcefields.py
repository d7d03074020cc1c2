"""Tests of utils.forcefields: mlearn data checks, the ALIGNN-FF driver (checkpoint marker) and calculator guards.

The Lennard-Jones potential and the GNN potential are taught in notebook 06 and checked there by assert cells.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from utils import data, leaderboard, pretrained
from utils import forcefields as ff
from utils import simulation as sim


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
    with pytest.raises(ff.ForceFieldError, match="'mlearn_Xx': mlearn has Cu, Ge, Li, Mo, Ni, Si"):
        ff.check_element("Xx")
    with pytest.raises(ff.ForceFieldError, match="'mlearn_Fe': mlearn has"):
        ff.check_element("Fe")
    with pytest.raises(ff.ForceFieldError):
        ff.check_element("si")
    assert ff.check_element("Si") == "mlearn_Si"
    with pytest.raises(ff.ForceFieldError, match="expected only Cu"):
        ff.prepare_configs([record()], element="Cu")


def test_energy_units_per_atom_and_per_cell():
    per_atom = [record(2, -5.40), record(4, -5.30), record(3, -5.35)]
    per_cell = [record(2, -10.80), record(4, -21.20), record(3, -16.05)]
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


@pytest.fixture(scope="module")
def tiny_alignn_ff(tmp_path_factory):
    """An untrained (but real) alignn_atomwise_pure checkpoint folder; no data, no network."""
    folder = tmp_path_factory.mktemp("alignn_ff")
    cfg = ff._alignn_ff_config(2, 1, 1, folder, epochs=1, hidden_features=16, embedding_features=16, alignn_layers=1)
    path = ff._alignn_initial_model(cfg, -5.0, folder)
    (folder / "best_model.pt").write_bytes(path.read_bytes())
    return folder


def test_alignn_calculator_handles_one_atom_cell(tiny_alignn_ff):
    with pytest.warns(UserWarning, match="does not say which elements"):
        calc = ff.alignn_ff_calculator(tiny_alignn_ff)
    one = Atoms("Si", cell=np.eye(3) * 2.6, pbc=True)
    one.calc = calc
    assert one.get_forces().shape == (1, 3)
    assert np.isfinite(one.get_potential_energy())
    assert one.get_stress().shape == (6,)
    relaxed = sim.relax(one, calc, steps=3)  # FrechetCellFilter on a 1-atom cell must not fail
    assert len(relaxed.atoms) == 1
    two = bulk("Si", "diamond", a=5.43)
    two.calc = calc
    assert two.get_forces().shape == (2, 3)


def test_alignn_calculator_missing_checkpoint(tmp_path):
    with pytest.raises(ff.ForceFieldError, match="not an ALIGNN-FF checkpoint folder"):
        ff.alignn_ff_calculator(tmp_path)


def test_alignn_calculator_refuses_elements_outside_its_training_set(tiny_alignn_ff, tmp_path):
    folder = tiny_alignn_ff
    (folder / "ffinfo.json").write_text(json.dumps({"element": "Si", "elements": ["Si"]}))
    try:
        calc = ff.alignn_ff_calculator(folder)
        si = bulk("Si", "diamond", a=5.43)
        si.calc = calc
        assert np.isfinite(si.get_potential_energy())
        cu = bulk("Cu", "fcc", a=3.6)
        cu.calc = calc
        with pytest.raises(ff.ForceFieldError, match="trained on Si only.*contains Cu"):
            cu.get_potential_energy()
    finally:
        (folder / "ffinfo.json").unlink()


def test_non_finite_energy_neither_flips_the_units_nor_survives():
    per_atom = [record(2, -5.40, jid="a"), record(4, -5.30, jid="b"), record(3, -5.35, jid="c")]
    broken = per_atom + [record(4, float("nan"), jid="bad"), record(3, float("inf"), jid="bad2")]
    per_cell = [record(2, -10.80, jid="a"), record(4, -21.20, jid="b"), record(3, -16.05, jid="c")]
    with pytest.warns(UserWarning, match="Dropped 1 of 4"):
        configs = ff.prepare_configs([*per_cell, record(4, float("nan"))])
    np.testing.assert_allclose([c.energy_per_atom for c in configs], [-5.40, -5.30, -5.35])
    with pytest.warns(UserWarning, match=r"Dropped 2 of 5 .*bad, bad2"):
        configs = ff.prepare_configs(broken)
    np.testing.assert_allclose([c.energy_per_atom for c in configs], [-5.40, -5.30, -5.35])
    nan_force = record(2, -5.4, forces=[[0.0, 0.0, math.nan], [0.0, 0.0, 0.0]], jid="nanf")
    with pytest.warns(UserWarning, match="nanf"):
        assert [c.jid for c in ff.prepare_configs(per_atom + [nan_force])] == ["a", "b", "c"]
    with pytest.raises(ff.ForceFieldError, match="finite energy"):
        ff.prepare_configs([record(2, math.nan)])


def test_alignn_checkpoint_is_reused_only_on_an_exact_match(monkeypatch, tmp_path):
    runs = []

    def fake_init(cfg, energy, folder):
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "current_model.pt"

    def fake_trainer(out, data_dir, init):
        runs.append(json.loads((out / "train_config.json").read_text())["epochs"])
        (out / "best_model.pt").write_bytes(b"weights")
        return 0.1

    monkeypatch.setattr(leaderboard, "split_records", lambda recs, prop: SimpleNamespace(labels={}))
    monkeypatch.setattr(ff, "_alignn_initial_model", fake_init)
    monkeypatch.setattr(ff, "_fine_tune", fake_trainer)
    recs = [record(2, -5 - 0.01 * k, jid=f"c{k}") for k in range(30)]
    out = tmp_path / "Si"
    ff.train_alignn_ff("Si", out, epochs=4, records=recs)
    info = json.loads((out / "ffinfo.json").read_text())
    assert (out / ff.MARKER).exists() and info["elements"] == ["Si"] and info["device"] in ("cpu", "cuda")
    ff.train_alignn_ff("Si", out, epochs=4, records=recs)  # same config and data: reused
    assert runs == [4]
    ff.train_alignn_ff("Si", out, epochs=50, records=recs)  # a full-mode config: a 4-epoch model is not reused
    assert runs == [4, 50]
    ff.train_alignn_ff("Si", out, epochs=50, records=recs[:-1])  # other data: retrained
    assert runs == [4, 50, 50]
    (out / ff.MARKER).unlink()  # an interrupted run leaves no marker: retrained, never reused
    ff.train_alignn_ff("Si", out, epochs=50, records=recs[:-1])
    assert runs == [4, 50, 50, 50]


def test_alignn_ff_config_is_valid_for_alignn_and_small():
    from alignn.config import TrainingConfig

    cfg = TrainingConfig(**ff._alignn_ff_config(8, 2, 2, "/tmp/x", epochs=3, stress_weight=0.1))
    assert cfg.model.calculate_gradient and cfg.model.gradwise_weight == 10.0 and cfg.model.stresswise_weight == 0.1
    assert (cfg.cutoff, cfg.max_neighbors, cfg.three_body_cutoff, cfg.epochs) == (5.0, None, 3.5, 3)
    assert (cfg.model.hidden_features, cfg.batch_size, cfg.learning_rate, cfg.weight_decay) == (64, 8, 2e-3, 0.0)


def test_published_universal_ff_is_a_calculator_for_any_element(tiny_alignn_ff, monkeypatch):
    """A published force-field folder (here the tiny real model, as alignn's archive would unpack it) becomes a
    calculator with no element check; offline the one line of utils.pretrained.published_model comes back instead."""

    folder = tiny_alignn_ff
    monkeypatch.setattr(pretrained, "published_model", lambda model, timeout=5.0: (folder, f"{model}: cached"))
    calc, line = ff.published_ff_calculator("mptrj_ff")
    assert line == "mptrj_ff: cached" and calc.elements is None
    for atoms in (bulk("Cu", "fcc", a=3.6), bulk("Si", "diamond", a=5.43)):
        atoms.calc = calc
        assert np.isfinite(atoms.get_potential_energy()) and atoms.get_forces().shape == (len(atoms), 3)
    offline = lambda model, timeout=5.0: (None, f"{model} not downloaded: why")  # noqa: E731
    monkeypatch.setattr(pretrained, "published_model", offline)
    assert ff.published_ff_calculator("mptrj_ff") == (None, "mptrj_ff not downloaded: why")


@pytest.fixture
def mlearn_si(monkeypatch):
    """The shipped sample's mlearn_Si configurations (fast mode, no data folder)."""
    monkeypatch.setenv("AIMS_MODE", "fast")
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)
    return data.load_dataset("mlearn_Si", verbose=False)


def test_mlearn_stresses_are_read_in_mlearn_order(mlearn_si, monkeypatch):
    """Configuration 69 of mlearn_Si is a slab (a, b in the xy plane, vacuum along z): its yz and xz stresses vanish
    and the large 4th entry of mlearn's 6-vector is the in-plane shear xy. The 5th and 6th entries are xz and yz
    (not VASP's yz, zx): on mlearn_Cu's cells sheared in one plane the data's shear sits where ASE's EMT puts it."""
    from ase.calculators.emt import EMT
    from ase.units import GPa

    slab = next(rec for rec in mlearn_si if str(rec["jid"]) == "69")
    (config,) = ff.prepare_configs([slab])
    xx, yy, zz, yz, xz, xy = config.stress  # ASE's Voigt order, GPa, tensile positive
    assert abs(yz) < 0.05 and abs(xz) < 0.05 and xy == pytest.approx(1.594, abs=0.005)
    assert (xx, yy) == pytest.approx((1.671, 2.823), abs=0.001)
    full = [[1.0, 4.0, 5.0], [4.0, 2.0, 6.0], [5.0, 6.0, 3.0]]  # xy=4, xz=5, yz=6
    np.testing.assert_allclose(ff._as_stress(full), ff._as_stress([1, 2, 3, 4, 5, 6]))
    np.testing.assert_allclose(ff._as_stress([1, 2, 3, 4, 5, 6]), [-0.1, -0.2, -0.3, -0.6, -0.5, -0.4])
    cu = {str(rec["jid"]): rec for rec in data.load_dataset("mlearn_Cu", verbose=False)}
    for jid, plane in (("156", 3), ("159", 4), ("157", 5)):  # sheared in yz, xz, xy (Voigt index)
        (config,) = ff.prepare_configs([cu[jid]])
        atoms = config.atoms.copy()
        atoms.calc = EMT()
        emt = atoms.get_stress() / GPa
        assert np.argmax(np.abs(config.stress[3:])) + 3 == plane == np.argmax(np.abs(emt[3:])) + 3
        assert np.sign(config.stress[plane]) == np.sign(emt[plane])


def test_crafted_alignn_ff_checkpoint_is_refused_without_running_code(tiny_alignn_ff, tmp_path, monkeypatch):
    """alignn's own calculator unpickles best_model.pt (weights_only=False): a crafted file would run code."""
    import torch


    folder = tiny_alignn_ff
    evil = tmp_path / "evil_ff"
    evil.mkdir()
    (evil / "config.json").write_text((folder / "config.json").read_text())
    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (type(marker).touch, (marker,))

    torch.save({"fc.bias": RunsCode()}, evil / "best_model.pt")
    with pytest.warns(UserWarning, match="does not say which elements"):
        with pytest.raises(ff.ForceFieldError, match=r"best_model.pt holds more than weights"):
            ff.alignn_ff_calculator(evil)
    monkeypatch.setattr(pretrained, "published_model", lambda model, timeout=5.0: (evil, f"{model}: cached"))
    with pytest.raises(ff.ForceFieldError, match="holds more than weights"):
        ff.published_ff_calculator("mptrj_ff")
    assert not marker.exists()


def test_one_per_cell_configuration_neither_flips_the_set_nor_passes_silently(mlearn_si):
    odd = dict(mlearn_si[10], jid="odd")
    odd["total_energy"] = odd["total_energy"] * len(odd["atoms"]["elements"])  # given per cell
    with pytest.warns(UserWarning, match=r"1 of 265 .*per cell.*odd"):
        configs = ff.prepare_configs([*mlearn_si, odd])
    by_jid = {c.jid: c.energy_per_atom for c in configs}
    expected = [float(rec["total_energy"]) for rec in mlearn_si]
    np.testing.assert_allclose([by_jid[str(rec["jid"])] for rec in mlearn_si], expected)
    assert by_jid["odd"] == pytest.approx(float(mlearn_si[10]["total_energy"]))


@pytest.mark.parametrize("element", ["Cu", "Li", "Ni", "Si"])
def test_energies_per_atom_of_the_shipped_sets_and_of_their_per_cell_copies(element, monkeypatch):
    """Most Cu and Ni cells hold 107 or 108 atoms: a spread dominated by one cell size would call them per cell."""
    monkeypatch.setenv("AIMS_MODE", "fast")
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)
    records = data.load_dataset(f"mlearn_{element}", verbose=False)
    per_cell = [dict(rec, total_energy=rec["total_energy"] * len(rec["atoms"]["elements"])) for rec in records]
    expected = [float(rec["total_energy"]) for rec in records]
    for given in (records, per_cell):
        np.testing.assert_allclose([c.energy_per_atom for c in ff.prepare_configs(given)], expected)


@pytest.mark.parametrize("forces", ["na", [[0.0, 0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0, "na"], [0.0, 0.0, 0.0]]])
def test_unreadable_forces_name_the_configuration(forces):
    with pytest.raises(ff.ForceFieldError, match="Configuration Si-7: forces"):
        ff.prepare_configs([record(jid="ok"), record(forces=forces, jid="Si-7")])
