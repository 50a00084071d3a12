"""SynthPulse: determinism, honest ground truth, lossless video, cache, adapter, and the pulse in the pixels.

Everything runs on tiny clips generated here (160x120, a few seconds), through the real writer (PyAV FFV1),
the real reader (decord) and the real detector (OpenCV Haar).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2  # noqa: F401  (before decord: decord's zlib breaks OpenCV's PNG codec otherwise)
import numpy as np
import pytest
import yaml

from benchmark.data.datasets import DATASETS, load_dataset
from benchmark.data.datasets.synth import SynthPulse, read_recording, split_subjects
from benchmark.data.synth.faces import TONE_NAMES
from benchmark.data.synth.generate import (
    MARKER,
    VIDEO_FILE,
    generate,
    is_complete,
    write_recording,
    write_video,
)
from benchmark.data.synth.physics import HR_LIMITS, PulseModel, sample_pulse_params
from benchmark.data.synth.presets import PRESETS, get_preset
from benchmark.data.synth.subjects import build_subject
from benchmark.errors import ConfigError, DataError
from benchmark.paths import PROJECT_ROOT

TINY = dict(subjects=2, scenarios=("combined",), duration_s=2.0, width=160, height=120)


def decode(path: Path) -> np.ndarray:
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def periodogram_hr(x: np.ndarray, fs: float) -> float:
    from scipy import signal

    f, p = signal.periodogram(signal.detrend(x), fs, nfft=1 << 16)
    band = (f >= 0.6) & (f <= 3.0)
    return float(60.0 * f[band][np.argmax(p[band])])


def test_presets_in_yaml_equal_the_builtin_ones():
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "datasets" / "synth.yaml").read_text())
    assert config["name"] == "synth" and "synth" in DATASETS
    assert set(config["presets"]) == set(PRESETS) == {"smoke", "quick", "full"}
    for name, fields in config["presets"].items():
        assert get_preset(name, **fields) == PRESETS[name]
    with pytest.raises(ConfigError, match="unknown SynthPulse preset"):
        get_preset("huge")
    with pytest.raises(ConfigError, match="unknown scenario"):
        get_preset("smoke", scenarios=["dancing"])
    with pytest.raises(ConfigError, match="unknown scenario"):
        get_preset("smoke", scenarios=["motion-extreme"])
    assert get_preset("smoke", scenarios=["motion-high", "skin-none"]).scenarios == (
        "motion-high",
        "skin-none",
    )


def test_scenarios_are_levels_of_each_nuisance_and_the_ladder_shares_still():
    from benchmark.data.synth.scenes import LEVELS, NUISANCES, SCENARIOS

    assert SCENARIOS["still"].levels == dict(
        motion="low", talking="none", lighting="low", camera="medium", skin="subject"
    )
    assert SCENARIOS["combined"].levels == dict(
        motion="medium", talking="medium", lighting="medium", camera="medium", skin="subject"
    )
    for nuisance in NUISANCES:
        for level in LEVELS:
            scene = SCENARIOS[f"{nuisance}-{level}"]
            assert scene.seed_name == "still" and scene.levels[nuisance] == level
            others = {k: v for k, v in scene.levels.items() if k != nuisance}
            assert others == {k: v for k, v in SCENARIOS["still"].levels.items() if k != nuisance}


def test_a_ladder_level_equal_to_still_is_the_still_recording(tmp_path):
    preset = get_preset("smoke", **{**TINY, "scenarios": ("still",)})
    a = write_recording(tmp_path, preset, 0, 1, "still")
    b = write_recording(tmp_path, preset, 0, 1, "motion-low")
    np.testing.assert_array_equal(decode(a / VIDEO_FILE), decode(b / VIDEO_FILE))
    assert (a / "ppg.csv").read_bytes() == (b / "ppg.csv").read_bytes()
    c = write_recording(tmp_path, preset, 0, 1, "motion-high")
    assert (c / "ppg.csv").read_bytes() == (a / "ppg.csv").read_bytes()  # same heart rhythm
    assert np.mean(decode(c / VIDEO_FILE) != decode(a / VIDEO_FILE)) > 0.02


def test_motion_is_aperiodic_and_grows_with_the_level():
    from benchmark.data.synth.scenes import SCENARIOS, trajectories

    fps, times = 30.0, np.arange(1800) / 30.0
    seeds = dict(zip(("motion", "talking", "lighting", "camera"), np.random.SeedSequence(3).spawn(4)))
    sway = []
    for level in ("none", "low", "medium", "high"):
        tr = trajectories(SCENARIOS[f"motion-{level}"], times, fps, seeds)
        sway.append(float(np.std(tr.dx)))
        if level in ("medium", "high"):
            f = np.fft.rfftfreq(times.size, 1 / fps)
            power = np.abs(np.fft.rfft(tr.dx - tr.dx.mean())) ** 2
            band = (f >= 0.75) & (f <= 2.5)
            # no spectral line in the pulse band: its largest bin holds a small share of the band's power
            assert power[band].max() < 0.2 * power[band].sum()
            assert np.abs(tr.angle_deg).max() <= 10.0
    assert sway[0] == 0.0 and sway[1] < sway[2] < sway[3]


def test_master_round_trip_through_decord_and_the_reader_is_pixel_exact(tmp_path):
    from benchmark.data.video import open_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (7, 120, 160, 3), dtype=np.uint8)
    write_video(tmp_path / VIDEO_FILE, iter(frames), 30.0, 160, 120)
    np.testing.assert_array_equal(decode(tmp_path / VIDEO_FILE), frames)
    with open_video(tmp_path / VIDEO_FILE) as reader:  # PyAV, decoded to packed bgr0 (the window path)
        assert (reader.num_frames, reader.fps) == (7, 30.0)
        np.testing.assert_array_equal(np.concatenate(list(reader.iter_chunks(3))), frames)
        chunk = next(reader.iter_frame_chunks(7))
        np.testing.assert_array_equal(chunk.region(2, 13, 7, 41, 33), frames[2, 7:40, 13:54])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ground_truth_heart_rate_matches_the_generator(seed):
    from scipy.signal import find_peaks

    rng = np.random.default_rng(seed)
    params = sample_pulse_params(rng, ptt_offset_s=0.3)
    model = PulseModel(params, 60.0, rng)
    fs = 240.0
    t = np.arange(0, 60.0, 1 / fs)
    ref = model.reference(t)
    lo, hi = model.hr_range()
    assert HR_LIMITS[0] <= lo <= hi <= HR_LIMITS[1] and hi - lo > 1.0  # the rate drifts and varies
    # Systolic peaks of the ground truth (the dicrotic wave is within 0.6 of the shortest period).
    peaks, _ = find_peaks(ref, distance=int(0.6 * fs * 60 / hi))
    from_beats = 60.0 * (len(peaks) - 1) / (t[peaks[-1]] - t[peaks[0]])
    assert abs(from_beats - model.mean_hr()) < 1.0
    intervals = np.diff(t[peaks])
    assert intervals.std() > 0.005  # beat-to-beat variability
    # Whole-minute spectrum: the peak lies inside the generator's heart-rate range.
    assert lo - 1 <= periodogram_hr(ref[::8], fs / 8) <= hi + 1
    # The face signal leads the reference by the pulse-transit offset.
    np.testing.assert_allclose(model.face(t[300:-300] - 0.3), ref[300:-300])


def test_ppg_has_a_systolic_peak_and_a_dicrotic_notch():
    rng = np.random.default_rng(4)
    params = sample_pulse_params(rng, 0.0)
    model = PulseModel(params, 10.0, rng)
    t = np.arange(0, 10.0, 1 / 240)
    x = model.reference(t)
    d = np.diff(x)
    maxima = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0))
    beats = model.mean_hr() / 60.0 * 10.0
    assert len(maxima) >= 1.8 * (beats - 1)  # a systolic and a diastolic maximum per beat


def test_same_seed_is_identical_and_another_seed_differs(tmp_path):
    preset = get_preset("smoke", **TINY)
    a = write_recording(tmp_path / "a", preset, 0, 1, "combined")
    b = write_recording(tmp_path / "b", preset, 0, 1, "combined")
    c = write_recording(tmp_path / "c", preset, 1, 1, "combined")
    assert (a / "ppg.csv").read_bytes() == (b / "ppg.csv").read_bytes()
    assert (a / "meta.json").read_bytes() == (b / "meta.json").read_bytes()
    fa, fb, fc = decode(a / VIDEO_FILE), decode(b / VIDEO_FILE), decode(c / VIDEO_FILE)
    assert fa.shape == (60, 120, 160, 3)
    np.testing.assert_array_equal(fa, fb)
    assert (a / "ppg.csv").read_bytes() != (c / "ppg.csv").read_bytes()
    assert np.mean(fa != fc) > 0.5


def test_subjects_span_skin_tones_differ_and_are_detected():
    subjects = [build_subject(0, k, 160, 120) for k in range(12)]
    assert [s.skin_tone for s in subjects[:6]] == TONE_NAMES
    assert {s.kind for s in subjects} == {"procedural", "photo"}
    assert len({s.ptt_offset_s for s in subjects}) == 12
    assert all(abs(s.ptt_offset_s) <= 0.5 for s in subjects)
    # Darker tones reflect less light: mean green albedo of the pulsatile skin falls from I to VI.
    pulse_maps = [s.layer.maps[..., 0] for s in subjects]
    skin_green = [float((s.layer.albedo[..., 1] * m).sum() / m.sum()) for s, m in zip(subjects, pulse_maps)]
    assert skin_green[0] > 3 * skin_green[5] and skin_green[6] > 3 * skin_green[11]
    backgrounds = np.stack([s.background for s in subjects]).reshape(12, -1)
    assert np.min(np.abs(backgrounds[:, None] - backgrounds[None]).mean(-1) + np.eye(12)) > 0.01


def test_generation_is_cached_and_atomic(tmp_path):
    preset = get_preset("smoke", **TINY)
    folder = generate(preset, seed=3, root=tmp_path, jobs=1)
    assert folder.name.startswith("smoke-seed3-") and (folder / MARKER).is_file()
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert generate(preset, seed=3, root=tmp_path, jobs=1) == folder
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == stamps  # nothing rewritten
    # An interrupted run (no marker, one recording missing) resumes with the missing one only.
    os.remove(folder / MARKER)
    kept = folder / "s00-combined" / VIDEO_FILE
    kept_time = kept.stat().st_mtime_ns
    for f in (folder / "s01-combined").iterdir():
        f.unlink()
    (folder / "s01-combined").rmdir()
    generate(preset, seed=3, root=tmp_path, jobs=1)
    assert (folder / MARKER).is_file() and (folder / "s01-combined" / VIDEO_FILE).is_file()
    assert kept.stat().st_mtime_ns == kept_time
    assert not list(folder.glob("*.tmp*"))
    # Data written by another generator version is not trusted: it is regenerated.
    for meta in [folder / MARKER, *folder.glob("*/meta.json")]:
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "generator_version": 0}))
    generate(preset, seed=3, root=tmp_path, jobs=1)
    assert kept.stat().st_mtime_ns != kept_time
    assert json.loads((folder / MARKER).read_text())["generator_version"] > 0


def _generate_tiny(root: str) -> str:
    return str(generate(get_preset("smoke", **TINY), seed=4, root=Path(root), jobs=1))


def test_two_processes_building_one_dataset_at_once_both_finish_with_the_same_bytes(tmp_path):
    """Two zoo trainings started at once build one SynthPulse: neither may fail or tear the other's files."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        folders = list(pool.map(_generate_tiny, [str(tmp_path)] * 2))
    assert folders[0] == folders[1] and is_complete(Path(folders[0]))
    folder = Path(folders[0])
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["s00-combined", "s01-combined"]
    alone = generate(get_preset("smoke", **TINY), seed=4, root=tmp_path / "alone", jobs=1)
    for rec in ("s00-combined", "s01-combined"):
        assert np.array_equal(decode(folder / rec / VIDEO_FILE), decode(alone / rec / VIDEO_FILE)), rec
        for name in ("ppg.csv", "meta.json"):
            assert (folder / rec / name).read_bytes() == (alone / rec / name).read_bytes(), (rec, name)


