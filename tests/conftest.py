"""Shared fixtures. Real data lives in ../shared beside the project (CI has it; a user's clone may not)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing, and CI must have ../shared")
        pytest.skip(f"real data not available: {path} is missing (../shared is not beside this clone)")
    return path


@pytest.fixture(scope="session")
def shared_dir():
    """Path getter for files under ../shared: skips with the reason when absent, fails under CI=true."""
    return _shared_path


@pytest.fixture(scope="session")
def physrecorder_dir() -> Path:
    """The real PhysRecorder/RLAP recording: 602 frames of a face, finger-oximeter BVP, ~70.8 bpm."""
    return _shared_path("data", "real", "physrecorder_v01")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests never write into the user's cache or results folders."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("RPPG_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("RPPG_RESULTS_DIR", str(root / "results"))
    monkeypatch.setenv("WANDB_MODE", "offline")
