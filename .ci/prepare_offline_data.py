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


# --- chipsff_reference (notebook 06, CHIPS-FF benchmark) -------------------------------------------
CHIPSFF_OFFLINE_JIDS = [
    "JVASP-1002",
    "JVASP-96",
    "JVASP-110",
    "JVASP-5224",
    "JVASP-816",
    "JVASP-1372",
    "JVASP-107",
    "JVASP-91",
    "JVASP-32",
    "JVASP-41",
    "JVASP-39",
]  # the CHIPS-FF materials whose exact OptB88vdW geometry is in ../shared/data (PROVENANCE.md)
CHIPSFF_PROPERTIES = ["a", "b", "c", "vol", "kv", "c11", "c44", "form_en"]
CHIPSFF_EXPERIMENT = {
    "bulk_modulus": "dft_3d_bulk_modulus",
    "cubic_a": "dft_3d_cubic_lattice_param_a",
    "bandgap": "dft_3d_bandgap",
}


def _poscar_atoms(text: str) -> dict:
    """A VASP POSCAR (direct coordinates, VASP 5 format) as a jarvis-tools atoms dict, stdlib only."""
    lines = [ln.split() for ln in text.strip().splitlines()]
    scale = float(lines[1][0])
    lattice = [[scale * float(x) for x in row[:3]] for row in lines[2:5]]
    species, counts = lines[5], [int(n) for n in lines[6]]
    if not lines[7][0].lower().startswith("d"):
        raise ValueError("only direct (fractional) POSCARs are supported here")
    coords = [[float(x) for x in row[:3]] for row in lines[8 : 8 + sum(counts)]]
    elements = [el for el, n in zip(species, counts) for _ in range(n)]
    return {"lattice_mat": lattice, "coords": coords, "elements": elements, "cartesian": False}


def prepare_chipsff_reference(source: Path, dest: Path) -> None:
    """Write chipsff_reference.json: one record per offline CHIPS-FF material with its exact JARVIS
    structure, the CHIPS-FF JARVIS-DFT references (leaderboard dft_3d_chipsff_*) and experiments."""
    board = source / "jarvis_leaderboard"

    def table(path: Path) -> dict:
        return {k: v for part in read_zipped_json(path).values() for k, v in part.items()}

    subset = {r["jid"]: r for r in json.loads((source / "jarvis_dft_3d_subset.json").read_text())}
    tables = {
        p: table(board / "SinglePropertyPrediction" / f"dft_3d_chipsff_{p}.json.zip")
        for p in CHIPSFF_PROPERTIES + ["surf_en", "vac_en"]
    }
    experiments = {
        k: table(board / "ES_SinglePropertyPrediction" / f"{f}.json.zip") for k, f in CHIPSFF_EXPERIMENT.items()
    }
    records = []
    for jid in CHIPSFF_OFFLINE_JIDS:
        rec = subset.get(jid)
        if rec is not None and str(rec.get("_structure_geometry", "")).startswith("OptB88vdW"):
            atoms, origin = rec["atoms"], rec.get("_structure_source", "jarvis_dft_3d_subset.json")
        else:
            poscar = source / "jarvis_tools_testfiles" / "core" / f"POSCAR-{jid}"
            atoms, origin = _poscar_atoms(poscar.read_text()), f"usnistgov/jarvis testfiles core/POSCAR-{jid}"
        reference = {p: tables[p][jid] for p in CHIPSFF_PROPERTIES if jid in tables[p]}
        reference["surf_en"] = {
            k.split("_miller_")[1]: v for k, v in tables["surf_en"].items() if k.startswith(f"Surface-{jid}_miller_")
        }
        reference["vac_en"] = {k.split("_", 1)[1]: v for k, v in tables["vac_en"].items() if k.startswith(f"{jid}_")}
        experiment = {k: t[jid] for k, t in experiments.items() if jid in t}
        records.append(
            {"jid": jid, "atoms": atoms, "reference": reference, "experiment": experiment, "_structure_source": origin}
        )
    (dest / "chipsff_reference.json").write_text(json.dumps(records))


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
    prepare_chipsff_reference(source, dest)
    print(f"AIMS_DATA_DIR prepared in {dest}: {', '.join(sorted(p.name for p in dest.iterdir()))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