def test_adapter_yields_recordings_with_truth_and_a_subject_disjoint_split(tmp_path):
    recs = load_dataset("synth", tmp_path, preset="smoke", seed=5, jobs=1, **{**TINY, "subjects": 3})
    assert [r.id for r in recs] == ["s00-combined", "s01-combined", "s02-combined"]
    for r in recs:
        assert r.dataset == "synth" and r.fps == 30.0 and r.video.name == VIDEO_FILE
        assert {"scenario", "skin_tone", "motion", "lighting", "split", "ptt_offset_s"} <= set(r.tags)
        assert r.tags["scenario"] == "combined" and r.tags["lighting"] == "medium"
        assert r.tags["level_motion"] == "medium" and r.tags["level_skin"] == "subject"
        meta = json.loads((r.video.parent / "meta.json").read_text())
        assert float(r.tags["ptt_offset_s"]) == meta["ptt_offset_s"]
        assert r.hr_reference == meta["hr_mean_bpm"] and 45 <= r.hr_reference <= 150
        assert r.aligned_ppg(60).shape == (60,)
    assert sorted(r.tags["split"] for r in recs) == ["test", "train", "val"]
    with pytest.raises(DataError, match="not generated"):
        SynthPulse(tmp_path, preset="smoke", seed=6, generate=False, **TINY).recordings()


