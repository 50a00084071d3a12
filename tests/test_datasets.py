"""Dataset adapters on tiny fixtures in each real layout, on the real PhysRecorder recording, on bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fixtures_layouts import (
    make_frames,
    make_manifest,
    make_mmpd,
    make_pure,
    make_rlap,
    make_ubfc_phys,
    make_ubfc_rppg,
    sine_ppg,
    truncate,
    write_rlap_csvs,
)

from benchmark.data.datasets import DATASETS, load_dataset
from benchmark.data.video import open_video
from benchmark.errors import ConfigError, DataError


def assert_pulse_aligned(recording, num_frames: int, tolerance: float = 0.1, scale=(0.0, 1.0)) -> None:
    """The aligned PPG is the fixture's sine evaluated at the frame times (alignment by time, not index)."""
    aligned = recording.aligned_ppg(num_frames)
    assert aligned.shape == (num_frames,)
    offset, gain = scale
    expected = sine_ppg(recording.times_of_frames(num_frames))
    np.testing.assert_allclose((aligned - offset) / gain, expected, atol=tolerance)


def test_every_adapter_is_registered():
    for name in ["ubfc-rppg", "pure", "ubfc-phys", "mmpd", "rlap", "manifest"]:
        assert name in DATASETS and DATASETS.get(name).name == name


def test_ubfc_rppg_layout(tmp_path):
    recs = load_dataset("ubfc-rppg", make_ubfc_rppg(tmp_path, subjects=(3, 1, 10)))
    assert [r.id for r in recs] == ["subject1", "subject10", "subject3"]
    assert [r.subject for r in recs] == ["subject1", "subject10", "subject3"]
    for rec in recs:
        assert rec.fps == pytest.approx(30.0) and rec.hr_reference == pytest.approx(72.0)
        assert rec.video.name == "vid.avi" and open_video(rec.video).num_frames == 30
        assert_pulse_aligned(rec, 30, tolerance=1e-6)


def test_pure_layout(tmp_path):
    recs = load_dataset("pure", make_pure(tmp_path, names=("01-01", "02-04"), n_frames=20))
    assert [(r.id, r.subject, r.tags["motion"]) for r in recs] == [
        ("01-01", "01", "steady"),
        ("02-04", "02", "fast translation"),
    ]
    rec = recs[1]
    assert rec.video.is_dir() and open_video(rec.video, rec.fps).num_frames == 20
    assert rec.frame_times[0] == 0 and rec.frame_times[2] == pytest.approx((2 * 33_333_333 + 2_000_000) / 1e9)
    assert rec.ppg_times[0] == pytest.approx(-0.005)  # oximeter starts 5 ms before the first frame
    assert np.median(np.diff(rec.ppg_times)) == pytest.approx(1 / 60, rel=1e-3)
    assert rec.hr_reference == pytest.approx(72.0)
    assert_pulse_aligned(rec, 20, tolerance=0.03, scale=(100.0, 50.0))


def test_ubfc_phys_layout(tmp_path):
    recs = load_dataset("ubfc-phys", make_ubfc_phys(tmp_path, subjects=(2, 1), tasks=("T1", "T3")))
    assert [r.id for r in recs] == ["s1_T1", "s1_T3", "s2_T1", "s2_T3"]
    assert [r.subject for r in recs] == ["s1", "s1", "s2", "s2"]
    assert recs[1].tags == {"task": "T3", "activity": "arithmetic"}
    for rec in recs:
        assert rec.fps == pytest.approx(35.0)
        assert np.diff(rec.ppg_times) == pytest.approx(1 / 64)
        assert_pulse_aligned(rec, 35, tolerance=0.01)


