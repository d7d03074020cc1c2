"""Collect the results cards of a class into one table.

    python tools/collect_cards.py outputs/ ~/cards/alice ~/cards/bob > class.csv

Every ``results.json`` below the folders given (a lesson writes ``<outputs>/<lesson>/results.json``) becomes a row:
the folder it came from, lesson, mode, device, seconds and one column per metric. Written as CSV to standard output.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def rows(folders: list[Path]) -> list[dict]:
    found = []
    for folder in folders:
        for path in sorted(folder.expanduser().rglob("results.json")):
            try:
                card = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                print(f"skipped {path}: {exc}", file=sys.stderr)
                continue
            row = {"from": str(folder), **{k: card.get(k) for k in ("lesson", "mode", "device", "seconds")}}
            row.update(card.get("metrics", {}))
            found.append(row)
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    table = rows([Path(a) for a in argv])
    columns = list(dict.fromkeys(k for row in table for k in row))
    writer = csv.DictWriter(sys.stdout, fieldnames=columns)
    writer.writeheader()
    writer.writerows(table)
    print(f"{len(table)} cards", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
