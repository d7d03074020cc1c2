"""Build the course site into ``_site/`` (``make site``): every lesson executed in fast mode, rendered by mkdocs.

    python site_src/build.py                # execute notebooks/*.ipynb, write the home page, mkdocs build, check links
    python site_src/build.py --jobs 1       # one notebook at a time (default 2: most lessons use one CPU thread)
    python site_src/build.py --timeout 900  # seconds allowed to one notebook
    python site_src/build.py --render-only  # render the notebooks the last build executed again

1. Each notebook is executed once, top to bottom, by ``jupyter nbconvert --execute`` in ``notebooks/`` (fast mode on
   the shipped sample, offline, matplotlib's inline backend so that figures are kept), into ``.cache/site/docs/``.
   A cell that raises, or a notebook over its time limit, fails the build. Solution cells (metadata
   ``jupyter.source_hidden``) get the tag ``solution``, which ``site_src/hooks.py`` folds into a ``<details>``.
2. The home page ``index.md`` is written from README.md (title, introduction, "Start here" and the lesson table of
   parts, GPU needs and measured workshop runs) and pyproject.toml (the lessons and the address), so neither can drift.
3. ``mkdocs build --strict`` (mkdocs.yml: Material theme, mkdocs-jupyter) renders the site: a warning fails the build.
   MathJax comes from the ``jupyter-server-mathjax`` package and is copied into the site: nothing loads from a CDN.
4. Every relative link and image of every page is checked (the file exists, and so does the ``#anchor``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import sync  # noqa: E402  (tools/sync.py: the repository's address, branch and lessons, from pyproject.toml)

BUILD = ROOT / ".cache" / "site"
DOCS = BUILD / "docs"
SITE = ROOT / "_site"
ASSETS = Path(__file__).resolve().parent / "assets"
RUNNING: set[subprocess.Popen] = set()  # the notebooks being executed, stopped if the build is
KERNEL_ENV = {
    "AIMS_MODE": "fast",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    # figures must reach the notebook's outputs: the inline backend, not Agg (which CI sets for the tests)
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "TQDM_DISABLE": "1",  # progress bars are noise on a static page
}


def execute(notebook: Path, timeout: int, threads: int) -> tuple[Path, float]:
    """Run one notebook top to bottom into DOCS; raise with the log's tail if a cell fails or time runs out.

    ``threads`` caps the kernel's BLAS and torch threads: two kernels with two threads each on two cores spin
    against each other (measured: 05 and 06 each past 6 CPU-minutes, against 45 s alone)."""
    out = DOCS / notebook.name
    env = {**os.environ, **KERNEL_ENV, "AIMS_OUTPUT_DIR": str(BUILD / "outputs")}
    env.update({var: str(threads) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    env.pop("AIMS_DATA_DIR", None)  # the site shows the shipped sample, whatever the shell says
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(notebook)]
    cmd += ["--output-dir", str(DOCS), f"--ExecutePreprocessor.timeout={timeout}", "--log-level=WARN"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=notebook.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    RUNNING.add(proc)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        proc.communicate()
        raise RuntimeError(f"{notebook.name}: not finished after {timeout} s (--timeout)") from None
    finally:
        RUNNING.discard(proc)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(log.decode(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"{notebook.name} failed (exit {proc.returncode}) after {seconds:.0f} s:\n{tail}")
    return out, seconds


def stop(proc: subprocess.Popen) -> None:
    """Kill nbconvert and its kernel (their own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_all(*signal_args) -> None:
    """At exit, on SIGTERM or Ctrl-C: stop every notebook still running (a kernel stops with its nbconvert)."""
    for proc in list(RUNNING):
        stop(proc)
    if signal_args:  # called as a signal handler
        sys.exit(128 + signal_args[0])


def prepare(executed: Path) -> None:
    """Tag the exercise solutions (folded by hooks.py) and drop widget state (its JavaScript would come from a CDN)."""
    nb = json.loads(executed.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
            tags = cell["metadata"].setdefault("tags", [])
            if "solution" not in tags:
                tags.append("solution")
    nb.get("metadata", {}).pop("widgets", None)
    executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def title_of(notebook: Path) -> str:
    """The first markdown heading of a notebook, without its number ("04 · ALIGNN ..." -> "ALIGNN ...")."""
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if match:
                return re.sub(r"^\d+\s*[·:.-]\s*", "", match.group(1)).strip()
    return notebook.stem


def readme_section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## )", text, re.M | re.S)
    if not match:
        raise ValueError(f"README.md has no '## {heading}' section")
    return match.group(1).strip()


def site_links(markdown: str, cfg: dict) -> str:
    """README links for the site: notebooks/X.ipynb -> the lesson page, other relative paths -> GitHub, local badges."""
    blob = f"https://github.com/{sync.home(cfg)}/blob/{sync.branch(cfg)}/"

    def link(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)
        if target.startswith("notebooks/") and target.endswith(".ipynb"):
            return f"{match.group(1)}({target.removeprefix('notebooks/')})"
        return f"{match.group(1)}({blob}{target})"

    markdown = re.sub(r"(\]\s?)\(([^)\s]+)\)", link, markdown)
    markdown = markdown.replace(sync.COLAB_SVG, "assets/colab-badge.svg").replace(
        sync.BINDER_SVG, "assets/binder-badge.svg"
    )
    return markdown


def home_page(notebooks: list[Path], seconds: dict[str, float], cfg: dict) -> str:
    """index.md in README's shape: title and introduction, "Start here", the lesson table with the seconds each part
    took in this build, and how to run the lessons."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    title = readme.splitlines()[0].lstrip("# ").strip()
    top = readme.split("\n## ", 1)[0].split("\n", 1)[1]
    intro = [p.strip() for p in top.split("\n\n") if p.strip() and not p.strip().startswith(("[![", "```"))]
    start_here = readme_section(readme, "Start here")
    section = readme_section(readme, "Lessons")
    table = [line for line in section.splitlines() if line.startswith("|")]
    notes = [p.strip() for p in section.split("\n\n") if p.strip() and not p.strip().startswith(("|", "<!--"))]
    rows = {re.match(r"\|\s*(\w+)\s*\|", line).group(1): line for line in table[2:]}
    lines = ["---", "title: Course outline", "---", "", f"# {title}", "", *[p + "\n" for p in intro]]
    lines += ["## Start here", "", start_here, "", "## Lessons", "", *[p + "\n" for p in notes]]
    lines += [table[0] + " this build |", table[1] + "---|"]
    for nb in notebooks:
        part, built = nb.name.split("_")[0], f"{seconds[nb.stem]:.0f} s" if nb.stem in seconds else "not run"
        link = f"[{title_of(nb)}](notebooks/{nb.name})"
        row = rows.get(part) or f"| {part} | {link} | {sync.colab_badge(nb.stem, cfg)} | | | |"
        lines.append(row + f" {built} |")
    lines += [
        "",
        "*this build*: the seconds this part took to execute, in fast mode on the shipped sample, when this site "
        f"was built ({time.strftime('%Y-%m-%d', time.gmtime())}, on the machine that built it). Each lesson page "
        "shows the outputs of that run; the exercise solutions are folded (click *Solution* to open one).",
        "",
        "## Run the lessons yourself",
        "",
        f"Open a part in Colab with its badge, or all of them on [Binder]({sync.binder_url(cfg=cfg)}), "
        f"or locally with `make lab`: the [README](https://github.com/{sync.home(cfg)}#readme) gives every way.",
        "",
    ]
    return site_links("\n".join(lines), cfg)


def copy_mathjax() -> None:
    """MathJax 2.7 (what nbconvert's template configures) from the jupyter-server-mathjax package, plus our config."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = DOCS / "assets" / "mathjax"
    shutil.copytree(source, target, dirs_exist_ok=True)
    (target / "config" / "local").mkdir(parents=True, exist_ok=True)
    shutil.copy(ASSETS / "mathjax-local.js", target / "config" / "local" / "aims.js")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") == "canonical"):
                self.refs.append(attrs[key])


def check_links(site: Path) -> list[str]:
    """Every relative href/src of every page: the file exists and, for page#anchor, the anchor does."""
    pages = {}
    for page in site.rglob("*.html"):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        pages[page.resolve()] = parser
    broken = []
    for page, parser in pages.items():
        for ref in parser.refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("data:", "javascript:", "mailto:")):
                continue
            base = site.resolve() if parts.path.startswith("/") else page.parent  # 404.html links from the root
            target = (base / unquote(parts.path).lstrip("/")).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site.resolve())}: {ref} (no such file)")
            elif parts.fragment and target in pages and unquote(parts.fragment) not in pages[target].ids:
                broken.append(f"{page.relative_to(site.resolve())}: {ref} (no such anchor)")
    return broken


