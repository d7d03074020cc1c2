"""Files generated from ``pyproject.toml``: the repository's GitHub home and each lesson's dependencies, written once.

    python tools/sync.py            # rewrite what is out of date
    python tools/sync.py --check    # exit 1 and name the files that are out of date (tests/test_install.py)
    python tools/sync.py --no-notebooks   # leave notebooks/ alone (while someone else edits them)

``pyproject.toml`` holds the GitHub home (``[project.urls] Repository``), the branch (``[tool.curriculum]``), the
dependencies of every lesson (``dependencies``, one extra per lesson) and which extra each notebook installs
(``[tool.curriculum.lessons]``). From them this writes ``requirements.txt`` (every lesson), the Colab and Binder
badges (README table, README Binder badge, each notebook's badge line), each notebook's Colab cell (its second cell) and
``CITATION.cff``'s ``repository-code``. A fork changes the Repository line, runs this, and commits the result.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
COLAB_SVG = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_SVG = "https://mybinder.org/badge_logo.svg"
# Never installed by a Colab cell: Colab's own kernel and server stack, and the test tools.
TOOLING = {"jupyterlab", "jupyter", "notebook", "ipykernel", "jupyter-client", "jupyter-server", "tornado"}
TOOLING |= {"papermill", "pytest", "nbval"}


def minutes(seconds: float, about: str = "") -> str:
    """A measured duration as a learner reads it: "under 1 min", "4 min" (``about`` before the number)."""
    return "under 1 min" if seconds < 60 else f"{about}{seconds / 60:.0f} min"


def config() -> dict:
    """pyproject.toml, parsed."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def home(cfg: dict | None = None) -> str:
    """``owner/name`` of the repository on GitHub, from ``[project.urls] Repository``."""
    url = (cfg or config())["project"]["urls"]["Repository"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise ValueError(f"[project.urls] Repository should be https://github.com/OWNER/NAME, found {url!r}")
    return match.group(1)


def branch(cfg: dict | None = None) -> str:
    return (cfg or config())["tool"]["curriculum"]["branch"]


def lessons(cfg: dict | None = None) -> dict[str, str]:
    """Notebook stem -> the extra of ``pyproject.toml`` its Colab cell installs."""
    return dict((cfg or config())["tool"]["curriculum"]["lessons"])


def requirement_name(line: str) -> str:
    return re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def lesson_requirements(extra: str, cfg: dict | None = None) -> list[str]:
    """What the Colab cell of a lesson installs: the common dependencies plus the lesson's extra."""
    cfg = cfg or config()
    return list(cfg["project"]["dependencies"]) + list(cfg["project"]["optional-dependencies"][extra])


def all_requirements(cfg: dict | None = None) -> list[str]:
    """Every lesson's requirements once, in pyproject order; one name must have one specifier everywhere."""
    cfg = cfg or config()
    seen: dict[str, str] = {}
    for line in cfg["project"]["dependencies"] + [
        r for extra in cfg["project"]["optional-dependencies"].values() for r in extra
    ]:
        name = requirement_name(line)
        if seen.setdefault(name, line) != line:
            raise ValueError(f"pyproject.toml gives {name} two specifiers: {seen[name]!r} and {line!r}")
    return list(seen.values())


def requirements_txt(cfg: dict | None = None) -> str:
    lines = [
        "# Generated from pyproject.toml by `python tools/sync.py`: edit pyproject.toml, not this file.",
        "# What the notebooks import, every lesson. Install torch first, matching your machine (see README);",
        "# the notebook server and test tools are in requirements-dev.txt. No DGL: alignn's pure-torch model is used.",
        *all_requirements(cfg),
    ]
    return "\n".join(lines) + "\n"


def colab_url(stem: str, cfg: dict | None = None) -> str:
    cfg = cfg or config()
    return f"https://colab.research.google.com/github/{home(cfg)}/blob/{branch(cfg)}/notebooks/{stem}.ipynb"


def binder_url(stem: str | None = None, cfg: dict | None = None) -> str:
    cfg = cfg or config()
    path = f"notebooks/{stem}.ipynb" if stem else "notebooks"
    return f"https://mybinder.org/v2/gh/{home(cfg)}/{branch(cfg)}?urlpath=lab/tree/{path}"


def colab_badge(stem: str, cfg: dict | None = None) -> str:
    return f"[![Open In Colab]({COLAB_SVG})]({colab_url(stem, cfg)})"


def binder_badge(stem: str | None = None, cfg: dict | None = None) -> str:
    return f"[![Launch Binder]({BINDER_SVG})]({binder_url(stem, cfg)})"


NOTEBOOK_GLOB = "[0-9][0-9]*_*.ipynb"  # 02_slug.ipynb, or a part: 02a_slug.ipynb
BENCHMARK = ROOT / "docs" / "workshop_benchmark.json"


def notebook_paths() -> list[Path]:
    """The lessons' notebooks in teaching order (``NN_slug`` or parts ``NNa_slug``, ``NNb_slug``)."""
    return sorted(p for p in (ROOT / "notebooks").glob(NOTEBOOK_GLOB) if re.match(r"\d\d[a-z]?_", p.name))


def workshop_run(stem: str) -> dict:
    """The measured workshop run of a notebook (``make workshop-bench``), {} when not measured yet."""
    try:
        bench = json.loads(BENCHMARK.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return bench.get("lessons", {}).get(stem, {})


def mode_sentence(stem: str) -> str:
    """How long the workshop run takes (measured), where Binder runs which mode, and how to switch."""
    run = workshop_run(stem)
    if run:
        binder = "Binder too" if run["peak_gb"] <= 2 else "Binder runs fast mode: 2 GB is too little"
        measured = f"{minutes(run['seconds'], 'about ')} and {run['peak_gb']:.1f} GB on 2 CPU cores ({binder})"
    else:
        measured = "run time not measured yet"
    return (
        f"**Mode:** workshop (the default), {measured}. For a quick check run `%env AIMS_MODE=fast`, for the "
        "paper-scale run `%env AIMS_MODE=full`, in a cell above the setup cell (Colab too)."
    )


def badge_line(stem: str, cfg: dict | None = None) -> str:
    """The first line of a notebook's badge paragraph (cell 1): badges, then the mode sentence."""
    return f"{colab_badge(stem, cfg)} {binder_badge(stem, cfg)} · {mode_sentence(stem)}"


def colab_cell(stem: str, cfg: dict | None = None) -> str:
    """Source of a notebook's Colab cell: the same in every notebook but for the extra it installs."""
    cfg = cfg or config()
    extra = lessons(cfg)[stem]
    name = home(cfg).split("/")[1]
    return (
        "# Colab only: fetch the curriculum (utils/, data/) and install this lesson's extra\n"
        "# of pyproject.toml; Colab's torch, numpy and Jupyter stay as they are.\n"
        "# Generated by `python tools/sync.py`.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import os\n"
        "    import pathlib\n"
        "    import urllib.request\n"
        "    import zipfile\n"
        "\n"
        f'    root = pathlib.Path.home() / "{name}-{branch(cfg)}"\n'
        "    if not root.exists():\n"
        f'        archive = ("https://github.com/{home(cfg)}"\n'
        f'                   "/archive/refs/heads/{branch(cfg)}.zip")\n'
        '        urllib.request.urlretrieve(archive, "curriculum.zip")\n'
        '        zipfile.ZipFile("curriculum.zip").extractall(pathlib.Path.home())\n'
        '    os.chdir(root / "notebooks")\n'
        f'    !pip install -q "..[{extra}]"'
    )


COLAB_LINK = re.compile(
    r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/github/[^)]*/notebooks/([\w-]+)\.ipynb\)"
)
BINDER_LINK = re.compile(r"\[!\[Launch Binder\]\([^)]*\)\]\(https://mybinder\.org/v2/gh/[^)]*\)")