def test_mmpd_layout_writes_a_lossless_cached_video(tmp_path):
    from scipy.io import loadmat

    root = make_mmpd(tmp_path / "mmpd", files=((1, 0), (1, 1), (2, 0)), n_frames=12)
    cache = tmp_path / "cache"
    recs = load_dataset("mmpd", root, cache=cache)
    assert [(r.id, r.subject) for r in recs] == [
        ("p1_0", "subject1"),
        ("p1_1", "subject1"),
        ("p2_0", "subject2"),
    ]
    assert recs[0].tags["light"] == "LED-low" and recs[1].tags["light"] == "Incandescent"
    assert set(recs[0].tags) == {
        "light",
        "motion",
        "exercise",
        "skin_color",
        "gender",
        "glasser",
        "hair_cover",
        "makeup",
    }
    assert recs[0].tags["skin_color"] == "3"
    for rec in recs:
        assert rec.video.parent == cache and rec.video.suffix == ".mkv"
        reader = open_video(rec.video)
        assert (reader.num_frames, reader.fps) == (12, 30.0)
        mat_video = loadmat(rec.source)["video"]
        np.testing.assert_array_equal(reader.read(), np.round(mat_video * 255).astype(np.uint8))
        assert_pulse_aligned(rec, 12, tolerance=1e-9)
    # second load: same files, not rewritten
    stamps = {r.video: r.video.stat().st_mtime_ns for r in recs}
    again = load_dataset("mmpd", root, cache=cache)
    assert {r.video: r.video.stat().st_mtime_ns for r in again} == stamps
    assert not list(cache.glob("*partial*"))


def test_mmpd_cache_follows_the_content(tmp_path):
    root = make_mmpd(tmp_path / "mmpd", files=((1, 0),), n_frames=6)
    first = load_dataset("mmpd", root, cache=tmp_path / "cache")[0].video
    make_mmpd(tmp_path / "mmpd", files=((1, 0),), n_frames=8)  # same name, new content
    second = load_dataset("mmpd", root, cache=tmp_path / "cache")[0].video
    assert first != second and open_video(second).num_frames == 8


def test_rlap_layout(tmp_path):
    recs = load_dataset("rlap", make_rlap(tmp_path, sessions=("p002/R2", "p001/E3"), n_frames=30))
    assert [(r.id, r.subject, r.tags) for r in recs] == [
        ("p001_E3", "p001", {"task": "E3", "activity": "watch a comedy", "lighting": "normal"}),
        ("p002_R2", "p002", {"task": "R2", "activity": "relaxed (dark)", "lighting": "dark"}),
    ]
    rec = recs[0]
    assert rec.video.name == "pictures_ZIP_RAW_RGB"  # the lossless frames are preferred
    reader = open_video(rec.video, rec.fps)
    assert reader.backend == "images" and reader.num_frames == 30
    np.testing.assert_array_equal(reader.read(0, 3), make_frames(30, seed=1)[:3])
    assert rec.fps == pytest.approx(1 / np.mean(np.diff(rec.frame_times)))  # from the recorded timestamps
    assert rec.frame_times[0] == 0 and np.all(np.diff(rec.frame_times) > 0.029)
    assert rec.ppg_times[0] == pytest.approx(0.01, abs=1e-6)  # BVP clock relative to the first frame
    assert_pulse_aligned(rec, 30, tolerance=0.12, scale=(40.0, 15.0))


def test_rlap_video_option_and_lone_recording(tmp_path):
    make_rlap(tmp_path, sessions=("p001/R1",), n_frames=20)
    rec = load_dataset("rlap", tmp_path, video="video_ZIP_H264.mp4")[0]
    assert rec.video.name == "video_ZIP_H264.mp4" and rec.fps == pytest.approx(30.0)
    # a single PhysRecorder folder as the root: its own name is the id and the subject
    lone = load_dataset("rlap", tmp_path / "p001" / "R1")[0]
    assert (lone.id, lone.subject, lone.tags) == ("R1", "R1", {})