def execute_all(notebooks: list[Path], jobs: int, timeout: int) -> dict[str, float] | None:
    """Execute every notebook into a fresh DOCS; the seconds each took, or None if one failed."""
    shutil.rmtree(DOCS, ignore_errors=True)
    DOCS.mkdir(parents=True)
    seconds, failures = {}, []

    def run(nb: Path) -> None:
        try:
            executed, seconds[nb.stem] = execute(nb, timeout, max(1, (os.cpu_count() or 1) // max(1, jobs)))
            prepare(executed)
            print(f"executed {nb.name} in {seconds[nb.stem]:.0f} s", flush=True)
        except RuntimeError as exc:
            failures.append(str(exc))
            print(f"FAILED {exc}", flush=True)

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(run, notebooks))
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    print(
        f"executed {len(seconds)} notebooks: {sum(seconds.values()):.0f} s in all, {cpu:.0f} CPU-seconds (kernels too)"
    )
    if failures:
        print(f"site: {len(failures)} lesson(s) failed to execute; no site built", file=sys.stderr)
        return None
    (BUILD / "seconds.json").write_text(json.dumps(seconds, indent=1) + "\n", encoding="utf-8")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed to one notebook (default 900)")
    parser.add_argument(
        "--render-only", action="store_true", help="render the notebooks the last build executed (no execution)"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    cfg = sync.config()
    notebooks = sync.notebook_paths()
    if args.render_only:
        seconds = json.loads((BUILD / "seconds.json").read_text(encoding="utf-8"))
        missing = [nb.name for nb in notebooks if not (DOCS / nb.name).exists()]
        if missing:
            print(f"site: --render-only, but the last build did not execute {missing}", file=sys.stderr)
            return 1
    else:
        seconds = execute_all(notebooks, args.jobs, args.timeout)
        if seconds is None:
            return 1
    (DOCS / "index.md").write_text(home_page(notebooks, seconds, cfg), encoding="utf-8")
    shutil.copytree(ASSETS, DOCS / "assets", dirs_exist_ok=True)
    copy_mathjax()
    shutil.rmtree(SITE, ignore_errors=True)
    mkdocs = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's banner about its successor, not a build warning
    )
    if mkdocs.returncode != 0:
        print("site: mkdocs build failed (a warning fails it: --strict)", file=sys.stderr)
        return 1
    broken = check_links(SITE)
    for line in broken:
        print(f"broken link: {line}", file=sys.stderr)
    if broken:
        return 1
    total = time.perf_counter() - start
    print(f"site: {len(notebooks)} lessons ({sum(seconds.values()):.0f} s of execution); _site/ built in {total:.0f} s")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    try:
        sys.exit(main())
    finally:
        stop_all()
