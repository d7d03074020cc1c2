"""The data layer: offline rule, download validation, cache repair, clear errors."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from conftest import make_record, write_benchmark, write_json

from utils import data, files, leaderboard
from utils.data import DatasetError, load_dataset, to_dataframe, with_property
from utils.leaderboard import split_records

TAG = "jdft_3d-test.json"
URL = "https://figshare.example/files/1"


def zipped(records, member=TAG) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(member, json.dumps(records))
    return buffer.getvalue()


class FakeResponse:
    """Stands in for requests' streamed response; can break off mid-way like a dropped connection."""

    def __init__(self, payload: bytes, fail_after: int | None = None):
        self.payload, self.fail_after = payload, fail_after
        self.headers = {"content-length": str(len(payload))}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def raise_for_status(self):
        pass

    def iter_content(self, chunk_size):
        for start in range(0, len(self.payload), 7):
            if self.fail_after is not None and start >= self.fail_after:
                raise ConnectionError("connection reset by peer")
            yield self.payload[start : start + 7]


@pytest.fixture
def online(tmp_path, monkeypatch):
    """Full mode with no data folder: the loader downloads (into an empty temporary cache)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.delenv("AIMS_FAST", raising=False)
    monkeypatch.setenv("AIMS_MODE", "full")
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)
    monkeypatch.setenv("AIMS_CACHE_DIR", str(cache))
    monkeypatch.setattr(files, "_network_failed", [])
    return cache


@pytest.fixture
def fake_figshare(monkeypatch):
    """Patch jarvis-tools' source lookup and requests.get; returns the list of requested URLs."""
    import requests

    calls, responses = [], []
    sources = {name: [URL, TAG] for name in ("dft_3d", "dft_2d", "mlearn")}
    monkeypatch.setattr("jarvis.db.figshare.get_db_info", lambda: sources)

    def fake_get(url, stream, timeout):
        calls.append(url)
        return responses.pop(0)

    monkeypatch.setattr(requests, "get", fake_get)
    return calls, responses


def test_offline_json_is_used_and_nothing_downloaded(isolated, records, fake_figshare):
    offline, cache = isolated
    write_json(offline / "dft_3d.json", records)
    calls, _ = fake_figshare
    loaded = load_dataset("dft_3d")
    assert [r["jid"] for r in loaded] == [r["jid"] for r in records]
    assert calls == []
    assert list(cache.iterdir()) == []


def test_offline_zip_is_used(isolated, records, fake_figshare):
    offline, _ = isolated
    (offline / "dft_2d.json.zip").write_bytes(zipped(records[:3], member="whatever.json"))
    assert len(load_dataset("dft_2d")) == 3
    assert fake_figshare[0] == []


def test_offline_mlearn_element(isolated):
    offline, _ = isolated
    rec = make_record("1") | {"total_energy": -4.7, "forces": [[0, 0, 0], [0, 0, 0]]}
    write_json(offline / "mlearn_Si.json", [rec])
    assert load_dataset("mlearn_Si")[0]["total_energy"] == -4.7


def test_offline_whole_mlearn_set_gives_one_element(isolated):
    offline, _ = isolated
    si = make_record("1") | {"energy": -4.7, "forces": [[0, 0, 0], [0, 0, 0]]}
    cu = make_record("2") | {"energy": -3.7, "forces": [[0, 0, 0], [0, 0, 0]]}
    cu["atoms"] = cu["atoms"] | {"elements": ["Cu", "Cu"]}
    mixed = make_record("3") | {"energy": -4.0, "forces": [[0, 0, 0], [0, 0, 0]]}
    mixed["atoms"] = mixed["atoms"] | {"elements": ["Si", "Cu"]}
    write_json(offline / "mlearn.json", [si, cu, mixed])
    records = load_dataset("mlearn_Si")
    assert [r["jid"] for r in records] == ["1"] and records[0]["total_energy"] == -4.7
    with pytest.raises(DatasetError, match="no single-element Ge"):
        load_dataset("mlearn_Ge")
    with pytest.raises(DatasetError, match="No dft_2d.json"):
        load_dataset("dft_2d")


