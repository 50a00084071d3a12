"""docs/bad-input.md: every row names a test, and every test it names exists (the catalogue cannot drift)."""

from __future__ import annotations

import re

from benchmark.paths import PROJECT_ROOT


def test_every_catalogue_row_names_tests_that_exist():
    text = (PROJECT_ROOT / "docs" / "bad-input.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| input")]
    assert len(rows) >= 25
    sources = "\n".join(p.read_text() for p in (PROJECT_ROOT / "tests").glob("test_*.py"))
    for row in rows:
        names = re.findall(r"`([^`]*test_[^`]*)`", row.rsplit(" | ", 1)[-1])
        names += re.findall(r"`\.\.\.\[[^`]*\]`", row.rsplit(" | ", 1)[-1])
        assert names, f"row without a test: {row[:80]}"
        for name in names:
            if name.startswith("`..."):
                continue  # another parameter of the row above's test
            function = re.sub(r"\[.*\]$", "", name.rpartition("::")[2])
            assert f"def {function}(" in sources, f"{name}: no such test"
