"""One bad recording fails alone: loading, the `data` command, the subject split, a sweep cell and its counts.

Real files only: manifests of videos written with PyAV (and SynthPulse clips where a face is needed), ground
truths with a NaN, an empty file, wrong column names, and a truncated video; real SQLite for the results.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_layouts import make_frames as frames_of
from fixtures_layouts import (
    make_manifest,
    make_mmpd,
    make_pure,
    make_rlap,
    make_ubfc_phys,
    make_ubfc_rppg,
    sine_ppg,
    truncate,
    write_video,
)

from benchmark.data.datasets import load_dataset
from benchmark.errors import DataError

BAD = {  # recording id -> what its error says
    "bad_nan": ("nan.csv", "ground-truth PPG has 1 NaN/inf values"),
    "bad_empty": ("empty.csv", "ground-truth CSV is empty"),
    "bad_columns": ("wrong.csv", "expected columns time_s,ppg or a per-frame ppg column (found: t, signal)"),
    "bad_video": ("trunc.mkv", "truncated or corrupt video: the header declares 60 frames"),
}


def timed_csv(path: Path, duration_s: float, nan_at: int | None = None) -> Path:
    """A `time_s,ppg` ground truth at 100 Hz covering `duration_s`, optionally with one NaN value."""
    times = np.arange(0, duration_s + 0.1, 0.01)
    values = [f"{v:.6f}" for v in sine_ppg(times)]
    if nan_at is not None:
        values[nan_at] = "nan"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("time_s,ppg\n" + "".join(f"{t:.4f},{v}\n" for t, v in zip(times, values)))
    return path


def add_bad_rows(manifest: Path, video: str, duration_s: float) -> Path:
    """Appends the four bad recordings of BAD to a manifest; `video` (relative) is a good video that the
    three bad ground truths go with. Subjects carol..frank, one each."""
    folder = manifest.parent
    timed_csv(folder / "bad" / "nan.csv", duration_s, nan_at=7)
    (folder / "bad" / "empty.csv").write_text("")
    (folder / "bad" / "wrong.csv").write_text("t,signal\n0,1\n0.5,2\n1.0,1\n")
    trunc = write_video(folder / "bad" / "trunc.mkv", frames_of(60, seed=9), "ffv1", 30)
    truncate(trunc, 0.5)
    timed_csv(folder / "bad" / "trunc.csv", 2.0)
    header, *rows = manifest.read_text().splitlines()
    columns = header.split(",")

    def row(**values) -> str:
        return ",".join(values.get(c, "") for c in columns)

    rows += [
        row(subject="carol", video=video, ground_truth="bad/nan.csv", id="bad_nan"),
        row(subject="dave", video=video, ground_truth="bad/empty.csv", id="bad_empty"),
        row(subject="erin", video=video, ground_truth="bad/wrong.csv", id="bad_columns"),
        row(subject="frank", video="bad/trunc.mkv", ground_truth="bad/trunc.csv", id="bad_video"),
    ]
    manifest.write_text("\n".join([header, *rows]) + "\n")
    return manifest


def _manifest_with_four_bad(tmp_path: Path) -> Path:
    manifest = make_manifest(tmp_path, n_frames=24, fps=25)  # alice_1, alice_2 (alice), c_frames (bob)
    return add_bad_rows(manifest, "videos/a.mkv", 24 / 25)


# -------------------------------------------------------------------------------------------- loading
def test_scan_keeps_the_good_recordings_and_every_bad_one_with_its_reason(tmp_path):
    from benchmark.data.datasets.base import scan_dataset

    manifest = _manifest_with_four_bad(tmp_path)
    loaded = scan_dataset("manifest", manifest=manifest)
    assert [r.id for r in loaded.recordings] == ["alice_1", "alice_2", "c_frames"]
    assert sorted(f.id for f in loaded.failures) == sorted(BAD)
    for failure in loaded.failures:
        name, problem = BAD[failure.id]
        assert failure.path.name == name and problem in str(failure.error)
        assert failure.reason.startswith("DataError: ") and failure.key == f"manifest/{failure.id}"
    assert {f.id: f.subject for f in loaded.failures} == {
        "bad_nan": "carol",
        "bad_empty": "dave",
        "bad_columns": "erin",
        "bad_video": "frank",
    }
    # the strict form still stops at the first bad row, with its own error
    with pytest.raises(DataError, match="NaN"):
        load_dataset("manifest", manifest=manifest)


@pytest.mark.parametrize("name", ["ubfc-rppg", "pure", "ubfc-phys", "mmpd", "rlap"])
def test_every_adapter_loads_its_recordings_one_by_one(tmp_path, name):
    """Two recordings of each layout, one broken: the other still loads, the broken one keeps its reason."""
    from benchmark.data.datasets.base import scan_dataset

    root, options = tmp_path / name, {}
    if name == "ubfc-rppg":
        make_ubfc_rppg(root, subjects=(1, 3))
        bad = root / "subject3" / "ground_truth.txt"
        bad.write_text(bad.read_text().replace("e-01", "e-0x", 1))
        expected = ("subject3", "subject3", "not a number")
    elif name == "pure":
        make_pure(root, names=("01-01", "02-04"), n_frames=5)
        bad = root / "02-04" / "02-04.json"
        bad.write_text('{"/FullPackage": [ {"Timestamp": 1, ')
        expected = ("02-04", "02", "unreadable JSON")
    elif name == "ubfc-phys":
        make_ubfc_phys(root, subjects=(1, 2), tasks=("T1",))
        bad = root / "s2" / "bvp_s2_T1.csv"
        bad.write_text("")
        expected = ("s2_T1", "s2", "empty")
    elif name == "mmpd":
        make_mmpd(root, files=((1, 0), (2, 0)), n_frames=4)
        bad = truncate(root / "subject2" / "p2_0.mat", 0.3)
        options = {"cache": tmp_path / "cache"}
        expected = ("p2_0", "subject2", "GT_ppg")
    else:
        make_rlap(root, sessions=("p001/R1", "p002/E3"), n_frames=10, pictures=False)
        bad = root / "p002" / "E3" / "BVP.csv"
        bad.write_text(bad.read_text().replace("timestamp,bvp", "time,value", 1))
        expected = ("p002_E3", "p002", "expected columns timestamp, bvp")
    loaded = scan_dataset(name, root, **options)
    assert len(loaded.recordings) == 1 and len(loaded.failures) == 1
    (failure,) = loaded.failures
    assert (failure.id, failure.subject) == expected[:2] and expected[2] in failure.reason
    assert failure.path == bad
    assert loaded.recordings[0].id != failure.id


# ------------------------------------------------------------------------------------ `data` command
def test_data_command_lists_every_bad_recording_and_exits_1(tmp_path, capsys):
    from benchmark.cli import main

    manifest = _manifest_with_four_bad(tmp_path)
    assert main(["data", "manifest", "--manifest", str(manifest)]) == 1
    out = capsys.readouterr().out.splitlines()
    lines = {line.split()[0]: line for line in out[:-1]}
    assert sorted(lines) == sorted(["alice_1", "alice_2", "c_frames", *BAD])
    for rec_id in ("alice_1", "alice_2", "c_frames"):
        assert "frames=24" in lines[rec_id] and "error" not in lines[rec_id]
    for rec_id, (name, problem) in BAD.items():
        assert f"error: {tmp_path / 'bad' / name}: {problem}" in lines[rec_id]
    assert out[-1] == "manifest: 3 recordings, 2 subjects; 4 bad recording(s), listed above with their errors"


def test_data_command_probes_each_video_and_reports_a_bad_one(tmp_path, capsys):
    """PURE frames are listed, not probed, while loading: an unreadable first PNG shows in the probe."""
    from benchmark.cli import main

    root = make_pure(tmp_path / "pure", names=("01-01", "02-04"), n_frames=5)
    first = sorted((root / "02-04" / "02-04").glob("*.png"))[0]
    first.write_bytes(b"not a png at all" * 4)
    assert main(["data", "pure", "--root", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("01-01 ") and "frames=5" in out[0]
    assert out[1].startswith("02-04  subject=02  error: ")
    assert out[-1].startswith("pure: 1 recordings, 1 subjects; 1 bad recording(s)")


# ---------------------------------------------------------------------------------------- the split
def _five_subjects(folder: Path) -> Path:
    """A manifest of five subjects (s0..s4), one recording each: frames with per-frame ground truth."""
    rows = ["subject,video,ground_truth"]
    for i in range(5):
        write_video(folder / f"v{i}.mkv", frames_of(24, seed=i), "ffv1", 25)
        per_frame = "\n".join(f"{v:.6f}" for v in sine_ppg(np.arange(24) / 25))
        (folder / f"g{i}.csv").write_text(f"ppg\n{per_frame}\n")
        rows.append(f"s{i},v{i}.mkv,g{i}.csv")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder


def _parts(folder: Path):
    from benchmark.runner.cells import Cell, sweep_from_dict
    from benchmark.runner.datasets import DatasetCache

    sweep = sweep_from_dict(
        {
            "name": "split",
            "datasets": {"mine": {"adapter": "manifest", "root": str(folder)}},
            "protocol": "intra",
            "test_on": ["mine"],
            "methods": ["pos"],
        }
    )
    cell = Cell("pos", "classic", False, "mine", "mine", "raw", 0, sweep)
    data = DatasetCache(sweep)
    train, val = data.train_val(cell)
    return train, val, data.test_recordings(cell)


def test_a_bad_recording_keeps_its_subjects_place_in_the_split(tmp_path):
    """Failed recordings take part in the subject split, so one bad file moves nobody; a failed test
    recording reaches the test cell, a failed training one is left out of training."""
    from benchmark.data.datasets.base import FailedRecording

    folder = _five_subjects(tmp_path / "m")
    before = [[r.subject for r in part] for part in _parts(folder)]
    assert [len(p) for p in before] == [3, 1, 1]
    test_subject, train_subject = before[2][0], before[0][0]
    gt = folder / f"g{test_subject[1:]}.csv"
    gt.write_text(gt.read_text().replace("0.000000", "nan", 1))
    truncate(folder / f"v{train_subject[1:]}.mkv", 0.5)
    train, val, test = _parts(folder)
    assert [r.subject for r in val] == before[1]
    assert [r.subject for r in train] == [s for s in before[0] if s != train_subject]
    assert not any(isinstance(r, FailedRecording) for r in train + val)
    (failed,) = test
    assert isinstance(failed, FailedRecording) and failed.subject == test_subject
    assert "NaN" in failed.reason


def test_a_dataset_with_every_recording_bad_fails_with_every_reason(tmp_path):
    from benchmark.runner.cells import Cell, sweep_from_dict
    from benchmark.runner.datasets import DatasetCache

    folder = _five_subjects(tmp_path / "m")
    (folder / "manifest.csv").write_text("subject,video,ground_truth\ns0,v0.mkv,bad.csv\ns1,v1.mkv,g1.csv\n")
    (folder / "bad.csv").write_text("")
    truncate(folder / "v1.mkv", 0.5)
    sweep = sweep_from_dict(
        {
            "name": "allbad",
            "datasets": {"mine": {"adapter": "manifest", "root": str(folder)}},
            "protocol": "cross",
            "train_on": ["mine"],
            "test_on": ["mine"],
            "methods": ["pos"],
        }
    )
    data = DatasetCache(sweep)
    with pytest.raises(DataError, match="dataset 'mine': none of its 2 recording") as info:
        data.test_recordings(Cell("pos", "classic", False, "mine", "mine", "raw", 0, sweep))
    assert "bad.csv: ground-truth CSV is empty" in str(info.value)
    assert "v1.mkv: truncated or corrupt video" in str(info.value)


# ---------------------------------------------------------------------------------------- counting
def test_a_failed_recording_counts_once_as_failed_not_as_without_reference():
    from benchmark.results.scoring import score

    def row(rec, hr_pred, hr_true, error=None):
        return {
            "recording": rec,
            "subject": rec,
            "window": -1,
            "start_s": 0.0,
            "hr_pred": hr_pred,
            "hr_true": hr_true,
            "snr_db": None,
            "error": error,
        }

    rows = [
        row("a", 70.0, 71.0),
        row("b", 80.0, 78.0),
        row("c", 60.0, 66.0),
        row("bad", None, None, "DataError: gt.csv: ground-truth PPG has 1 NaN/inf values"),
        row("noface", None, None, "NoFaceError: v.mkv: no face"),
    ]
    out = score(rows, n_boot=50)
    assert (out["n"], out["n_failed"], out["n_no_reference"]) == (3, 2, 0)


# ---------------------------------------------------------------------------------------- a sweep
@pytest.fixture(scope="module")
def synth_clips():
    """Two SynthPulse clips (faces, 8 s), for a classic method to score."""
    from benchmark.data.datasets import load_dataset as load

    return load("synth", preset="smoke", subjects=2, scenarios=["still"], duration_s=8.0)


@pytest.mark.slow
def test_a_sweep_cell_scores_the_good_recordings_and_stores_the_bad_ones(synth_clips, tmp_path):
    from benchmark.results.store import ResultStore
    from benchmark.runner.cells import sweep_from_dict
    from benchmark.runner.sweep import run_sweep

    folder = tmp_path / "mixed"
    folder.mkdir()
    rows = ["subject,video,ground_truth,id"]
    for i, rec in enumerate(synth_clips):
        shutil.copy(rec.video, folder / f"good{i}.mkv")
        lines = "".join(f"{t:.6f},{p}\n" for t, p in zip(rec.ppg_times, rec.ppg))
        (folder / f"good{i}.csv").write_text("time_s,ppg\n" + lines)
        rows.append(f"{rec.subject},good{i}.mkv,good{i}.csv,good{i}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    add_bad_rows(folder / "manifest.csv", "good0.mkv", float(synth_clips[0].ppg_times[-1]))
    allbad = tmp_path / "allbad"
    allbad.mkdir()
    (allbad / "empty.csv").write_text("")
    shutil.copy(folder / "good0.mkv", allbad / "good0.mkv")
    shutil.copy(folder / "bad" / "trunc.mkv", allbad / "trunc.mkv")
    shutil.copy(folder / "bad" / "trunc.csv", allbad / "trunc.csv")
    (allbad / "manifest.csv").write_text(
        "subject,video,ground_truth\nx,good0.mkv,empty.csv\ny,trunc.mkv,trunc.csv\n"
    )
    sweep = sweep_from_dict(
        {
            "name": "bad-recordings",
            "datasets": {
                "mixed": {"adapter": "manifest", "root": str(folder)},
                "allbad": {"adapter": "manifest", "root": str(allbad)},
            },
            "protocol": "cross",
            "train_on": ["mixed"],
            "test_on": ["mixed", "allbad"],
            "compression": ["raw"],
            "methods": ["pos"],
            "evaluation": {"window_s": 4.0, "stride_s": 2.0},
            "leaderboard": str(tmp_path / "lb"),
        }
    )
    counts = run_sweep(sweep, db=tmp_path / "r.sqlite", progress=False, work_dir=tmp_path / "work")
    assert (counts["done"], counts["failed"]) == (1, 1)
    with ResultStore(tmp_path / "r.sqlite") as store:
        cells = {c["test_set"]: c for c in store.cells()}
        mixed = cells["mixed"]
        assert mixed["status"] == "done", mixed["error"]
        assert (mixed["metrics"]["n"], mixed["metrics"]["n_failed"], mixed["metrics"]["n_no_reference"]) == (
            2,
            4,
            0,
        )
        whole = {p["recording"]: p for p in store.predictions(mixed["key"], whole_only=True)}
        assert sorted(whole) == sorted(["manifest/good0", "manifest/good1", *(f"manifest/{k}" for k in BAD)])
        for rec_id, (name, problem) in BAD.items():
            error = whole[f"manifest/{rec_id}"]["error"]
            assert error.startswith("DataError: ") and name in error and problem in error
            assert whole[f"manifest/{rec_id}"]["hr_true"] is None
        assert all(whole[f"manifest/good{i}"]["error"] is None for i in range(2))
        assert cells["allbad"]["status"] == "failed"
        assert "none of its 2 recording(s) could be loaded" in cells["allbad"]["error"]
        assert "ground-truth CSV is empty" in cells["allbad"]["error"]
        assert "truncated or corrupt video" in cells["allbad"]["error"]
    board = (tmp_path / "lb" / "mixed-to-mixed.md").read_text()
    assert "(4 rec. failed)" in board