def test_online_mlearn_element_is_taken_from_the_whole_download(online, fake_figshare):
    calls, responses = fake_figshare
    si = make_record("1") | {"energy": -4.7, "forces": [[0, 0, 0], [0, 0, 0]]}
    cu = make_record("2") | {"energy": -3.7, "forces": [[0, 0, 0], [0, 0, 0]]}
    cu["atoms"] = cu["atoms"] | {"elements": ["Cu", "Cu"]}
    responses.append(FakeResponse(zipped([si, cu])))
    records = load_dataset("mlearn_Si")
    assert [r["jid"] for r in records] == ["1"] and records[0]["total_energy"] == -4.7
    assert calls == [URL]


def test_download_validated_and_cached(online, records, fake_figshare):
    cache = online
    calls, responses = fake_figshare
    responses.append(FakeResponse(zipped(records)))
    assert len(load_dataset("dft_3d")) == len(records)
    assert (cache / f"{TAG}.zip").exists()
    assert [p.name for p in cache.iterdir()] == [f"{TAG}.zip"]  # no temporary file left behind
    assert len(load_dataset("dft_3d")) == len(records)  # second call: from the cache
    assert calls == [URL]


def test_partial_download_never_cached(online, records, fake_figshare):
    cache = online
    _, responses = fake_figshare
    responses.append(FakeResponse(zipped(records), fail_after=50))
    with pytest.raises(DatasetError, match="download .* failed"):
        load_dataset("dft_3d")
    assert list(cache.iterdir()) == []


def test_invalid_download_never_cached_and_advises(online, fake_figshare):
    cache = online
    _, responses = fake_figshare
    responses.append(FakeResponse(b"<!DOCTYPE html><html>rate limited</html>"))
    with pytest.raises(DatasetError, match="web page instead of the data file.*retry later.*AIMS_DATA_DIR"):
        load_dataset("dft_3d")
    assert list(cache.iterdir()) == []


def test_truncated_zip_download_is_called_a_zip_problem(online, records, fake_figshare):
    _, responses = fake_figshare
    responses.append(FakeResponse(zipped(records)[:-30]))
    with pytest.raises(DatasetError, match="not a valid zip archive.*retry later"):
        load_dataset("dft_3d")
    assert list(online.iterdir()) == []


def corrupt_member(payload: bytes) -> bytes:
    """A zip whose central directory is intact but whose compressed data is damaged (zlib.error on read)."""
    buffer = bytearray(payload)
    start = 30 + len(TAG)  # local header + member name, then the deflate stream
    buffer[start : start + 40] = b"\xff" * 40
    return bytes(buffer)


def test_cached_zip_with_damaged_data_is_refetched(online, records, fake_figshare):
    calls, responses = fake_figshare
    good = zipped(records)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(TAG, json.dumps(records))
    (online / f"{TAG}.zip").write_bytes(corrupt_member(buffer.getvalue()))
    responses.append(FakeResponse(good))
    with pytest.warns(UserWarning, match="damaged"):
        assert len(load_dataset("dft_3d")) == len(records)
    assert calls == [URL]
    assert len(load_dataset("dft_3d")) == len(records)  # repaired for good: no further download
    assert calls == [URL]


