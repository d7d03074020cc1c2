"""The data layer: offline rule, download validation, cache repair, clear errors."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from conftest import make_record, write_json

from utils import data
from utils.data import DatasetError, load_dataset, split_records, to_dataframe, with_property

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
def fake_figshare(monkeypatch):
    """Patch jarvis-tools' source lookup and requests.get; returns the list of requested URLs."""
    import requests

    calls, responses = [], []
    monkeypatch.setattr(data, "_figshare_source", lambda name: (URL, TAG))

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


def test_download_validated_and_cached(isolated, records, fake_figshare):
    _, cache = isolated
    calls, responses = fake_figshare
    responses.append(FakeResponse(zipped(records)))
    assert len(load_dataset("dft_3d")) == len(records)
    assert (cache / f"{TAG}.zip").exists()
    assert [p.name for p in cache.iterdir()] == [f"{TAG}.zip"]  # no temporary file left behind
    assert len(load_dataset("dft_3d")) == len(records)  # second call: from the cache
    assert calls == [URL]


def test_partial_download_never_cached(isolated, records, fake_figshare):
    _, cache = isolated
    _, responses = fake_figshare
    responses.append(FakeResponse(zipped(records), fail_after=50))
    with pytest.raises(DatasetError, match="download .* failed"):
        load_dataset("dft_3d")
    assert list(cache.iterdir()) == []


def test_invalid_download_never_cached(isolated, fake_figshare):
    _, cache = isolated
    _, responses = fake_figshare
    responses.append(FakeResponse(b"<html>rate limited</html>"))
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_dataset("dft_3d")
    assert list(cache.iterdir()) == []


def test_corrupt_cache_detected_and_refetched(isolated, records, fake_figshare):
    _, cache = isolated
    calls, responses = fake_figshare
    (cache / f"{TAG}.zip").write_bytes(zipped(records)[:40])  # truncated zip
    responses.append(FakeResponse(zipped(records)))
    with pytest.warns(UserWarning, match="damaged"):
        loaded = load_dataset("dft_3d")
    assert len(loaded) == len(records)
    assert calls == [URL]
    assert zipfile.is_zipfile(cache / f"{TAG}.zip")


def test_no_network_no_local_copy_names_file_and_folder(isolated, fake_figshare, monkeypatch):
    offline, _ = isolated
    import requests

    def offline_get(*args, **kwargs):
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(requests, "get", offline_get)
    with pytest.raises(DatasetError) as err:
        load_dataset("dft_3d")
    message = str(err.value)
    assert "dft_3d.json or dft_3d.json.zip" in message
    assert str(offline) in message


def test_no_network_message_without_data_dir(isolated, fake_figshare, monkeypatch):
    import requests

    monkeypatch.delenv("AIMS_DATA_DIR")
    monkeypatch.setattr(requests, "get", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError("down")))
    with pytest.raises(DatasetError, match="set AIMS_DATA_DIR"):
        load_dataset("dft_2d")


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


def test_with_property_drops_na_and_rejects_unknown(records):
    records[0]["formation_energy_peratom"] = "na"
    assert len(with_property(records, "formation_energy_peratom")) == len(records) - 1
    assert with_property(records, "optb88vdw_bandgap") == []
    with pytest.raises(DatasetError, match="Unknown property 'formation_energy'"):
        with_property(records, "formation_energy")


def test_split_uses_leaderboard_labels(records):
    for i, rec in enumerate(records):
        rec["_leaderboard_split"] = {"formation_energy_peratom": ["train", "train", "val", "test"][i % 4]}
    split = split_records(records, "formation_energy_peratom")
    assert [len(split[k]) for k in ("train", "val", "test")] == [10, 5, 5]
    assert all(r["_leaderboard_split"]["formation_energy_peratom"] == "test" for r in split["test"])


def test_split_seeded_random_when_no_labels(records):
    first = split_records(records, "formation_energy_peratom", seed=1)
    again = split_records(records, "formation_energy_peratom", seed=1)
    assert [r["jid"] for r in first["test"]] == [r["jid"] for r in again["test"]]
    assert sum(len(v) for v in first.values()) == len(records)
    assert len(first["train"]) == 16


def test_split_too_few_values(records):
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
    assert list(data.iter_json_list(io.StringIO(text), chunk_size=chunk_size)) == items


@pytest.mark.parametrize("text", ['[{"a": 1} {"b": 2}]', '[{"a": 1},', '{"a": 1}', "[1, 2"])
def test_stream_parser_rejects_malformed_lists(text):
    with pytest.raises(ValueError):
        list(data.iter_json_list(io.StringIO(text), chunk_size=4))


def test_max_records_env_caps_the_read(isolated, records, monkeypatch):
    offline, _ = isolated
    write_json(offline / "dft_3d.json", records)
    monkeypatch.setenv("AIMS_MAX_RECORDS", "5")
    assert [r["jid"] for r in load_dataset("dft_3d")] == [r["jid"] for r in records[:5]]
    monkeypatch.setenv("AIMS_MAX_RECORDS", "five")
    with pytest.raises(DatasetError, match="positive whole number"):
        load_dataset("dft_3d")
