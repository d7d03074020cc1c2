"""The README's dataset table, generated from the registry ``data/datasets.json``.

python -m utils.readme      # prints the table; tests/test_notebooks.py checks README.md carries it
"""

from __future__ import annotations

from .data import registry


def dataset_table() -> str:
    """Markdown table: name, what it is, records, license, citation."""
    reg = registry()
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


if __name__ == "__main__":
    print(dataset_table())