def test_cached_zip_damaged_after_its_first_record_is_refetched(online, fake_figshare):
    calls, responses = fake_figshare
    # more than the 1 MB the stream parser reads at once, so the first record reads fine
    many = [make_record(f"JVASP-{i}", -0.01 * i) | {"note": f"record {i} " * 40} for i in range(4000)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(TAG, json.dumps(many))
    damaged = bytearray(buffer.getvalue())
    end_of_data = len(damaged) - 22 - 46 - len(TAG)  # end record, central directory entry
    damaged[end_of_data - 300 : end_of_data - 260] = b"\xff" * 40  # the tail of the deflate stream
    (online / f"{TAG}.zip").write_bytes(bytes(damaged))
    responses.append(FakeResponse(zipped(many)))
    with pytest.warns(UserWarning, match="damaged"):
        assert len(load_dataset("dft_3d")) == 4000
    assert calls == [URL]
    assert len(load_dataset("dft_3d")) == 4000  # repaired for good
    assert calls == [URL]


def test_corrupt_cache_detected_and_refetched(online, records, fake_figshare):
    cache = online
    calls, responses = fake_figshare
    (cache / f"{TAG}.zip").write_bytes(zipped(records)[:40])  # truncated zip
    responses.append(FakeResponse(zipped(records)))
    with pytest.warns(UserWarning, match="damaged"):
        loaded = load_dataset("dft_3d")
    assert len(loaded) == len(records)
    assert calls == [URL]
    assert zipfile.is_zipfile(cache / f"{TAG}.zip")


def test_data_dir_without_the_file_names_file_and_folder_and_downloads_nothing(isolated, fake_figshare):
    offline, _ = isolated
    with pytest.raises(DatasetError) as err:
        load_dataset("dft_3d")
    message = str(err.value)
    assert "dft_3d.json or dft_3d.json.zip" in message
    assert str(offline) in message
    assert fake_figshare[0] == []


def test_data_dir_that_does_not_exist_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMS_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="nowhere, which is not a folder"):
        load_dataset("dft_3d")


def test_no_network_message_without_data_dir(online, fake_figshare, monkeypatch):
    import requests

    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    with pytest.raises(DatasetError, match="set AIMS_DATA_DIR"):
        load_dataset("dft_2d")


def test_fast_mode_reads_the_shipped_sample_without_network(monkeypatch, tmp_path, fake_figshare):
    monkeypatch.setenv("AIMS_MODE", "fast")
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path))
    records = load_dataset("dft_3d")
    assert len(records) > 500 and fake_figshare[0] == []
    assert data.data_folder() == data.SAMPLE_DIR


def test_failed_download_falls_back_to_the_sample_only_when_asked(online, fake_figshare, monkeypatch, capsys):
    import requests

    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    with pytest.raises(DatasetError):
        load_dataset("dft_2d")
    records = load_dataset("dft_2d", fallback_to_sample=True)
    out = capsys.readouterr().out
    assert "could not be loaded online" in out and "shipped workshop sample" in out
    assert records and data.data_folder() is None  # the fallback is local to that call


def test_unknown_dataset_lists_known_names(isolated):
    with pytest.raises(DatasetError) as err:
        load_dataset("dft_4d")
    assert "dft_3d" in str(err.value) and "mlearn_Si" in str(err.value)


def test_unknown_mlearn_element(isolated):
    with pytest.raises(DatasetError, match="mlearn has Cu, Ge, Li, Mo, Ni, Si"):
        load_dataset("mlearn_Xx")


def test_record_without_atoms_is_rejected(isolated, records):
    offline, _ = isolated
    del records[3]["atoms"]
    write_json(offline / "dft_3d.json", records)
    with pytest.raises(DatasetError, match="record JVASP-4 lacks atoms"):
        load_dataset("dft_3d")


@pytest.mark.parametrize("content", [b"{not json", b'{"jid": "x"}', b"[]"])
def test_malformed_offline_file(isolated, content):
    offline, _ = isolated
    (offline / "dft_3d.json").write_bytes(content)
    with pytest.raises(DatasetError, match="dft_3d"):
        load_dataset("dft_3d")


def test_registry_entries_are_complete():
    reg = data.registry()
    for name, entry in reg["datasets"].items():
        for key in ("title", "source", "tag", "records", "license", "citation", "required_keys"):
            assert entry.get(key), f"{name} lacks {key}"


