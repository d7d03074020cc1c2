"""Lay out an AIMS_DATA_DIR from the offline JARVIS data folder (../shared/data), outside the repo.

    python .ci/prepare_offline_data.py ../shared/data /tmp/aims_data

Writes dft_3d.json and dft_2d.json (links to the subsets) and mlearn_<Element>.json (ALIGNN-FF
id_prop.json records with the JARVIS-Leaderboard train/test split of each configuration added as
``_leaderboard_split = {"total_energy": "train" | "test"}``; configurations absent from the
leaderboard carry no split).
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path


def read_zipped_json(path: Path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(zf.namelist()[0]))


def main(source: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name, file in (("dft_3d", "jarvis_dft_3d_subset.json"), ("dft_2d", "jarvis_dft_2d_subset.json")):
        link = dest / f"{name}.json"
        link.unlink(missing_ok=True)
        link.symlink_to((source / file).resolve())
    for folder in sorted((source / "alignn" / "sample_data_ff" / "mlearn_data").iterdir()):
        element = folder.name
        split_file = source / "jarvis_leaderboard" / "MLFF" / f"mlearn_{element}_energy.json.zip"
        if not (folder / "id_prop.json").exists() or not split_file.exists():
            continue
        split = read_zipped_json(split_file)
        label = {key.split("-", 1)[1]: part for part, ids in split.items() for key in ids}
        records = json.loads((folder / "id_prop.json").read_text())
        for rec in records:
            if str(rec["jid"]) in label:
                rec["_leaderboard_split"] = {"total_energy": label[str(rec["jid"])]}
        (dest / f"mlearn_{element}.json").write_text(json.dumps(records))
    print(f"AIMS_DATA_DIR prepared in {dest}: {', '.join(sorted(p.name for p in dest.iterdir()))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
