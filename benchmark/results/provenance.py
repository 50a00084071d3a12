"""Where a result came from (commit, host, date) and where results live by default: shared by the runner,
the profiler and the leaderboards, none of which imports another for it."""

from __future__ import annotations

import datetime
import socket
import subprocess
from pathlib import Path

from benchmark.paths import PROJECT_ROOT, results_dir


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def provenance() -> dict:
    from benchmark.profiling.measure import cpu_model

    return {"git_commit": git_commit(), "host": f"{socket.gethostname()} ({cpu_model()})", "date": now()}


DEFAULT_SWEEP = "quick"  # what `run`, `leaderboard` and `profile` use when no sweep or database is named


def default_db_path() -> Path:
    """The default sweep's database: `profile` writes where `run` and `leaderboard` read."""
    return results_dir() / f"{DEFAULT_SWEEP}.sqlite"