def test_empty_record_lists_give_clear_errors():
    with pytest.raises(DatasetError, match="No records given"):
        with_property([], "formation_energy_peratom")
    with pytest.raises(DatasetError, match="No records given"):
        split_records([], "formation_energy_peratom")
    with pytest.raises(DatasetError, match="No records given"):
        to_dataframe([])


def test_numpy_nan_and_inf_are_missing():
    import numpy as np

    for value in (np.float32("nan"), np.float64("inf"), float("-inf"), np.nan, "na", None, ""):
        assert data.is_missing(value), value
    for value in (np.float32(1.5), 0, np.int64(3), -2.0):
        assert not data.is_missing(value), value


def test_unwritable_cache_folder_says_to_set_aims_cache_dir(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("AIMS_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(DatasetError, match="Set AIMS_CACHE_DIR to a writable folder"):
        data.cache_dir()


def test_temporary_files_have_unique_names(tmp_path):
    dest, seen = tmp_path / "x.json", []
    files.write_atomically(dest, lambda tmp: seen.append(tmp) or tmp.write_text("[0]"))
    files.write_atomically(dest, lambda tmp: seen.append(tmp) or tmp.write_text("[1]"))
    assert seen[0] != seen[1] and seen[0].name.endswith(".part") and seen[0].parent == tmp_path
    assert dest.read_text() == "[1]" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_with_property_drops_na_and_rejects_unknown(records):
    records[0]["formation_energy_peratom"] = "na"
    assert len(with_property(records, "formation_energy_peratom")) == len(records) - 1
    assert with_property(records, "optb88vdw_bandgap") == []
    with pytest.raises(DatasetError, match="Unknown property 'formation_energy'"):
        with_property(records, "formation_energy")


def test_split_is_exactly_the_leaderboard_split_from_the_data_folder(isolated, records):
    offline, _ = isolated
    parts = ["train", "train", "val", "test"]
    table = {p: {} for p in ("train", "val", "test")}
    for i, rec in enumerate(records[:16]):  # the last 4 records are not in the benchmark
        table[parts[i % 4]][rec["jid"]] = rec["formation_energy_peratom"]
    table["test"]["JVASP-999999"] = 0.5  # in the benchmark, not in the records
    write_benchmark(offline, "AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip", table)
    split = split_records(records, "formation_energy_peratom")
    for part in ("train", "val", "test"):
        assert {r["jid"] for r in split[part]} == set(table[part]) - {"JVASP-999999"}
    assert split.source.startswith("JARVIS-Leaderboard split dft_3d_formation_energy_peratom (16 of the 20")
    assert split.labels["JVASP-4"] == "test"


def test_split_without_a_benchmark_file_is_random_and_says_why(isolated, records):
    split = split_records(records, "formation_energy_peratom")
    assert split.source.startswith("seeded random split") and "has no jarvis_leaderboard/AI" in split.source
    assert split.labels == {}


def test_mlearn_split_matches_leaderboard_ids_to_jids(isolated):
    offline, _ = isolated
    recs = [make_record(str(k)) | {"total_energy": -4.7} for k in range(1, 13)]
    table = {"train": {f"Si-{k}": -9.4 for k in range(1, 10)}, "test": {f"Si-{k}": -9.4 for k in (10, 11, 12)}}
    write_benchmark(offline, "AI/MLFF/mlearn_Si_energy.json.zip", table)
    split = split_records(recs, "total_energy")
    assert [r["jid"] for r in split["test"]] == ["10", "11", "12"] and len(split["train"]) == 9


def test_leaderboard_file_downloaded_at_the_pinned_commit_and_cached(online, records, monkeypatch):
    import requests

    table = {"train": {r["jid"]: 0 for r in records[:15]}, "test": {r["jid"]: 0 for r in records[15:]}}
    calls = []

    def fake_get(url, stream, timeout):
        calls.append(url)
        return FakeResponse(zipped(table, member="x.json"))

    monkeypatch.setattr(requests, "get", fake_get)
    first = split_records(records, "formation_energy_peratom")
    second = split_records(records, "formation_energy_peratom")
    entry, path = data.registry()["leaderboard"], "AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip"
    assert calls == [f"{entry['raw_base']}/{entry['commit']}/jarvis_leaderboard/benchmarks/{path}"]
    assert len(first["test"]) == len(second["test"]) == 5


def test_leaderboard_404_means_random_split_and_network_failure_uses_the_sample(online, monkeypatch, capsys):
    import requests

    class NotFound(FakeResponse):
        def raise_for_status(self):
            error = requests.HTTPError("404 Not Found")
            error.response = type("R", (), {"status_code": 404})()
            raise error

    monkeypatch.setattr(requests, "get", lambda *a, **k: NotFound(b""))
    table, reason = leaderboard.benchmark_table("AI/SinglePropertyPrediction/dft_3d_nat.json.zip")
    assert table is None and "has no benchmark" in reason
    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    table, origin = leaderboard.benchmark_table("AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip")
    assert table is not None and "sample" in origin and "using the shipped sample's copy" in capsys.readouterr().out


def test_split_seeded_random_when_no_labels(isolated, records):
    first = split_records(records, "formation_energy_peratom", seed=1)
    again = split_records(records, "formation_energy_peratom", seed=1)
    assert [r["jid"] for r in first["test"]] == [r["jid"] for r in again["test"]]
    assert sum(len(v) for v in first.values()) == len(records)
    assert len(first["train"]) == 16


def test_split_too_few_values(isolated, records):
    for rec in records[3:]:
        rec["formation_energy_peratom"] = "na"
    with pytest.raises(DatasetError, match="Only 3 records have a value"):
        split_records(records, "formation_energy_peratom")


def test_to_dataframe_turns_na_into_nan(records):
    frame = to_dataframe(records)
    assert "atoms" not in frame
    assert frame["optb88vdw_bandgap"].isna().all()
    assert frame["formation_energy_peratom"].iloc[1] == pytest.approx(-0.2)


@pytest.mark.parametrize("chunk_size", [1, 3, 64, 1 << 20])
def test_stream_parser_matches_json_at_any_chunk_size(chunk_size):
    items = [{"jid": "a", "x": [1, 2.5, "na"]}, {"jid": "b", "s": "],{"}, 12345, "text", [], {}]
    text = " \n" + json.dumps(items, indent=1) + "\n"
    assert list(files.iter_json_list(io.StringIO(text), chunk_size=chunk_size)) == items


@pytest.mark.parametrize("text", ['[{"a": 1} {"b": 2}]', '[{"a": 1},', '{"a": 1}', "[1, 2"])
def test_stream_parser_rejects_malformed_lists(text):
    with pytest.raises(ValueError):
        list(files.iter_json_list(io.StringIO(text), chunk_size=4))


def test_max_records_env_caps_the_read(isolated, records, monkeypatch):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records)
    monkeypatch.setenv("AIMS_MAX_RECORDS", "5")
    assert [r["jid"] for r in load_dataset("dft_3d")] == [r["jid"] for r in records[:5]]
    monkeypatch.setenv("AIMS_MAX_RECORDS", "five")
    with pytest.raises(DatasetError, match="positive whole number"):
        load_dataset("dft_3d")


# --- chipsff_reference: built the same way from any source ----------------------------------------


def sample_folder_copy(dest, keep=lambda rec: True):
    """A data folder with the sample's leaderboard files and a filtered copy of its dft_3d records."""
    import shutil

    shutil.copytree(data.SAMPLE_DIR / "jarvis_leaderboard", dest / "jarvis_leaderboard")
    records = files.read_records(data.SAMPLE_DIR / "dft_3d.json.zip", ["jid", "atoms"])
    write_json(dest / "dft_3d.json", [r for r in records if keep(r)])
    return dest


def test_chipsff_reference_from_a_folder_ignores_the_record_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMS_DATA_DIR", str(data.SAMPLE_DIR))
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("AIMS_MAX_RECORDS", "50")
    assert len(load_dataset("dft_3d", verbose=False)) == 50
    reference = load_dataset("chipsff_reference")
    by_jid = {r["jid"]: r for r in reference}
    assert len(reference) >= 9 and "JVASP-1002" in by_jid
    assert by_jid["JVASP-1002"]["reference"]["kv"] > 0 and by_jid["JVASP-1002"]["reference"]["surf_en"]
    assert by_jid["JVASP-1002"]["experiment"]["bulk_modulus"] == pytest.approx(99.2)
    sources = list(tmp_path.glob("chipsff_reference-*.sources.json"))
    assert len(sources) == 1 and "dft_3d" in json.loads(sources[0].read_text())


def test_chipsff_cache_is_rebuilt_when_its_source_changes(tmp_path, monkeypatch):
    folder = sample_folder_copy(tmp_path / "folder", keep=lambda r: r["jid"] != "JVASP-1002")
    monkeypatch.setenv("AIMS_DATA_DIR", str(folder))
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path / "cache"))
    without_si = load_dataset("chipsff_reference", verbose=False)
    sample_folder_copy(tmp_path / "folder2")
    monkeypatch.setenv("AIMS_DATA_DIR", str(tmp_path / "folder2"))
    with_si = load_dataset("chipsff_reference", verbose=False)
    assert len(with_si) == len(without_si) + 1
    assert "JVASP-1002" not in {r["jid"] for r in without_si}


