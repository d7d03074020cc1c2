"""mkdocs hooks of the course site (mkdocs.yml ``hooks:``), applied to each lesson page that mkdocs-jupyter renders.

- Exercise solutions (cells the build tagged ``solution``, from their ``jupyter.source_hidden`` metadata) are folded
  into ``<details class="solution">``: the code and its outputs show on a click.
- The Colab and Binder badge images point to copies in ``assets/`` (the links still go to Colab and Binder), so a page
  loads nothing from another site.
- The table of contents points at the headings' real ids (section badges are part of them).
- Links between lessons (``02a_descriptors_regression.ipynb``) point to the lesson pages; other relative links in a
  lesson (``../docs/TEACHING.md``) point to the file on GitHub.
"""

from __future__ import annotations

import posixpath
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bs4 import BeautifulSoup

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import sync  # noqa: E402

BADGES = {sync.COLAB_SVG: "assets/colab-badge.svg", sync.BINDER_SVG: "assets/binder-badge.svg"}


def fold_solutions(soup: BeautifulSoup) -> int:
    cells = [c for c in soup.select("div.celltag_solution") if not c.find_parent("div", class_="celltag_solution")]
    for cell in cells:
        details = soup.new_tag("details", attrs={"class": "solution"})
        summary = soup.new_tag("summary")
        summary.string = "Solution (click to show the code and its output)"
        cell.wrap(details)
        details.insert(0, summary)
    return len(cells)


def rewrite_links(soup: BeautifulSoup, page_names: set[str], cfg: dict) -> None:
    blob = f"https://github.com/{sync.home(cfg)}/blob/{sync.branch(cfg)}/"
    for img in soup.find_all("img", src=True):
        img["src"] = BADGES.get(img["src"], img["src"])
    for a in soup.find_all("a", href=True):
        parts = urlsplit(a["href"])
        if parts.scheme or parts.netloc or not parts.path:
            continue
        name = Path(parts.path).name
        if name.endswith(".ipynb") and name.removesuffix(".ipynb") in page_names:
            a["href"] = name.removesuffix(".ipynb") + ".html" + (f"#{parts.fragment}" if parts.fragment else "")
        else:  # a file of the repository, relative to notebooks/
            a["href"] = blob + posixpath.normpath(posixpath.join("notebooks", parts.path))


def match_toc(toc, ids: list[str]) -> None:
    """Point the page's table of contents at the headings' real ids. The table derives its ids from the heading text
    without inline code (a section badge such as `core`, or `nn` in a title), the page from the whole heading: an
    entry takes the first heading id whose words contain the entry's words in order."""

    def words_within(short: str, long: str) -> bool:
        rest = iter(long.split("-"))
        return all(word in rest for word in short.split("-"))

    for item in toc:
        if item.id not in ids:
            item.id = next((i for i in ids if words_within(item.id, i)), item.id)
        match_toc(item.children, ids)


def on_page_content(html: str, page, config, files) -> str:
    if not page.file.src_path.endswith(".ipynb"):
        return html
    soup = BeautifulSoup(html, "html.parser")
    match_toc(page.toc or [], [h["id"] for h in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6"], id=True)])
    fold_solutions(soup)
    names = {Path(f.src_path).stem for f in files if f.src_path.endswith(".ipynb")}
    rewrite_links(soup, names, sync.config())
    return str(soup)
