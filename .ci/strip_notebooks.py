"""Strip notebook outputs for git, keeping only the cells nbval checks.

    python .ci/strip_notebooks.py notebooks/*.ipynb       # rewrite in place
    python .ci/strip_notebooks.py --check notebooks/*.ipynb   # exit 1 if a file would change

A code cell tagged ``nbval-check-output`` keeps its outputs and execution count (nbval
compares them; a reference output without a count fails as "Unrun reference cell has outputs"). Every
other cell loses outputs and count; notebook metadata keeps only kernelspec and language_info.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CHECK_TAG = "nbval-check-output"


def stripped(nb: dict) -> dict:
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] != "code":
            continue
        if CHECK_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cell["outputs"] = []
        cell["execution_count"] = None
    nb["metadata"] = {k: v for k, v in nb.get("metadata", {}).items() if k in ("kernelspec", "language_info")}
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for name in [a for a in argv if a != "--check"]:
        path = Path(name)
        before = path.read_text()
        after = json.dumps(stripped(json.loads(before)), indent=1, ensure_ascii=False) + "\n"
        if after != before:
            changed.append(name)
            if not check:
                path.write_text(after)
    if changed:
        print(("would strip: " if check else "stripped: ") + ", ".join(changed))
    return 1 if (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