def test_chipsff_reference_with_no_material_is_an_error_and_not_cached(tmp_path, monkeypatch):
    folder = sample_folder_copy(tmp_path / "folder", keep=lambda r: r["jid"] == "JVASP-19679")  # not CHIPS-FF
    monkeypatch.setenv("AIMS_DATA_DIR", str(folder))
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="None of the 104 CHIPS-FF materials"):
        load_dataset("chipsff_reference")
    assert not list((tmp_path / "cache").glob("chipsff_reference*"))


def test_chipsff_reference_needs_its_tables(isolated, records):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records)
    with pytest.raises(DatasetError, match="needs the leaderboard file .*dft_3d_chipsff_a"):
        load_dataset("chipsff_reference")


# --- the shipped sample ----------------------------------------------------------------------------


def test_sample_matches_its_manifest_and_stays_small():
    import hashlib

    manifest = json.loads((data.SAMPLE_DIR / "manifest.json").read_text())
    total = 0
    for rel, entry in manifest["files"].items():
        payload = (data.SAMPLE_DIR / rel).read_bytes()
        assert hashlib.sha256(payload).hexdigest() == entry["sha256"], f"{rel} changed: rebuild the sample"
        total += len(payload)
    assert total < 5e6
    shipped = {str(p.relative_to(data.SAMPLE_DIR)) for p in data.SAMPLE_DIR.rglob("*.json.zip")}
    assert shipped == set(manifest["files"])