DATASET_TABLE = re.compile(r"^\| dataset \| what it is \|.*?\n(?=[^|])", re.S | re.M)


def dataset_table() -> str:
    """README's dataset table (name, what it is, records, license, citation) from ``data/datasets.json``."""
    reg = json.loads((ROOT / "data" / "datasets.json").read_text(encoding="utf-8"))
    lines = ["| dataset | what it is | records | license | cite |", "|---|---|---|---|---|"]
    for name, entry in reg["datasets"].items():
        lines.append(f"| `{name}` | {entry['title']} | {entry['records']} | {entry['license']} | {entry['citation']} |")
    for pattern, family in reg["families"].items():
        parent = reg["datasets"][family["parent"]]
        elements = ", ".join(family["elements"])
        lines.append(
            f"| `{pattern}` | {family['title']} ({elements}) | subset of `{family['parent']}` "
            f"| {parent['license']} | {parent['citation']} |"
        )
    return "\n".join(lines)


LESSON_TABLE = re.compile(r"(<!-- lessons: generated by tools/sync.py -->\n).*?(?=<!-- /lessons -->)", re.S)


def _first_cell(path: Path) -> str:
    return "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])


def lesson_row(path: Path, cfg: dict) -> str:
    """One README row: part, title (linked), Colab badge, GPU need, minutes of work, measured workshop run."""
    head = _first_cell(path)
    title = head.splitlines()[0].split("·", 1)[-1].strip()
    gpu = re.search(r"\*\*GPU:\*\*\s*([^·\n]+)", head)
    work = re.search(r"about (\d+) min(?:utes)? of work", head)
    run = workshop_run(path.stem)
    measured = f"{minutes(run['seconds'])}, {run['peak_gb']:.1f} GB" if run else "not measured yet"
    return (f"| {path.name.split('_')[0]} | [{title}](notebooks/{path.name}) | {colab_badge(path.stem, cfg)} | "
            f"{gpu.group(1).strip() if gpu else 'see the lesson'} | {work.group(1) + ' min' if work else ''} | "
            f"{measured} |")


