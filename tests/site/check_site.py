"""Browser check of the built course site (``make site-check``, after ``make site``): headless Chromium opens the home
page and every lesson page, served from ``_site/`` on localhost, and takes a full-page screenshot of each into
``_site/_screenshots/``. It fails on:

- a JavaScript error (an uncaught exception, or an error on the console) or a request to another host (the site
  must load nothing from the network: every request that leaves localhost is blocked and reported);
- a missing image (an ``<img>`` whose ``naturalWidth`` is 0), or fewer figures on a page than its executed
  notebook has image outputs;
- an unrendered equation: raw ``$...$``, ``\\(`` or ``\\[`` left in the text of a markdown cell, a MathJax error, or
  no rendered math on a page whose notebook has math;
- a lesson page without its Colab and Binder links, or whose exercise solutions are not all folded
  (a closed ``<details class="solution">`` per solution cell);
- a home page that does not link every lesson.

    python tests/site/check_site.py [--site _site] [--chromium /usr/bin/chromium]

Not collected by pytest (no ``test_`` prefix): it needs the built site and a browser.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import sync  # noqa: E402  (tools/sync.py: the lessons in teaching order)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\s][^$]*?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
# in the browser: every image (loaded or not), the figures of the outputs, math rendered or raw, tables, folds
PAGE_FACTS = """async () => {
  await Promise.all([...document.images].map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  const raw = [];
  for (const cell of document.querySelectorAll('.jp-RenderedMarkdown')) {
    const copy = cell.cloneNode(true);
    copy.querySelectorAll('code, pre, script, style, [class^="MathJax"], .MathJax_Preview').forEach(e => e.remove());
    const text = copy.textContent;
    const hit = text.match(/\\$[^$\\s][^$]*?\\$|\\\\\\(|\\\\\\[/);
    if (hit) raw.push(hit[0].slice(0, 80));
  }
  return {
    images: [...document.images].map(i => ({src: i.src.slice(0, 120), width: i.naturalWidth})),
    figures: document.querySelectorAll('.jp-OutputArea-output img').length,
    math: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_SVG, mjx-container').length,
    mathErrors: document.querySelectorAll('.MathJax_Error, merror, .merror').length,
    raw: raw,
    tables: document.querySelectorAll('.jp-OutputArea-output table, .md-typeset__table > table').length,
    folded: [...document.querySelectorAll('details.solution')].map(d => d.open),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  };
}"""
WAIT_MATH = "() => window.MathJax && MathJax.Hub ? new Promise(r => MathJax.Hub.Queue(r)).then(() => true) : false"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(site: Path):
    """``python -m http.server`` on 127.0.0.1, stopped at the end."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def expected(notebook: Path) -> dict:
    """What a lesson page must show, from its notebook (the executed copy when there is one)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    markdown = re.sub(r"```.*?```|`[^`\n]*`", "", markdown, flags=re.S)  # code is not math
    figures = sum(
        1 for c in nb["cells"] for o in c.get("outputs", []) if any(m.startswith("image/") for m in o.get("data", {}))
    )
    solutions = sum(1 for c in nb["cells"] if c.get("metadata", {}).get("jupyter", {}).get("source_hidden"))
    return {"math": bool(MATH.search(markdown)), "figures": figures, "solutions": solutions}


def check_page(page, url: str, shot: Path, want: dict | None, lessons: list[str]) -> tuple[list[str], str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"JavaScript exception: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and errors.append(f"console error: {msg.text[:200]}"))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
    page.goto(url, wait_until="load", timeout=60_000)
    has_mathjax = page.evaluate(WAIT_MATH)
    facts = page.evaluate(PAGE_FACTS)
    page.screenshot(path=str(shot), full_page=True)
    errors += [f"missing image: {i['src']}" for i in facts["images"] if i["width"] == 0]
    errors += [f"unrendered equation: {raw!r}" for raw in facts["raw"]]
    if facts["mathErrors"]:
        errors.append(f"{facts['mathErrors']} MathJax error(s)")
    if want is None:  # the home page: a link to every lesson
        errors += [f"home page: no link to {name}.html" for name in lessons if f"{name}.html" not in facts["links"]]
        summary = f"{len(facts['links'])} links, {facts['tables']} table(s)"
    else:
        if want["math"] and not (has_mathjax and facts["math"]):
            errors.append("the notebook has math, the page shows no rendered equation")
        if facts["figures"] < want["figures"]:
            errors.append(f"{facts['figures']} figures shown, the executed notebook has {want['figures']}")
        if not any("colab.research.google.com" in h for h in facts["links"]):
            errors.append("no Colab link")
        if not any("mybinder.org" in h for h in facts["links"]):
            errors.append("no Binder link")
        if len(facts["folded"]) != want["solutions"] or any(facts["folded"]):
            errors.append(f"{want['solutions']} solution cells, {len(facts['folded'])} folds: {facts['folded']}")
        summary = (
            f"{facts['figures']} figures, {facts['tables']} tables, {facts['math']} rendered equations, "
            f"{len(facts['folded'])} solutions folded"
        )
    return errors, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", type=Path, default=ROOT / "_site")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    site = args.site.resolve()
    shots = site / "_screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    lessons = [nb.stem for nb in sync.notebook_paths()]
    executed = ROOT / ".cache" / "site" / "docs"
    pages = [("index", None)] + [
        (
            name,
            expected(
                executed / f"{name}.ipynb"
                if (executed / f"{name}.ipynb").exists()
                else ROOT / "notebooks" / f"{name}.ipynb"
            ),
        )
        for name in lessons
    ]
    failures = 0
    with (
        serve(site) as base,
        tempfile.TemporaryDirectory(prefix="site_check_chromium_") as profile,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=args.chromium, args=FLAGS, viewport={"width": 1280, "height": 900}
        )
        outside: list[str] = []

        def route(r):
            if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        browser.route("**/*", route)
        for name, want in pages:
            if not (site / f"{name}.html").exists():
                print(f"FAIL {name}.html: no such page in {site}")
                failures += 1
                continue
            page = browser.new_page()
            shot = shots / f"{name}.png"
            outside.clear()
            errors, summary = check_page(page, f"{base}{name}.html", shot, want, lessons)
            errors += [f"request to another host (blocked): {u}" for u in outside]
            page.close()
            rel = shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot
            print(f"{'FAIL' if errors else 'ok  '} {name}.html: {summary}; screenshot {rel}")
            for e in errors:
                print(f"     {e}")
            failures += bool(errors)
        browser.close()
    print(f"site check: {len(pages) - failures} pages passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