def test_sample_records_are_plain_and_hold_what_the_lessons_name():
    records = files.read_records(data.SAMPLE_DIR / "dft_3d.json.zip", ["jid", "atoms"])
    assert not [k for r in records for k in r if k.startswith("_")]
    jids = {r["jid"] for r in records}
    assert {"JVASP-1002", "JVASP-39", "JVASP-816", "JVASP-19679"} <= jids
    assert len(with_property(records, "Tc_supercon")) >= 100
    for element in ("Cu", "Li", "Ni", "Si"):
        assert (data.SAMPLE_DIR / f"mlearn_{element}.json.zip").is_file()
    entry = data.registry()["sample"]
    for key in ("title", "version", "source", "license", "citation", "command"):
        assert entry.get(key), f"the registry's sample entry lacks {key}"


def test_sample_gives_the_leaderboard_split(monkeypatch):
    monkeypatch.delenv("AIMS_DATA_DIR", raising=False)
    monkeypatch.setenv("AIMS_MODE", "fast")
    records = load_dataset("dft_3d", verbose=False)
    split = split_records(records, "formation_energy_peratom")
    table = leaderboard.read_benchmark(
        data.SAMPLE_DIR / "jarvis_leaderboard/AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip"
    )
    assert {r["jid"] for r in split["test"]} == set(table["test"])
    assert split.source.startswith("JARVIS-Leaderboard split")


