"""alignn's published ALIGNN models (registry ``alignn.pretrained.ALIGNN2_MODELS``): downloaded once into the
data cache, unpacked, and loaded with ``weights_only=True`` (a file with more than weights is refused)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from .files import DatasetError, looks_like_html
from .gnn import GNNConfig, GNNError, read_weights

# the files of a published model's zip; the first two are needed to load it
PUBLISHED_FILES = ("config.json", "best_model.pt", "ids_train_val_test.json")


def _unpack(archive: Path, folder: Path) -> str:
    """Unpack alignn's model files from ``archive`` into ``folder``: '' when done, else why not."""
    if not zipfile.is_zipfile(archive):
        what = "an HTML page" if looks_like_html(archive) else "not a zip archive"
        return f"the answer was {what} ({archive.stat().st_size} bytes)"
    with zipfile.ZipFile(archive) as zf:
        members = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
        if missing := [f for f in PUBLISHED_FILES[:2] if f not in members]:
            return f"the archive lacks {' and '.join(missing)} (it holds {', '.join(sorted(members)) or 'nothing'})"
        folder.mkdir(parents=True, exist_ok=True)
        for name in set(PUBLISHED_FILES) & set(members):
            (folder / name).write_bytes(zf.read(members[name]))
    return ""


def published_model(name: str) -> tuple[Path | None, str]:
    """``(folder, line)``: alignn's published ALIGNN 2.0 model ``name`` (``PUBLISHED_FILES``), downloaded once from
    its figshare URL into the data cache. Offline, or when the download or the archive fails, the folder is None
    and ``line`` says what would have been downloaded and why not."""
    from alignn.pretrained import ALIGNN2_MODELS

    from .data import cache_dir
    from .files import download, reachable
    if name not in ALIGNN2_MODELS:
        raise GNNError(f"alignn's registry has no model {name!r}; see alignn.pretrained.list_alignn2_models().")
    url, folder = ALIGNN2_MODELS[name]["url"], cache_dir() / "alignn2_models" / name
    if all((folder / f).exists() for f in PUBLISHED_FILES[:2]):
        return folder, f"Published ALIGNN model {name}: cached in {folder}"
    online, why = reachable(url, 5.0)
    why = "" if online else f"no network ({why})"
    archive = folder.parent / f"{name}.zip"
    try:
        if online:
            download(url, archive, validate=lambda path: None, label=name)
            why = _unpack(archive, folder)
    except DatasetError as exc:  # data.download's error: the HTTP status, or the network error as its cause
        status, cause = getattr(exc, "status", None), exc.__cause__
        why = f"HTTP {status}" if status else f"the download failed ({type(cause).__name__}: {cause})"
        why += " (figshare serves a file only once its article is public)" if status == 403 else ""
    finally:
        archive.unlink(missing_ok=True)
    if why:
        return None, f"Published ALIGNN model {name} ({url}) not downloaded: {why}. The lesson goes on without it."
    return folder, f"Published ALIGNN model {name}: downloaded from {url} to {folder}"


def alignn_model(config: dict[str, Any], weights: Path, device: str = "cpu"):
    """alignn's ``ALIGNNAtomWisePure`` of an alignn ``config`` (its ``"model"`` section) in eval mode, with the
    weights of ``weights`` read with ``weights_only=True`` (GNNError when the file holds more)."""
    from alignn.models.alignn_atomwise_pure import ALIGNNAtomWisePure, ALIGNNAtomWisePureConfig
    name = config["model"].get("name", "alignn_atomwise_pure")
    if name != "alignn_atomwise_pure":
        raise GNNError(f"{weights}: its config names the model {name!r}; only 'alignn_atomwise_pure' loads here.")
    model = ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**config["model"]))
    model.load_state_dict(read_weights(Path(weights), device))
    return model.to(device).eval()


def load_published(folder: Path, device: str = "cpu"):
    """``(model, cfg)`` of a :func:`published_model` folder: the model in eval mode, ``cfg`` the graph settings
    (cutoff, neighbours, three-body cutoff) of its ``config.json``."""
    config = json.loads((Path(folder) / "config.json").read_text())
    if config.get("atom_features", "cgcnn") != "cgcnn":
        raise GNNError(f"{folder}: atom features {config['atom_features']!r}; this lesson builds cgcnn graphs.")
    model = alignn_model(config, Path(folder) / "best_model.pt", device)
    cfg = GNNConfig(cutoff=float(config.get("cutoff", 8.0)), max_neighbors=config.get("max_neighbors", 12))
    cfg.three_body_cutoff = config.get("three_body_cutoff", 3.5) or cfg.cutoff  # alignn: None means the cutoff
    return model, cfg