def test_rlap_repeated_bvp_timestamps_are_averaged(tmp_path):
    root = make_rlap(tmp_path, sessions=("p001/R1",), n_frames=20, pictures=False)
    bvp = root / "p001" / "R1" / "BVP.csv"
    lines = bvp.read_text().splitlines()
    stamp = lines[3].split(",")[0]
    lines.insert(4, f"{stamp},1000")  # a second sample logged at the same instant
    bvp.write_text("\n".join(lines) + "\n")
    rec = load_dataset("rlap", root)[0]
    assert len(rec.ppg) == len(lines) - 2  # header and the merged duplicate
    assert rec.ppg[2] == pytest.approx((int(lines[3].split(",")[1]) + 1000) / 2)


def test_mmpd_default_cache_is_under_the_cache_dir(tmp_path):
    from benchmark.paths import cache_dir

    rec = load_dataset("mmpd", make_mmpd(tmp_path / "mmpd", files=((3, 1),), n_frames=6))[0]
    assert rec.video.parent == cache_dir() / "mmpd"
    assert (cache_dir() / "mmpd" / "hashes.json").is_file()


def test_manifest_layout(tmp_path):
    manifest = make_manifest(tmp_path, n_frames=24, fps=25)
    recs = load_dataset("manifest", manifest=manifest)
    assert [(r.id, r.subject, r.tags) for r in recs] == [
        ("alice_1", "alice", {"lighting": "daylight"}),
        ("alice_2", "alice", {"lighting": "lamp"}),
        ("c_frames", "bob", {"lighting": "daylight"}),
    ]
    for rec in recs:
        assert rec.fps == pytest.approx(25.0)
        assert_pulse_aligned(rec, 24, tolerance=1e-3)
    assert recs[2].video.is_dir()
    # the root may be the manifest itself, its folder, or come from RPPG_MANIFEST
    assert [r.id for r in load_dataset("manifest", manifest)] == [r.id for r in recs]
    assert [r.id for r in load_dataset("manifest", tmp_path)] == [r.id for r in recs]


def test_manifest_from_environment(tmp_path, monkeypatch):
    manifest = make_manifest(tmp_path)
    monkeypatch.setenv("RPPG_MANIFEST", str(manifest))
    assert len(load_dataset("manifest")) == 3


@pytest.mark.parametrize(
    "name,var",
    [
        ("ubfc-rppg", "UBFC_RPPG_ROOT"),
        ("pure", "PURE_ROOT"),
        ("ubfc-phys", "UBFC_PHYS_ROOT"),
        ("mmpd", "MMPD_ROOT"),
        ("rlap", "RLAP_ROOT"),
        ("manifest", "RPPG_MANIFEST"),
    ],
)
def test_missing_root_names_the_variable(monkeypatch, name, var):
    monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match=var):
        load_dataset(name)


def test_root_from_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("UBFC_RPPG_ROOT", str(make_ubfc_rppg(tmp_path, subjects=(5,))))
    assert [r.id for r in load_dataset("ubfc-rppg")] == ["subject5"]


# ----------------------------------------------------------------------------- the real recording
def _hr_bpm(ppg: np.ndarray, fps: float) -> float:
    from benchmark.evaluation.hr import estimate_hr

    return estimate_hr(ppg, fps)


@pytest.mark.shared
def test_real_physrecorder_through_rlap_and_manifest(physrecorder_dir, tmp_path):
    import pandas as pd

    rec = load_dataset("rlap", physrecorder_dir)[0]
    reader = open_video(rec.video)
    assert reader.num_frames == 602 and rec.fps == pytest.approx(30.0)
    aligned = rec.aligned_ppg(reader.num_frames)
    assert aligned.shape == (602,)
    assert 70.0 <= _hr_bpm(aligned, rec.fps) <= 71.0

    # the same files described by a manifest: ground truth as time_s,ppg, frame times as time_s
    frames = pd.read_csv(physrecorder_dir / "frames_timestamp.csv")
    bvp = pd.read_csv(physrecorder_dir / "BVP.csv")
    t0 = frames["timestamp"].iloc[0]
    pd.DataFrame({"time_s": bvp["timestamp"] - t0, "ppg": bvp["bvp"]}).to_csv(
        tmp_path / "gt.csv", index=False
    )
    pd.DataFrame({"time_s": frames["timestamp"] - t0}).to_csv(tmp_path / "frames.csv", index=False)
    (tmp_path / "manifest.csv").write_text(
        "subject,video,ground_truth,frame_times\n"
        f"me,{physrecorder_dir / 'video_ZIP_H264.avi'},gt.csv,frames.csv\n"
    )
    via_manifest = load_dataset("manifest", tmp_path)[0]
    aligned_m = via_manifest.aligned_ppg(602)
    np.testing.assert_allclose(aligned_m, aligned, atol=1e-9)
    assert 70.0 <= _hr_bpm(aligned_m, via_manifest.fps) <= 71.0