def test_write_atomically_takes_a_writer_and_cleans_up_when_it_fails(tmp_path):
    dest = tmp_path / "x.bin"
    files.write_atomically(dest, lambda tmp: tmp.write_bytes(b"ok"))
    assert dest.read_bytes() == b"ok"

    def half_then_disk_full(tmp):
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        files.write_atomically(dest, half_then_disk_full)
    assert dest.read_bytes() == b"ok" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


@pytest.mark.parametrize("empty", ["", " "])
def test_empty_environment_variables_mean_unset(tmp_path, monkeypatch, empty):
    from utils import features

    monkeypatch.chdir(tmp_path)
    for name in ("AIMS_CACHE_DIR", "AIMS_FEATURE_CACHE", "AIMS_DATA_DIR", "AIMS_MAX_RECORDS"):
        monkeypatch.setenv(name, empty)
    assert data.cache_dir() == data.REPO_ROOT / ".cache" / "datasets"
    assert features.cache_root() == data.REPO_ROOT / ".cache" / "features"
    assert data.max_records_from_env() is None
    assert not list(tmp_path.iterdir())


def test_failed_cache_write_of_a_built_dataset_warns_and_returns_it(tmp_path, monkeypatch):
    import errno

    monkeypatch.setenv("AIMS_DATA_DIR", str(data.SAMPLE_DIR))
    monkeypatch.setenv("AIMS_CACHE_DIR", str(tmp_path))

    def disk_full(dest, content):
        raise OSError(errno.ENOSPC, "No space left on device", str(dest))

    monkeypatch.setattr(files, "write_atomically", disk_full)
    with pytest.warns(UserWarning, match=r"Could not save chipsff_reference .*No space left"):
        records = load_dataset("chipsff_reference", verbose=False)
    assert len(records) >= 9


def test_exact_duplicate_records_are_dropped_with_a_warning_naming_them(isolated, records):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records + [records[4], records[7]])
    with pytest.warns(UserWarning, match=r"2 duplicate records .*JVASP-5, JVASP-8"):
        loaded = load_dataset("dft_3d")
    assert [r["jid"] for r in loaded] == [r["jid"] for r in records]


def test_conflicting_twins_are_refused_naming_their_jids(isolated, records):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records + [dict(records[4], formation_energy_peratom=9.0)])
    with pytest.raises(DatasetError, match=r"dft_3d .*: 1 jid occurs twice with different values: JVASP-5\b"):
        load_dataset("dft_3d")


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "-", "--", "null"])
def test_placeholder_values_are_missing(records, placeholder):
    records[0]["formation_energy_peratom"] = placeholder
    assert data.is_missing(placeholder)
    assert len(with_property(records, "formation_energy_peratom")) == len(records) - 1
    assert to_dataframe(records)["formation_energy_peratom"].isna().sum() == 1


def test_text_where_a_number_belongs_names_the_record_and_property(records):
    records[2]["formation_energy_peratom"] = "about -0.3"
    with pytest.raises(DatasetError, match=r"JVASP-3 .*formation_energy_peratom.*'about -0.3'"):
        with_property(records, "formation_energy_peratom")


