"""Released weights by name (issue 19.1-19.3): every rPPG-Toolbox PhysNet and FactorizePhys release, found in
RPPG_WEIGHTS_DIR without network, sha256-checked (a wrong file is named and never used), loaded strictly."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.errors import ConfigError, DataError
from benchmark.methods.weights import RELEASES, fetch_release, load_release, local_release

TOOLBOX = ("data", "pretrained", "rppg_toolbox")
PARAMS = {"physnet": 768_577, "factorizephys": 52_168}  # each released network's exact size


@pytest.fixture
def offline(monkeypatch):
    """Any download attempt fails the test: these checks must need no network."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_every_physnet_release_of_rppg_toolbox_is_registered():
    physnets = {r.train_set.split(" ")[0] for _, r in RELEASES.items() if r.method == "physnet"}
    assert physnets == {"PURE", "UBFC-rPPG", "SCAMPS", "MA-UBFC", "BP4D+"}
    for name, release in RELEASES.items():
        assert name.startswith(f"{release.method}@") and len(release.sha256) == 64
        assert release.url.endswith(release.file) and "License" in release.licence


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="physnet@pure-rppgtoolbox"):
        fetch_release("physnet@nowhere")


def test_releases_in_the_weights_dir_load_without_network(shared_dir, monkeypatch, offline, capsys):
    folder = shared_dir(*TOOLBOX)
    monkeypatch.setenv("RPPG_WEIGHTS_DIR", str(folder))
    for name, release in RELEASES.items():
        assert fetch_release(name) == folder / release.file
        module = load_release(name)  # strict key map: no missing or unexpected key
        assert sum(p.numel() for p in module.parameters()) == PARAMS[release.method]
    assert main(["weights", "fetch", "--all"]) == 0
    assert str(folder) in capsys.readouterr().out


def test_a_file_with_another_sha256_is_named_and_not_used(shared_dir, tmp_path, monkeypatch, offline):
    release = RELEASES.get("physnet@pure-rppgtoolbox")
    damaged = tmp_path / release.file
    shutil.copy(shared_dir(*TOOLBOX, release.file), damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setenv("RPPG_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(DataError, match=rf"{release.file}.*sha256 [0-9a-f]{{64}} is not .*not used"):
        local_release(release.name)
    with pytest.raises(DataError, match="not used"):
        load_release(release.name)
    assert main(["weights", "fetch", release.name]) == 1


@pytest.mark.slow
def test_predict_takes_a_release_name_for_weights(shared_dir, physrecorder_dir, monkeypatch, offline, capsys):
    """`predict --method physnet --weights physnet@pure-rppgtoolbox` on the real clip: near the oximeter."""
    import json

    monkeypatch.setenv("RPPG_WEIGHTS_DIR", str(shared_dir(*TOOLBOX)))
    video = physrecorder_dir / "video_ZIP_H264.avi"
    args = ["predict", str(video), "--method", "physnet", "--weights", "physnet@pure-rppgtoolbox", "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert np.isfinite(result["hr_bpm"]) and abs(result["hr_bpm"] - 70.8) < 3.0
    assert main(["predict", str(video), "--method", "tscan", "--weights", "physnet@pure-rppgtoolbox"]) == 2


@pytest.mark.slow
def test_a_sweep_tests_released_weights_as_rows_of_their_own(shared_dir, tmp_path, monkeypatch, offline):
    """`pretrained:` in a sweep: the release is tested as released (no training) at every level, in the
    group "pretrained (real data)", and the board names its training set, file, digest and licence. Without
    the file and without network its cells fail with the reason; the other rows are kept."""
    import yaml
    from sweep_data import build_datasets, sweep_file

    from benchmark.results.store import ResultStore

    data = build_datasets(tmp_path / "manifests")
    path = sweep_file(tmp_path / "p.yaml", "p", data, ["good"], ["raw"], ["pos"])
    doc = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**doc, "pretrained": ["physnet@pure-rppgtoolbox"]}))
    monkeypatch.setenv("RPPG_WEIGHTS_DIR", str(shared_dir(*TOOLBOX)))
    db, lb = tmp_path / "r.sqlite", tmp_path / "lb"
    args = ["run", "--sweep", str(path), "--db", str(db), "--leaderboard-dir", str(lb), "--no-progress"]
    assert main(args) == 0
    with ResultStore(db) as store:
        cells = {c["method"]: c for c in store.cells()}
    assert cells["physnet@pure-rppgtoolbox"]["method_group"] == "pretrained (real data)"
    assert cells["physnet@pure-rppgtoolbox"]["config"]["weights"]["sha256"].startswith("cf295ff0")
    (board,) = [p for p in lb.glob("*.md") if p.name not in ("README.md", "efficiency.md")]
    text = board.read_text()
    assert "`physnet@pure-rppgtoolbox`: physnet (PURE, rPPG-Toolbox weights)" in text
    assert "Responsible AI Source Code License" in text

    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)  # an offline machine
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv("RPPG_WEIGHTS_DIR", str(empty))
    monkeypatch.setenv("RPPG_CACHE_DIR", str(tmp_path / "fresh-cache"))
    db2 = tmp_path / "r2.sqlite"
    assert (
        main(["run", "--sweep", str(path), "--db", str(db2), "--leaderboard-dir", str(lb), "--no-progress"])
        == 1
    )
    with ResultStore(db2) as store:
        status = {c["method"]: (c["status"], c["error"] or "") for c in store.cells()}
    assert status["pos"][0] == "done"
    assert (
        status["physnet@pure-rppgtoolbox"][0] == "failed"
        and "RPPG_WEIGHTS_DIR" in status["physnet@pure-rppgtoolbox"][1]
    )