# ------------------------------------------------------------------------------------ bad input
def test_missing_video(tmp_path):
    root = make_ubfc_rppg(tmp_path, subjects=(1,))
    (root / "subject1" / "vid.avi").unlink()
    with pytest.raises(DataError, match="video not found") as info:
        load_dataset("ubfc-rppg", root)
    assert info.value.path == root / "subject1" / "vid.avi"


def test_truncated_video(tmp_path):
    root = make_rlap(tmp_path, sessions=("p001/R1",), n_frames=60, pictures=False)
    video = truncate(root / "p001" / "R1" / "video_ZIP_H264.mp4", 0.6)
    with pytest.raises(DataError, match="(truncated|unreadable) or corrupt") as info:
        load_dataset("rlap", root)
    assert info.value.path == video


def test_corrupt_video(tmp_path):
    manifest = make_manifest(tmp_path)
    (tmp_path / "videos" / "b.mp4").write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DataError, match="unreadable or corrupt video") as info:
        load_dataset("manifest", manifest)
    assert info.value.path == tmp_path / "videos" / "b.mp4"


def test_empty_ground_truth(tmp_path):
    root = make_ubfc_phys(tmp_path, subjects=(1,), tasks=("T2",))
    (root / "s1" / "bvp_s1_T2.csv").write_text("")
    with pytest.raises(DataError, match="empty") as info:
        load_dataset("ubfc-phys", root)
    assert info.value.path == root / "s1" / "bvp_s1_T2.csv"
    manifest = make_manifest(tmp_path / "m")
    (tmp_path / "m" / "gt" / "a.csv").write_text("time_s,ppg\n")
    with pytest.raises(DataError, match="no data rows") as info:
        load_dataset("manifest", manifest)
    assert info.value.path == tmp_path / "m" / "gt" / "a.csv"


def test_nan_in_ground_truth(tmp_path):
    manifest = make_manifest(tmp_path)
    gt = tmp_path / "gt" / "b.csv"
    lines = gt.read_text().splitlines()
    lines[5] = "nan"
    gt.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="NaN") as info:
        load_dataset("manifest", manifest)
    assert info.value.path == gt


def test_text_in_ground_truth(tmp_path):
    root = make_ubfc_rppg(tmp_path, subjects=(1,))
    gt = root / "subject1" / "ground_truth.txt"
    gt.write_text(gt.read_text().replace("e-01", "e-0x", 1))
    with pytest.raises(DataError, match="not a number") as info:
        load_dataset("ubfc-rppg", root)
    assert info.value.path == gt


def test_ground_truth_shorter_than_video(tmp_path):
    root = make_rlap(tmp_path, sessions=("p001/R1",), n_frames=30)
    write_rlap_csvs(root / "p001" / "R1", 30, 1_685_590_249.95, bvp_end_s=0.5)  # video runs ~1 s
    with pytest.raises(DataError, match="shorter than the video") as info:
        load_dataset("rlap", root)
    assert info.value.path == root / "p001" / "R1" / "BVP.csv"


def test_unreadable_json(tmp_path):
    root = make_pure(tmp_path, names=("01-02",), n_frames=5)
    (root / "01-02" / "01-02.json").write_text('{"/FullPackage": [ {"Timestamp": 1, ')
    with pytest.raises(DataError, match="unreadable JSON") as info:
        load_dataset("pure", root)
    assert info.value.path == root / "01-02" / "01-02.json"


