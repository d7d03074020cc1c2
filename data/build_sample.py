"""Build the workshop sample in data/sample from the real datasets: the command that made the shipped files.

    AIMS_DATA_DIR=/path/to/folder python data/build_sample.py   # from a folder in the AIMS_DATA_DIR layout
    python data/build_sample.py                                  # online: jarvis-tools figshare + jarvis_leaderboard

What it keeps (plain jarvis-tools records, no key starting with ``_``):

* dft_3d: the structures the lessons name (``NAMED_JIDS``), the CHIPS-FF materials, every record with a
  ``Tc_supercon`` value, then a seeded random fill up to ``--max-records``, in the dataset's order;
* dft_2d: up to ``--max-2d`` records (seeded);
* mlearn_<Element> for ``--mlearn`` (every configuration);
* jarvis_leaderboard/: the split files of every dft_3d property the sample has values for, filtered to the
  sample's ids (same parts and values); the CHIPS-FF, experimental and mlearn files whole.

Files are deterministic zips (fixed timestamps), so a rebuild from the same data gives the same bytes;
``manifest.json`` lists each file with its records and sha256. Keep the sample under 5 MB.

    AIMS_DATA_DIR=/path/to/folder python data/build_sample.py --property-counts   # whole benchmark files

writes instead, into ``data/datasets.json`` (``dft_3d.property_counts``), how many materials each dft_3d
property's JARVIS-Leaderboard benchmark holds (train + val + test of the whole file, the dft_3d 2021 release):
the count of the whole database that lesson 01 prints beside the count in the loaded data.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import random
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["AIMS_FAST"] = "0"  # never read the sample while building it
os.environ.pop("AIMS_MAX_RECORDS", None)

from utils import chipsff_reference, data, leaderboard  # noqa: E402
from utils.files import iter_records  # noqa: E402
from utils.properties import DFT_3D_PROPERTIES  # noqa: E402

NAMED_JIDS = ["JVASP-1002", "JVASP-39", "JVASP-816", "JVASP-19679", "JVASP-1014", "JVASP-1151", "JVASP-934"]
WHOLE_FILES = [f"AI/SinglePropertyPrediction/dft_3d_chipsff_{p}.json.zip" for p in chipsff_reference.CHIPSFF_TABLES] + [
    f"ES/SinglePropertyPrediction/{stem}.json.zip" for stem in chipsff_reference.CHIPSFF_EXPERIMENTS.values()
]
STAMP = (2025, 1, 1, 0, 0, 0)
COUNTED = [*DFT_3D_PROPERTIES, "encut", "kpoint_length_unit"]  # properties whose benchmark size is recorded


def zipped_json(obj, member: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        info = zipfile.ZipInfo(member, date_time=STAMP)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, json.dumps(obj, separators=(",", ":")), compresslevel=9)
    return buffer.getvalue()


def plain(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def select_dft_3d(max_records: int, seed: int, chipsff_jids: set[str]) -> list[dict]:
    records = [plain(r) for r in iter_records(data.dataset_path("dft_3d"), ["jid", "atoms"])]
    wanted = set(NAMED_JIDS) | chipsff_jids
    keep = {k for k, r in enumerate(records) if r["jid"] in wanted or not data.is_missing(r.get("Tc_supercon"))}
    rest = [k for k in range(len(records)) if k not in keep]
    fill = max(0, max_records - len(keep))
    keep |= set(random.Random(seed).sample(rest, min(fill, len(rest))))
    return [r for k, r in enumerate(records) if k in keep]


def build(out: Path, max_records: int, max_2d: int, mlearn: list[str], seed: int, note: str = "") -> dict:
    files: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    kv, _ = leaderboard.benchmark_table(WHOLE_FILES[chipsff_reference.CHIPSFF_TABLES.index("kv")])
    chipsff_jids = {jid for part in kv.values() for jid in part} if kv else set()
    dft_3d = select_dft_3d(max_records, seed, chipsff_jids)
    files["dft_3d.json.zip"], counts["dft_3d.json.zip"] = zipped_json(dft_3d, "dft_3d.json"), len(dft_3d)
    dft_2d = [plain(r) for r in iter_records(data.dataset_path("dft_2d"), ["jid", "atoms"])]
    if len(dft_2d) > max_2d:
        dft_2d = random.Random(seed).sample(dft_2d, max_2d)
    files["dft_2d.json.zip"], counts["dft_2d.json.zip"] = zipped_json(dft_2d, "dft_2d.json"), len(dft_2d)
    for element in mlearn:
        configs = [plain(r) for r in data.load_dataset(f"mlearn_{element}", verbose=False)]
        name = f"mlearn_{element}.json.zip"
        files[name], counts[name] = zipped_json(configs, f"mlearn_{element}.json"), len(configs)
    ids = {str(r["jid"]) for r in dft_3d}
    paths = [leaderboard.benchmark_path(dft_3d, p) for p in DFT_3D_PROPERTIES]
    for path in paths:
        table, _ = leaderboard.benchmark_table(path)
        if table is None:
            continue
        part = {k: {i: v for i, v in t.items() if i in ids} for k, t in table.items()}
        if part.get("train") and part.get("test"):
            files[f"jarvis_leaderboard/{path}"] = zipped_json(part, Path(path).name.removesuffix(".zip"))
            counts[f"jarvis_leaderboard/{path}"] = sum(len(t) for t in part.values())
    whole = WHOLE_FILES + [f"AI/MLFF/mlearn_{el}_energy.json.zip" for el in mlearn]
    for path in whole:
        table, origin = leaderboard.benchmark_table(path)
        if table is None:
            raise SystemExit(f"missing leaderboard file {path}: {origin}")
        files[f"jarvis_leaderboard/{path}"] = zipped_json(table, Path(path).name.removesuffix(".zip"))
        counts[f"jarvis_leaderboard/{path}"] = sum(len(t) for t in table.values())
    for old in list(out.rglob("*.json.zip")):
        old.unlink()
    for rel, payload in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(payload)
    manifest = {
        "built": datetime.date.today().isoformat(),
        "command": "python data/build_sample.py " + " ".join(sys.argv[1:]),
        "source": data.data_source() if not note else f"{note} (read as {data.data_source()})",
        "leaderboard_commit": data.registry()["leaderboard"]["commit"],
        "files": {
            rel: {"records": counts[rel], "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
            for rel, b in sorted(files.items())
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def property_counts() -> dict:
    """Entries of each dft_3d property's whole leaderboard benchmark (the data folder's or the pinned download)."""
    counts = {}
    for prop in COUNTED:
        path = leaderboard.benchmark_path([], prop)
        table, origin = leaderboard.benchmark_table(path) if path else (None, "no benchmark")
        if table is not None:
            counts[prop] = sum(len(part) for part in table.values())
    if counts.get("formation_energy_peratom", 0) < 50000:
        raise SystemExit(f"these benchmark files are not whole ({counts}): read them online or from a full folder")
    commit = data.registry()["leaderboard"]["commit"]
    return {
        "property_counts": counts,
        "property_counts_source": f"entries (train + val + test) of jarvis_leaderboard@{commit[:7]} "
        "benchmarks/AI/SinglePropertyPrediction/dft_3d_<property>.json.zip, the dft_3d 2021 release; "
        "written by python data/build_sample.py --property-counts",
    }


def write_property_counts() -> None:
    reg = json.loads(data.REGISTRY_PATH.read_text())
    reg["datasets"]["dft_3d"].update(property_counts())
    data.REGISTRY_PATH.write_text(json.dumps(reg, indent=2, ensure_ascii=False) + "\n")
    print(f"{data.REGISTRY_PATH}: dft_3d property_counts of {len(reg['datasets']['dft_3d']['property_counts'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--max-records", type=int, default=1200, help="dft_3d records at most (named ones first)")
    parser.add_argument("--max-2d", type=int, default=50)
    parser.add_argument("--mlearn", default="Cu,Li,Ni,Si", help="mlearn elements to ship")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--note", default="", help="where the AIMS_DATA_DIR folder came from (kept in the manifest)")
    parser.add_argument("--property-counts", action="store_true",
                        help="write the whole benchmarks' sizes into data/datasets.json instead of building")
    args = parser.parse_args()
    if args.property_counts:
        write_property_counts()
        raise SystemExit(0)
    if data.data_folder() is not None and data.data_folder().resolve() == args.out.resolve():
        raise SystemExit("AIMS_DATA_DIR points at the sample itself: build it from the real data.")
    args.out.mkdir(parents=True, exist_ok=True)
    result = build(args.out, args.max_records, args.max_2d, args.mlearn.split(","), args.seed, args.note)
    total = sum(f["bytes"] for f in result["files"].values())
    print(f"{args.out}: {len(result['files'])} files, {total / 1e6:.2f} MB, from {result['source']}")
