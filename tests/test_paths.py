"""atomic_write: the one way the suite writes a file a later run will trust."""

from __future__ import annotations

import pytest

from benchmark.paths import atomic_write


class Unwritable:
    """Not str or bytes: writing it fails after the temporary file exists."""


def test_writes_text_and_bytes_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "memo.json"
    atomic_write(target, "first")
    assert target.read_text() == "first"
    atomic_write(target, b"\x00second")
    assert target.read_bytes() == b"\x00second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["memo.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "memo.json"
    atomic_write(target, "old")
    with pytest.raises(TypeError):
        atomic_write(target, Unwritable())
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo.json"]