def lesson_table(cfg: dict | None = None) -> str:
    """README's lesson table, from the notebooks' first cells and the measured workshop runs."""
    cfg = cfg or config()
    lines = ["| part | lesson | Colab | GPU | work | workshop run (2 CPU cores) |", "|---|---|---|---|---|---|"]
    return "\n".join(lines + [lesson_row(p, cfg) for p in notebook_paths()]) + "\n"


def synced_readme(text: str, cfg: dict) -> str:
    text = COLAB_LINK.sub(lambda m: colab_badge(m.group(1), cfg), text)
    text = LESSON_TABLE.sub(lambda m: m.group(1) + lesson_table(cfg), text)
    return BINDER_LINK.sub(binder_badge(None, cfg), text)  # the README's Binder badge opens notebooks/


def synced_data_doc(text: str, cfg: dict) -> str:
    return DATASET_TABLE.sub(lambda m: dataset_table() + "\n", text)


def synced_citation(text: str, cfg: dict) -> str:
    return re.sub(r'(?m)^repository-code: ".*"$', f'repository-code: "https://github.com/{home(cfg)}"', text)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def synced_notebook(text: str, stem: str, cfg: dict) -> str:
    nb = json.loads(text)
    first, colab = nb["cells"][0], nb["cells"][1]
    lines = _lines("".join(first["source"]))
    for i, line in enumerate(lines):
        if line.startswith("[![Open In Colab]"):
            lines[i] = badge_line(stem, cfg) + ("\n" if line.endswith("\n") else "")
    first["source"] = lines
    colab["source"] = _lines(colab_cell(stem, cfg))
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def generated(cfg: dict | None = None) -> dict[Path, str]:
    """Every generated file -> its content as generated now from pyproject.toml and the current file."""
    cfg = cfg or config()
    out = {ROOT / "requirements.txt": requirements_txt(cfg)}
    documents = (("README.md", synced_readme), ("docs/DATA.md", synced_data_doc), ("CITATION.cff", synced_citation))
    for name, fn in documents:
        out[ROOT / name] = fn((ROOT / name).read_text(encoding="utf-8"), cfg)
    notebooks = notebook_paths()
    missing = sorted({p.stem for p in notebooks} ^ set(lessons(cfg)))
    if missing:
        raise ValueError(f"[tool.curriculum.lessons] of pyproject.toml and notebooks/ differ on: {', '.join(missing)}")
    for path in notebooks:
        out[path] = synced_notebook(path.read_text(encoding="utf-8"), path.stem, cfg)
    return out


def out_of_date(cfg: dict | None = None) -> list[Path]:
    return [p for p, text in generated(cfg).items() if not p.exists() or p.read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    stale = out_of_date()
    if "--check" in argv:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run: python tools/sync.py)")
        return 1 if stale else 0
    for path, text in generated().items():
        if path in stale and not ("--no-notebooks" in argv and path.suffix == ".ipynb"):
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
