"""Where configs, caches and results live; every default can be moved by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """configs/ of the project (RPPG_CONFIG_DIR overrides)."""
    return Path(os.environ.get("RPPG_CONFIG_DIR", PROJECT_ROOT / "configs"))


def cache_dir() -> Path:
    """Root of generated data and preprocessed caches (RPPG_CACHE_DIR overrides; default .rppg_cache/)."""
    return Path(os.environ.get("RPPG_CACHE_DIR", PROJECT_ROOT / ".rppg_cache"))


def results_dir() -> Path:
    """Where sweeps write their database and logs (RPPG_RESULTS_DIR overrides; default runs/)."""
    return Path(os.environ.get("RPPG_RESULTS_DIR", PROJECT_ROOT / "runs"))


def leaderboard_dir() -> Path:
    return Path(os.environ.get("RPPG_LEADERBOARD_DIR", PROJECT_ROOT / "leaderboards"))


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (integrity checks: zoo entries, weights releases)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename, so a killed run
    leaves either the old file or the whole new one, never a half file a later run would trust."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
