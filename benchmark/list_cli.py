"""`python -m benchmark list`: what is registered, read from the registries themselves."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what", nargs="?", choices=["methods", "datasets", "compression"], help="one table only"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables (the README's are these)")
    parser.add_argument("--write-readme", metavar="PATH", help="rewrite the registry block of this README")


def collect() -> dict[str, list[dict]]:
    """Rows of the three registries (imports only the light catalogues, not torch or Lightning)."""
    from benchmark.data.compression import compression_levels
    from benchmark.data.datasets import DATASETS
    from benchmark.methods import METHODS

    methods = [
        {"name": e.name, "group": e.group, "kind": e.kind, "family": e.family, "paper": e.paper}
        for _, e in METHODS.items()
    ]
    datasets = [
        {"name": name, "env_var": cls.env_var, "description": cls.description}
        for name, cls in DATASETS.items()
    ]
    levels = [level.describe() for level in compression_levels().values()]
    return {"methods": methods, "datasets": datasets, "compression": levels}


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "(none registered)"
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(none registered)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def markdown_tables(tables: dict[str, list[dict]]) -> str:
    """The README's registry tables, generated (tests/test_readme.py checks the README matches)."""
    return "\n\n".join(
        f"**{title}** ({len(rows)})\n\n{markdown_table(rows)}" for title, rows in tables.items()
    )


README_BEGIN, README_END = "<!-- registry-tables:begin -->", "<!-- registry-tables:end -->"


def write_readme_tables(path: str, tables: dict[str, list[dict]]) -> None:
    """Replace what stands between the README's registry markers with freshly generated tables."""
    text = open(path, encoding="utf-8").read()
    head, sep, rest = text.partition(README_BEGIN)
    _, sep2, tail = rest.partition(README_END)
    if not (sep and sep2):
        raise SystemExit(f"{path}: markers {README_BEGIN} ... {README_END} not found")
    block = f"{README_BEGIN}\n{markdown_tables(tables)}\n{README_END}"
    open(path, "w", encoding="utf-8").write(head + block + tail)


def main(args: argparse.Namespace) -> int:
    tables = collect()
    if args.write_readme:
        write_readme_tables(args.write_readme, tables)
        return 0
    if args.what:
        tables = {args.what: tables[args.what]}
    if args.json:
        print(json.dumps(tables, indent=2))
        return 0
    if args.markdown:
        print(markdown_tables(tables))
        return 0
    for title, rows in tables.items():
        print(f"{title} ({len(rows)})")
        print(format_table(rows))
        print()
    return 0
