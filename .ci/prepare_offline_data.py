"""Lay out a data folder in the AIMS_DATA_DIR layout from the offline JARVIS data folder (../shared/data).

    python .ci/prepare_offline_data.py ../shared/data /tmp/aims_data                  # every record
    python .ci/prepare_offline_data.py ../shared/data /tmp/other --fraction 0.5 --seed 7  # a random half
    python .ci/prepare_offline_data.py ../shared/data /tmp/hard --fraction 0.4 --seed 3 --adversarial

Writes plain jarvis-tools records (every key starting with ``_`` removed: real data has none):
``dft_3d.json`` and ``dft_2d.json`` (with ``--fraction``, a seeded random part of the dft_3d records),
``mlearn_<Element>.json`` (ALIGNN's id_prop.json copies), and the leaderboard benchmark files under
``jarvis_leaderboard/<path below benchmarks/>`` (AI/SinglePropertyPrediction, AI/MLFF, AI/AtomGen,
ES/SinglePropertyPrediction). It only lays out files: no split, no join, nothing computed.

``--adversarial`` makes the data a lesson must not depend on scarce: no JVASP-1002 (silicon), only two of the
CHIPS-FF materials, and a superconductor T_c leaderboard split whose test part keeps a single record with a value
(the others' ``Tc_supercon`` become ``"na"``, as for materials never computed).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import zipfile
from pathlib import Path

LEADERBOARD_LAYOUT = {  # folder in ../shared/data/jarvis_leaderboard -> path below benchmarks/
    "SinglePropertyPrediction": "AI/SinglePropertyPrediction",
    "MLFF": "AI/MLFF",
    "AtomGen": "AI/AtomGen",
    "ES_SinglePropertyPrediction": "ES/SinglePropertyPrediction",
}


def plain(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in rec.items() if not k.startswith("_")} for rec in records]


def benchmark(source: Path, folder: str, name: str) -> dict[str, dict]:
    with zipfile.ZipFile(source / "jarvis_leaderboard" / folder / name) as zf:
        return json.load(io.TextIOWrapper(zf.open(zf.namelist()[0]), encoding="utf-8"))


def make_scarce(dft_3d: list[dict], source: Path) -> list[dict]:
    """Drop silicon and all but two CHIPS-FF materials; keep one T_c value in the T_c test split."""
    chipsff = sorted({jid for part in benchmark(source, "SinglePropertyPrediction", "dft_3d_chipsff_kv.json.zip")
                      .values() for jid in part})
    present = [jid for jid in chipsff if any(rec["jid"] == jid for rec in dft_3d) and jid != "JVASP-1002"]
    dropped = {"JVASP-1002", *present[2:]}
    dft_3d = [rec for rec in dft_3d if rec["jid"] not in dropped]
    tc_test = set(benchmark(source, "SinglePropertyPrediction", "dft_3d_Tc_supercon.json.zip")["test"])
    with_tc = [rec for rec in dft_3d if rec["jid"] in tc_test and rec.get("Tc_supercon") not in (None, "na")]
    for rec in with_tc[1:]:
        rec["Tc_supercon"] = "na"
    print(f"adversarial: dropped {sorted(dropped & set(chipsff) | {'JVASP-1002'})}; kept CHIPS-FF {present[:2]}; "
          f"T_c test records with a value: {min(len(with_tc), 1)} of {len(with_tc)}")
    return dft_3d


def main(source: Path, dest: Path, fraction: float, seed: int, adversarial: bool = False) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    dft_3d = plain(json.loads((source / "jarvis_dft_3d_subset.json").read_text()))
    if fraction < 1:
        keep = set(random.Random(seed).sample(range(len(dft_3d)), round(fraction * len(dft_3d))))
        dft_3d = [rec for k, rec in enumerate(dft_3d) if k in keep]
    if adversarial:
        dft_3d = make_scarce(dft_3d, source)
    (dest / "dft_3d.json").write_text(json.dumps(dft_3d))
    dft_2d = plain(json.loads((source / "jarvis_dft_2d_subset.json").read_text()))
    (dest / "dft_2d.json").write_text(json.dumps(dft_2d))
    for folder in sorted((source / "alignn" / "sample_data_ff" / "mlearn_data").iterdir()):
        if (folder / "id_prop.json").is_file():
            shutil.copyfile(folder / "id_prop.json", dest / f"mlearn_{folder.name}.json")
    for local, path in LEADERBOARD_LAYOUT.items():
        target = dest / "jarvis_leaderboard" / path
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted((source / "jarvis_leaderboard" / local).glob("*.json.zip")):
            shutil.copyfile(file, target / file.name)
    print(
        f"{dest}: dft_3d {len(dft_3d)} records, dft_2d {len(dft_2d)}, "
        f"{len(list(dest.glob('mlearn_*.json')))} mlearn sets, "
        f"{len(list((dest / 'jarvis_leaderboard').rglob('*.json.zip')))} leaderboard files"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--fraction", type=float, default=1.0, help="keep this part of the dft_3d records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adversarial", action="store_true", help="no silicon, two CHIPS-FF materials, 1 T_c test")
    args = parser.parse_args()
    main(args.source, args.dest, args.fraction, args.seed, args.adversarial)
