import subprocess
import sys

from benchmark.cli import COMMANDS, main
from benchmark.errors import ConfigError
from benchmark.registry import Registry


def test_registry_rejects_duplicates_and_names_known_items():
    reg = Registry("thing")
    reg.add("a", 1)
    try:
        reg.add("a", 2)
    except ConfigError as err:
        assert "twice" in str(err)
    else:
        raise AssertionError("duplicate accepted")
    try:
        reg.get("b")
    except ConfigError as err:
        assert "known: a" in str(err)
    else:
        raise AssertionError("unknown name accepted")


def test_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "benchmark", "--help"], capture_output=True, text=True, check=True
    )
    for name in COMMANDS:
        assert name in out.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage" in capsys.readouterr().out