def test_a_bom_and_a_macosx_member_are_read_past(isolated, records):
    offline, _ = isolated
    (offline / "dft_3d.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(records).encode())
    assert len(load_dataset("dft_3d")) == len(records)
    with zipfile.ZipFile(offline / "dft_2d.json.zip", "w") as zf:
        zf.writestr("__MACOSX/._dft_2d.json", b"\x00\x05\x16\x07 mac resource fork")
        zf.writestr(".hidden.json", "not json")
        zf.writestr("dft_2d.json", "\ufeff" + json.dumps(records))
    assert len(load_dataset("dft_2d")) == len(records)


def test_deeply_nested_json_is_a_dataset_error_naming_the_file(isolated):
    offline, _ = isolated
    (offline / "dft_3d.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DatasetError, match=r"dft_3d.json.*nested too deeply"):
        load_dataset("dft_3d")


def test_json_and_zip_side_by_side_say_which_is_read(isolated, records):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records[:5])
    (offline / "dft_3d.json.zip").write_bytes(zipped(records))
    with pytest.warns(UserWarning, match=r"both dft_3d.json and dft_3d.json.zip.*reading dft_3d.json\b"):
        assert len(load_dataset("dft_3d")) == 5


def test_fallback_leaves_the_environment_alone_and_splits_like_the_sample(online, monkeypatch):
    import os

    import requests

    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    before = dict(os.environ)
    records = load_dataset("dft_3d", verbose=False, fallback_to_sample=True)
    assert dict(os.environ) == before
    split = split_records(records, "formation_energy_peratom")
    table = leaderboard.read_benchmark(
        data.SAMPLE_DIR / "jarvis_leaderboard/AI/SinglePropertyPrediction/dft_3d_formation_energy_peratom.json.zip"
    )
    assert {r["jid"] for r in split["test"]} == set(table["test"])


def test_download_errors_point_to_the_offline_section_of_docs_data_md(online, fake_figshare, monkeypatch):
    import requests

    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    with pytest.raises(DatasetError, match="docs/DATA.md, section 'Working offline'"):
        load_dataset("dft_2d")
    assert "\n## Working offline\n" in (data.REPO_ROOT / "docs" / "DATA.md").read_text()


def test_max_records_keeps_a_seeded_uniform_sample_in_file_order(isolated, records):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records)
    first = load_dataset("dft_3d", max_records=5, seed=3)
    again = load_dataset("dft_3d", max_records=5, seed=3)
    order = [r["jid"] for r in records]
    assert [r["jid"] for r in first] == [r["jid"] for r in again] and len(first) == 5
    assert sorted(order.index(r["jid"]) for r in first) == [order.index(r["jid"]) for r in first]
    assert [r["jid"] for r in first] != order[:5]  # not simply the first five
    assert len(load_dataset("dft_3d", max_records=50)) == len(records)


def test_sample_stream_is_uniform():
    from collections import Counter

    from utils.files import sample_stream

    counts = Counter(x for seed in range(2000) for x in sample_stream(range(10), 3, seed))
    assert set(counts) == set(range(10)) and max(counts.values()) / min(counts.values()) < 1.3


def test_where_keeps_only_matching_records_and_the_record_cap_counts_those(isolated, records, monkeypatch):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records)
    seen = []

    def low(rec):
        seen.append(rec["jid"])
        return rec["formation_energy_peratom"] < -1.55  # JVASP-16 ... JVASP-20

    assert [r["jid"] for r in load_dataset("dft_3d", where=low)] == [f"JVASP-{i}" for i in range(16, 21)]
    assert len(seen) == len(records)  # every record was offered to the filter, once
    monkeypatch.setenv("AIMS_MAX_RECORDS", "2")
    assert [r["jid"] for r in load_dataset("dft_3d", where=low)] == ["JVASP-16", "JVASP-17"]


def test_where_filters_the_sample_a_failed_download_falls_back_to(online, monkeypatch, capsys):
    import requests

    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    silicon = load_dataset("dft_3d", fallback_to_sample=True, where=lambda r: r["atoms"]["elements"] == ["Si"] * 2)
    out = capsys.readouterr().out
    assert "shipped workshop sample" in out and "matching the filter from the shipped sample" in out
    assert silicon and all(r["atoms"]["elements"] == ["Si", "Si"] for r in silicon)
    assert "JVASP-1002" in [r["jid"] for r in silicon]  # the sample holds JARVIS's diamond Si
