"""The README's registry tables are generated; this fails when they drift from the registries."""

import re
from pathlib import Path

from benchmark.list_cli import README_BEGIN, README_END, collect, markdown_tables

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = README_BEGIN, README_END


def test_readme_registry_tables_match_the_registries():
    text = README.read_text()
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, f"README.md lacks the {BEGIN} ... {END} block"
    expected = markdown_tables(collect())
    assert match.group(1).strip() == expected.strip(), "README registry tables are stale: run `make readme`"


def test_readme_states_the_two_setup_commands():
    text = README.read_text()
    assert "make bench-all" in text and "make test" in text
