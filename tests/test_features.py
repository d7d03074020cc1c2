"""Tests of utils.features: names and groups, one-structure features, cache, failures, versions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from utils import features as F

SI = {
    "jid": "JVASP-1002",
    "atoms": {
        "lattice_mat": [[3.35, 0.0, 1.93], [1.12, 3.16, 1.93], [0.0, 0.0, 3.87]],
        "coords": [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]],
        "elements": ["Si", "Si"],
        "cartesian": False,
    },
    "formation_energy_peratom": 0.0,
}
NACL = {
    "jid": "JVASP-23862",
    "atoms": {
        "lattice_mat": [[0.0, 2.8, 2.8], [2.8, 0.0, 2.8], [2.8, 2.8, 0.0]],
        "coords": [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]],
        "elements": ["Na", "Cl"],
        "cartesian": False,
    },
    "formation_energy_peratom": -1.9,
}
BROKEN = {"jid": "JVASP-BROKEN", "atoms": {"lattice_mat": [[0, 0, 0]] * 3, "coords": [[0, 0, 0]], "elements": ["Si"]}}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMS_FEATURE_CACHE", str(tmp_path / "features"))
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)


def test_feature_name_counts_and_groups():
    assert len(F.feature_names("cfid_fast")) == 820
    assert len(F.feature_names("cfid_full")) == 1557
    assert len(F.feature_names("composition")) == 103
    groups = F.feature_groups(F.feature_names("cfid_full"))
    assert {g: len(i) for g, i in groups.items()} == {g: stop - start for g, (start, stop) in F.CFID_GROUPS.items()}
    assert groups["cell"] == [438, 439, 440, 441]
    fast = F.feature_groups(F.feature_names("cfid_fast"))
    assert list(fast) == ["chem", "cell", "chg"] and sum(len(i) for i in fast.values()) == 820


def test_unknown_kind_is_explained():
    with pytest.raises(F.FeatureError, match="cfid_fast"):
        F.feature_names("magpie")


def test_composition_vector_fractions():
    vec = F.composition_vector(["Na", "Cl", "Cl", "Cl"])
    names = F.feature_names("composition")
    assert vec.sum() == pytest.approx(1.0)
    assert vec[names.index("frac:Cl")] == pytest.approx(0.75)
    with pytest.raises(F.FeatureError, match="Xx"):
        F.composition_vector(["Xx"])


def test_real_cfid_fast_of_silicon_matches_jarvis():
    from jarvis.ai.descriptors.cfid import CFID

    from utils.structures import atoms_from_record

    vec = F.structure_features(SI, "cfid_fast")
    ref = CFID(atoms_from_record(SI)).get_comp_descp(jrdf_adf=False)
    assert vec.shape == (820,)
    np.testing.assert_allclose(vec, ref, rtol=1e-6)
    names = F.feature_names("cfid_fast")
    volume = abs(np.linalg.det(np.array(SI["atoms"]["lattice_mat"]))) / 2
    assert vec[names.index("cell:volume_per_atom")] == pytest.approx(volume, rel=1e-4)


def test_elements_without_data_are_those_jarvis_stores_as_minus_9999():
    from jarvis.core.specie import Specie

    missing = F.elements_without_data(["Si", "O", "Xe", "Eu", "Kr"])
    assert missing == {"Xe", "Eu"}
    assert np.mean(np.asarray(Specie("Xe").get_descrp_arr) == -9999) > 0.9
    assert not np.any(np.asarray(Specie("Kr").get_descrp_arr) == -9999)


def counting_featurizer(calls):
    def featurize(record, kind):
        calls.append(record["jid"])
        return F.structure_features(record, kind)

    return featurize


def test_cache_is_reused_and_failures_skipped(capsys):
    calls: list[str] = []
    records = [SI, BROKEN, NACL]
    fs = F.compute_features(records, "composition", featurizer=counting_featurizer(calls), progress=False)
    assert fs.jids == ["JVASP-1002", "JVASP-23862"]
    assert fs.X.shape == (2, 103)
    assert "JVASP-BROKEN" in fs.failures and "zero volume" in fs.failures["JVASP-BROKEN"]
    assert "skipped JVASP-BROKEN" in capsys.readouterr().out
    calls.clear()
    again = F.compute_features(records, "composition", featurizer=counting_featurizer(calls), progress=False)
    assert calls == ["JVASP-BROKEN"]  # the good ones came from the cache
    np.testing.assert_array_equal(again.X, fs.X)
    assert again.jids == fs.jids and len(again.names) == 103


def test_changed_structure_is_recomputed():
    calls: list[str] = []
    F.compute_features([NACL], "composition", featurizer=counting_featurizer(calls), progress=False)
    moved = json.loads(json.dumps(NACL))
    moved["atoms"]["lattice_mat"][0][1] = 2.9
    assert F.record_key(moved) != F.record_key(NACL)
    F.compute_features([moved], "composition", featurizer=counting_featurizer(calls), progress=False)
    assert calls == ["JVASP-23862", "JVASP-23862"]


def test_damaged_cache_shard_is_dropped():
    F.compute_features([SI], "composition", progress=False, verbose=False)
    shard = next((F.cache_root() / "composition").rglob("shard-*.npz"))
    shard.write_bytes(b"not a zip")
    calls: list[str] = []
    with pytest.warns(UserWarning, match="damaged"):
        fs = F.compute_features([SI], "composition", featurizer=counting_featurizer(calls), progress=False)
    assert calls == ["JVASP-1002"] and fs.jids == ["JVASP-1002"]  # the damaged shard was dropped, its row computed


def test_featurize_split_gives_each_kept_row_its_own_target():
    parts = F.featurize_split({"train": [NACL, BROKEN, SI]}, "formation_energy_peratom", "composition",
                              progress=False)
    assert parts["train"].jids == ["JVASP-23862", "JVASP-1002"]  # the broken structure is dropped
    np.testing.assert_allclose(parts["train"].y, [-1.9, 0.0])
    assert parts["train"].X.shape == (2, 103)


def test_unwritable_feature_cache_warns_and_returns_the_features(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a cache folder below a file cannot be created (as on a read-only disk)
    monkeypatch.setenv("AIMS_FEATURE_CACHE", str(blocker / "features"))
    with pytest.warns(UserWarning, match=r"Could not save .* feature cache .*a_file"):
        fs = F.compute_features([SI, NACL], "composition", progress=False, verbose=False)
    assert fs.jids == ["JVASP-1002", "JVASP-23862"] and fs.X.shape == (2, 103)