def test_corrupt_mat_file(tmp_path):
    root = make_mmpd(tmp_path / "mmpd", files=((1, 0),), n_frames=4)
    mat = root / "subject1" / "p1_0.mat"
    truncate(mat, 0.3)
    with pytest.raises(DataError, match="no 'GT_ppg' variable \\(truncated") as info:
        load_dataset("mmpd", root, cache=tmp_path / "cache")
    assert info.value.path == mat
    mat.write_bytes(b"MATLAB 5.0 MAT-file, but then garbage" * 10)
    with pytest.raises(DataError, match="unreadable .mat file") as info:
        load_dataset("mmpd", root, cache=tmp_path / "cache")
    assert info.value.path == mat


def test_json_without_the_waveform(tmp_path):
    root = make_pure(tmp_path, names=("01-02",), n_frames=5)
    (root / "01-02" / "01-02.json").write_text('{"/Image": [{"Timestamp": 1}]}')
    with pytest.raises(DataError, match="/FullPackage"):
        load_dataset("pure", root)


def test_wrong_column_names(tmp_path):
    root = make_rlap(tmp_path, sessions=("p001/R1",), n_frames=10)
    bvp = root / "p001" / "R1" / "BVP.csv"
    bvp.write_text(bvp.read_text().replace("timestamp,bvp", "time,value", 1))
    with pytest.raises(DataError, match="expected columns timestamp, bvp") as info:
        load_dataset("rlap", root)
    assert info.value.path == bvp and "found: time, value" in str(info.value)
    manifest = make_manifest(tmp_path / "m")
    (tmp_path / "m" / "gt" / "a.csv").write_text("t,signal\n0,1\n")
    with pytest.raises(DataError, match="expected columns time_s,ppg"):
        load_dataset("manifest", manifest)


def test_manifest_row_pointing_nowhere(tmp_path):
    manifest = make_manifest(tmp_path)
    manifest.write_text(manifest.read_text() + "carol,videos/missing.mp4,gt/a.csv,,,\n")
    with pytest.raises(DataError, match=r"line 5: video .*missing\.mp4 does not exist") as info:
        load_dataset("manifest", manifest)
    assert info.value.path == manifest


def test_manifest_without_required_columns(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("who,clip\nalice,a.mp4\n")
    with pytest.raises(DataError, match="missing subject, video, ground_truth"):
        load_dataset("manifest", manifest)


def test_png_count_disagreeing_with_json(tmp_path):
    root = make_pure(tmp_path, names=("01-01",), n_frames=6)
    sorted((root / "01-01" / "01-01").glob("*.png"))[-1].unlink()
    with pytest.raises(DataError, match="/Image lists 6 frames"):
        load_dataset("pure", root)


def test_cli_prints_an_error_not_a_traceback(tmp_path):
    manifest = make_manifest(tmp_path)
    (tmp_path / "gt" / "a.csv").write_text("time_s,ppg\n0,1\n0.1,nan\n")
    result = subprocess.run(
        [sys.executable, "-m", "benchmark", "data", "manifest", "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1  # a bad recording is listed with its reason, the others still checked
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("alice_1 ")]
    assert "error: " in line and "a.csv" in line and "NaN" in line
    manifest.write_text("who,clip\nalice,a.mp4\n")  # the manifest itself is wrong: an error, status 2
    whole = subprocess.run(
        [sys.executable, "-m", "benchmark", "data", "manifest", "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert whole.returncode == 2 and "Traceback" not in whole.stderr
    assert whole.stderr.startswith("error: ") and "missing subject, video, ground_truth" in whole.stderr
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark",
            "data",
            "manifest",
            "--manifest",
            str(make_manifest(tmp_path / "ok")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "manifest: 3 recordings, 2 subjects" in ok.stdout


def test_frames_fixture_is_not_constant():
    frames = make_frames(3)
    assert not np.array_equal(frames[0], frames[1])