def test_split_is_deterministic_and_disjoint():
    subjects = [f"s{k:02d}" for k in range(12)]
    a, b = split_subjects(subjects, 0), split_subjects(list(reversed(subjects)), 0)
    assert a == b and sorted(a) == subjects
    counts = {s: list(a.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 8, "val": 2, "test": 2}
    assert split_subjects(subjects, 1) != a


def test_corrupt_ground_truth_is_a_data_error_naming_the_file(tmp_path):
    folder = write_recording(tmp_path, get_preset("smoke", **TINY), 0, 0, "combined")
    (folder / "ppg.csv").write_text("time_s,ppg\n0.0,1.0\nbroken\n")
    with pytest.raises(DataError, match="ppg.csv"):
        read_recording(folder)


@pytest.fixture(scope="module")
def still_and_combined(tmp_path_factory):
    """Four subjects (tones I..IV) x still/combined, 10 s at 160x120: the smoke preset's shape."""
    root = tmp_path_factory.mktemp("synth_pulse")
    return SynthPulse(root, preset="smoke", seed=0, subjects=4, jobs=2).recordings()


@pytest.mark.slow
def test_pulse_is_in_the_pixels_and_nuisances_hurt(still_and_combined):
    from scipy import signal

    from benchmark.data.synth.check import evaluate, face_rgb_trace, mae_by

    methods = ("pos", "green", "chrom")
    rows = evaluate(still_and_combined, methods=methods)
    mae = mae_by(rows, "scenario", methods=methods)
    assert mae["still"]["pos"] < 2.0, rows
    # Motion and lighting changes hurt, on average by a lot, GREEN (no defence against them) most. Errors
    # are all-or-nothing per recording, so on 4 subjects one method's still can lose a subject that its
    # combined keeps; tests/test_synth_calibration.py checks each method's order on more subjects.
    assert mae["combined"]["green"] > mae["still"]["green"] + 5.0, rows
    assert np.mean([mae["combined"][m] - mae["still"][m] for m in methods]) > 3.0, rows
    # The suite's detector finds exactly one face in every sampled frame (every 10th).
    assert all(r["detection_rate"] == 1.0 for r in rows), rows
    # Pulse amplitude in the pixels: a fraction of a grey level to a few, as in real video.
    rec = next(r for r in still_and_combined if r.tags["scenario"] == "still")
    trace, _ = face_rgb_trace(rec.video)
    sos = signal.butter(3, (0.75, 2.5), "bandpass", fs=rec.fps, output="sos")
    green = signal.sosfiltfilt(sos, trace[:, 1])
    swing = np.percentile(green, 95) - np.percentile(green, 5)
    assert 0.1 < swing < 3.0, swing
