"""The Makefile's install logic, read through `make -n` against a scratch virtualenv folder (nothing runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from benchmark.paths import PROJECT_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(venv, *assignments: str) -> list[str]:
    out = subprocess.run(
        ["make", "-n", "install", f"VENV={venv}", *assignments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.splitlines()


def torch_line(lines: list[str]) -> str | None:
    return next((line for line in lines if "pip install --quiet $(echo" in line), None)


def shell_words(line: str) -> list[str]:
    """The words the shell passes to pip for that recipe line (run with `set -f`, pip replaced by printf)."""
    command = line.split("; ", 1)[1].replace("-m pip install --quiet", "", 1)
    python = command.split()[0]
    script = "set -f; printf '%s\\n' " + command.replace(python, "", 1)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.split()


def installed_venv(tmp_path, spec: str):
    """A scratch .venv as a finished install leaves it: torch spec recorded, then the stamp."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".torch-spec").write_text(spec + "\n")
    past = time.time() - 100
    os.utime(venv / ".torch-spec", (past, past))
    (venv / ".installed").touch()
    return venv


def test_a_torch_spec_with_pip_options_reaches_pip_as_separate_words(tmp_path):
    spec = "torch==2.13.0 --index-url https://example.invalid/whl/cu128"
    line = torch_line(dry_run(tmp_path / "venv", f"TORCH_SPEC={spec}"))
    assert line is not None
    assert shell_words(line) == ["torch==2.13.0", "--index-url", "https://example.invalid/whl/cu128"]


def test_a_version_range_is_one_word_and_no_redirection(tmp_path):
    line = torch_line(dry_run(tmp_path / "venv", "TORCH_SPEC=torch>=2.1,<3"))
    assert shell_words(line) == ["torch>=2.1,<3"]


def test_an_unchanged_install_does_nothing_and_a_new_torch_spec_reinstalls(tmp_path):
    venv = installed_venv(tmp_path, "torch==2.13.0")
    (venv / "share" / "rppg-benchmark").mkdir(parents=True)
    (venv / "share" / "rppg-benchmark" / "face_detection_short_range.tflite").touch()
    assert torch_line(dry_run(venv, "TORCH_SPEC=torch==2.13.0")) is None
    line = torch_line(dry_run(venv, "TORCH_SPEC=torch==2.13.0 --index-url https://example.invalid/cu128"))
    assert line is not None and "--index-url" in line


def package_line(lines: list[str]) -> str | None:
    return next((line for line in lines if "pip install --quiet -e" in line), None)


def test_extras_install_with_the_package_once_and_a_plain_make_keeps_them(tmp_path):
    venv = installed_venv(tmp_path, "torch==2.13.0")
    (venv / "share" / "rppg-benchmark").mkdir(parents=True)
    (venv / "share" / "rppg-benchmark" / "face_detection_short_range.tflite").touch()
    assert package_line(dry_run(venv)) is None  # no extra asked for: nothing to do
    line = package_line(dry_run(venv, "EXTRAS=ray"))
    assert line is not None and line.endswith('-e ".[dev,ray]"')
    assert torch_line(dry_run(venv, "EXTRAS=ray")) is not None  # the whole stamp recipe, as for a new torch
    later = time.time() + 100
    os.utime(venv / ".installed", (later, later))  # that install finished
    assert package_line(dry_run(venv, "EXTRAS=ray")) is None  # the same extras again: nothing to do
    assert package_line(dry_run(venv)) is None  # `make test` after it keeps them
    os.utime(venv / ".installed", (later - 200, later - 200))  # an older install (pyproject.toml is newer)
    assert package_line(dry_run(venv)).endswith('-e ".[dev,ray]"')  # reinstalls with the recorded extras
    assert package_line(dry_run(tmp_path / "fresh")).endswith('-e ".[dev]"')  # the default stays lean
