"""The code fingerprint: changed result code recomputes cells, tables use rows of the current code only, and
the committed leaderboards were made by this checkout's code (issue 24.3)."""

from __future__ import annotations

import shutil

from benchmark.leaderboard.tables import collect_entries
from benchmark.paths import PROJECT_ROOT
from benchmark.results.fingerprint import RESULT_SOURCES, code_fingerprint, compute_fingerprint, result_files
from benchmark.results.store import CellResult, Prediction, ResultStore
from benchmark.runner.cells import Cell, sweep_from_dict

WHOLE = -1.0


def copy_project(dst):
    shutil.copytree(
        PROJECT_ROOT / "benchmark", dst / "benchmark", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(PROJECT_ROOT / "configs", dst / "configs")
    return dst


def test_result_code_moves_the_fingerprint_and_front_ends_do_not(tmp_path):
    root = copy_project(tmp_path)
    base = compute_fingerprint(root)
    assert base == code_fingerprint()
    for front_end in (
        "benchmark/leaderboard/tables.py",
        "benchmark/data/synth/cli.py",
        "benchmark/zoo/cli.py",
    ):
        (root / front_end).write_text((root / front_end).read_text() + "\n# comment\n")
        assert compute_fingerprint(root) == base, front_end
    for source in ("benchmark/dsp.py", "benchmark/methods/physnet.py", "configs/compression.yaml"):
        original = (root / source).read_text()
        (root / source).write_text(
            original + ("\nextra: 1\n" if source.endswith(".yaml") else "\nEXTRA = 1\n")
        )
        assert compute_fingerprint(root) != base, source
        (root / source).write_text(original)
    assert compute_fingerprint(root) == base
    assert len(result_files()) > 40 and len(RESULT_SOURCES) > 5


def test_comments_docstrings_and_line_wrapping_leave_the_fingerprint(tmp_path):
    """Only what a computation can see moves the fingerprint: not a comment, a docstring, a re-wrapped line
    or an indentation width (so such mends keep the committed tables); a changed operator or number does."""
    root = copy_project(tmp_path)
    base = compute_fingerprint(root)
    path = root / "benchmark/dsp.py"
    original = path.read_text()
    for text in (
        original + "\n# a comment\n",
        original + '\n"""A module-level string statement."""\n',
        original.replace('"""', '"""Edited docstring. ', 1),
    ):
        path.write_text(text)
        assert compute_fingerprint(root) == base, text[-80:]
    added = "\n\ndef added(a, b):\n    return f'{a}' + (a + b)\n"
    path.write_text(original + added)
    moved = compute_fingerprint(root)
    assert moved != base
    for same in (
        added.replace("    return", "    '''Doc.'''\n    return"),
        added.replace("(a + b)", "(a +\n            b)"),
        added.replace("    return", "        return"),
    ):
        path.write_text(original + same)
        assert compute_fingerprint(root) == moved, same
    for changed in (
        added.replace("a + b", "a - b"),
        added.replace("(a + b)", "(a + b + 1e-9)"),
        added.replace("f'{a}'", "f'{b}'"),
    ):
        path.write_text(original + changed)
        assert compute_fingerprint(root) != moved, changed
    path.write_text(original)
    levels = root / "configs/compression.yaml"
    levels.write_text("# a comment\n" + levels.read_text())
    assert compute_fingerprint(root) == base


def test_the_fingerprint_is_the_same_on_every_python_version():
    """Python 3.12 tokenizes f-strings into parts: they are joined back, so the hash is the 3.11 one."""
    from benchmark.results.fingerprint import python_code

    source = b'x = f\'{a!r:>{width}} and {b}\' + \'plain\'\ny = f"""multi\n{c}\nline"""\n'
    assert (
        python_code(source)
        == "\n".join(
            [
                "NAME:x",
                "OP:=",
                "STRING:f'{a!r:>{width}} and {b}'",
                "OP:+",
                "STRING:'plain'",
                "NEWLINE:\n",
                "NAME:y",
                "OP:=",
                'STRING:f"""multi\n{c}\nline"""',
                "NEWLINE:\n",
                "ENDMARKER:",
            ]
        ).encode()
    )


def test_a_cells_key_holds_the_code_and_tables_skip_rows_of_other_code(tmp_path, monkeypatch):
    sweep = sweep_from_dict({"name": "f", "compression": ["raw"]})
    cell = Cell("pos", "classic", False, "synth", "synth", "raw", 0, sweep)
    assert cell.config()["code"] == code_fingerprint()
    key_now = cell.key
    monkeypatch.setattr("benchmark.results.fingerprint.code_fingerprint", lambda: "000000000000")
    assert cell.key != key_now  # other code: another cell, computed again
    monkeypatch.undo()

    ident = {
        "method": "pos", "group": "classic", "train_set": "synth", "test_set": "synth", "level": "raw",
        "seed": 0, "protocol": "intra", "protocol_version": 1, "sweep": "f", "profile": "smoke",
    }  # fmt: skip
    prov = {"git_commit": "abc", "host": "h", "date": "2026-01-01T00:00:00+00:00"}
    preds = [Prediction("synth/r0", "s0", WHOLE, 0.0, 71.0, 70.0, 1.0)]
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write_cell(
            CellResult("old", "done", ident, {}, {"code": "0ld0ld0ld0ld"}, prov, predictions=preds)
        )
        assert collect_entries(store, n_boot=10) == []
        store.write_cell(
            CellResult("new", "done", ident, {}, {"code": code_fingerprint()}, prov, predictions=preds)
        )
        (entry,) = collect_entries(store, n_boot=10)
        assert entry["seeds"] == "0" and entry["mae"] == 1.0


def test_the_committed_leaderboards_were_made_by_this_code():
    """Regenerate them (`make bench-all` in a fresh clone, then copy its leaderboards/) after changing a
    result source; benchmark/results/fingerprint.py lists which files those are."""
    import re

    readme = (PROJECT_ROOT / "leaderboards" / "README.md").read_text()
    found = re.search(r"code fingerprint: ([0-9a-f]{12})", readme)
    assert found, "leaderboards/README.md states no code fingerprint"
    assert found.group(1) == code_fingerprint(), (
        f"leaderboards/ were made by code {found.group(1)}, this checkout is {code_fingerprint()}: "
        "rerun make bench-all"
    )
