"""Face stage on the real PhysRecorder video (Haar and MediaPipe), and on a rendered video with no face."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from benchmark.data.face import FACE_DETECTORS, FaceConfig, FaceTracker, crop_window
from benchmark.data.video import open_video
from benchmark.errors import ConfigError, NoFaceError


def real_video(physrecorder_dir: Path) -> Path:
    return physrecorder_dir / "video_ZIP_H264.avi"


def track(path: Path, config: FaceConfig, size: int = 64, stop: int | None = None, blank=range(0)):
    """Runs the tracker over a video in 256-frame chunks; frames in `blank` are replaced by flat grey."""
    with open_video(path) as reader:
        tracker = FaceTracker(config, size, reader.fps, path)
        parts, start = [], 0
        for chunk in reader.iter_chunks(256, 0, stop):
            for i in range(len(chunk)):
                if start + i in blank:
                    chunk[i] = 128
            parts.append(tracker.process(chunk, start))
            start += len(chunk)
        shape = (reader.height, reader.width)
    boxes = np.concatenate([p.boxes for p in parts])
    missing = np.concatenate([p.face_missing for p in parts])
    crops = np.concatenate([p.crops for p in parts])
    return tracker, crops, boxes, missing, shape


DETECTORS = ("haar", "mediapipe")


@pytest.fixture(scope="module")
def sampled_frames(physrecorder_dir) -> list[np.ndarray]:
    """Frames 0, 30, 60, ... of the real video (where the tracker detects), decoded once for both."""
    with open_video(real_video(physrecorder_dir)) as reader:
        return [chunk[0] for chunk in reader.iter_chunks(30)]


@pytest.mark.parametrize("detector", DETECTORS)
def test_face_found_in_every_sampled_frame(sampled_frames, detector):
    detect = FACE_DETECTORS.get(detector)(FaceConfig(detector=detector))
    frames = sampled_frames
    assert len(frames) == 21
    found = [detect(frame) for frame in frames]
    assert all(len(f) >= 1 for f in found), [len(f) for f in found]
    for faces in found:  # a face-sized box near the middle of a 640x480 webcam frame, not the frame itself
        x, y, w, h = faces[np.argmax(faces[:, 2] * faces[:, 3])]
        assert 100 < w < 300 and 150 < x + w / 2 < 490 and 100 < y + h / 2 < 380


@pytest.mark.slow
def test_tracker_crops_whole_real_video(physrecorder_dir):
    tracker, crops, boxes, missing, (h, w) = track(real_video(physrecorder_dir), FaceConfig(), size=72)
    stats = tracker.finish()
    assert stats == {"sampled": 21, "detected": 21, "missing_frames": 0}
    assert crops.shape == (602, 72, 72, 3) and crops.dtype == np.uint8
    assert not missing.any()
    assert (boxes[:, 2] == boxes[:, 3]).all() and (boxes[:, 2] < h).all()  # square, never the full frame
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= w).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= h).all()
    # Boxes are smoothed: no jump bigger than a few percent of the box between consecutive frames.
    assert np.abs(np.diff(boxes, axis=0)).max() < 0.1 * boxes[:, 2].mean()
    # The centre of the crop is the face: skin has more red than green or blue (the background does not).
    r, g, b = crops[:, 26:46, 26:46].reshape(-1, 3).astype(float).mean(axis=0)
    assert r > g + 10 and r > b + 10


def test_gap_reuses_box_then_marks_missing(physrecorder_dir):
    config = FaceConfig(detect_every=30, retry_every=5, max_gap_s=1.0)  # 30 frames at 30 fps
    tracker, crops, boxes, missing, _ = track(
        real_video(physrecorder_dir), config, stop=250, blank=range(90, 210)
    )
    tracker.finish()
    # Last detection at 60 holds to 90; the face is found again at 210, whose box covers 180..209.
    expected = np.zeros(250, bool)
    expected[91:180] = True
    np.testing.assert_array_equal(missing, expected)
    assert (boxes[missing] >= 0).all()  # flagged frames keep the last box's crop, never the full frame
    assert tracker.missing == 89


@pytest.mark.parametrize("detector", DETECTORS)
def test_no_face_raises_named_error(tmp_path, detector):
    path = tmp_path / "no_face.mp4"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:240, :320]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(60):  # a moving colour gradient with a drifting disc: structure, but no face
            img = np.stack([(xx + 3 * i) % 256, (yy + i) % 256, np.full_like(xx, 90)], axis=-1)
            img[(xx - 100 - i) ** 2 + (yy - 120) ** 2 < 900] = rng.integers(0, 255, 3)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tracker, _, _, missing, _ = track(path, FaceConfig(detector=detector))
    assert missing.all()
    message = f"no_face.mp4.*no face found in any of 12 sampled frames \\(detector '{detector}'\\)"
    with pytest.raises(NoFaceError, match=message):
        tracker.finish()


def test_config_key_and_validation():
    assert FaceConfig().key() == FaceConfig().key()
    assert FaceConfig(scale=1.6).key() != FaceConfig().key()
    with pytest.raises(ConfigError):
        FaceConfig(detect_every=0)
    with pytest.raises(ConfigError, match="unknown face detector"):
        FaceTracker(FaceConfig(detector="nope"), 64, 30.0, "x")


def test_crop_window_stays_inside_frame():
    assert crop_window(np.array([320.0, 240.0, 150.0]), 480, 640) == (245, 165, 150)
    assert crop_window(np.array([10.0, 10.0, 100.0]), 480, 640) == (0, 0, 100)  # shifted in, not shrunk
    assert crop_window(np.array([320.0, 240.0, 900.0]), 480, 640) == (80, 0, 480)  # larger than the frame


def test_detector_jitter_inside_the_tolerance_leaves_the_box_still():
    """A few pixels of detector jitter must not step the crop (each step is a false pulse for CHROM/POS)."""
    from benchmark.data.face import FaceConfig, FaceTracker

    tracker = FaceTracker(FaceConfig(hold_tolerance=0.1), size=8, fps=30.0, name="jitter")
    tracker.box = np.array([100.0, 100.0, 90.0])
    tracker.last_good = 0
    assert tracker._within_tolerance(np.array([104.0, 97.0, 93.0]))
    assert not tracker._within_tolerance(np.array([120.0, 100.0, 90.0]))


def test_preprocessed_cache_key_differs_between_detectors(tmp_path):
    from benchmark.data.compression import get_level
    from benchmark.data.preprocess import cache_key
    from benchmark.data.recording import Recording

    video = tmp_path / "v.mkv"
    video.write_bytes(b"not decoded: the key hashes the bytes")
    rec = Recording("synth", "s00-still", "s00", video, np.zeros(3), np.arange(3.0), 30.0)
    keys = {name: cache_key(rec, get_level("raw"), FaceConfig(detector=name), 72) for name in DETECTORS}
    assert keys["haar"] != keys["mediapipe"]
    assert keys["haar"] == cache_key(rec, get_level("raw"), FaceConfig(), 72)  # haar is the default


def test_missing_mediapipe_model_names_file_and_make_target(tmp_path, monkeypatch):
    from benchmark.data.face import MEDIAPIPE_MODEL_ENV

    missing = tmp_path / "nowhere" / "face.tflite"
    monkeypatch.setenv(MEDIAPIPE_MODEL_ENV, str(missing))
    with pytest.raises(ConfigError, match=f"{missing}.*missing.*make install"):
        FaceTracker(FaceConfig(detector="mediapipe"), 64, 30.0, "x")


def test_model_extraction_checks_the_pinned_hash(tmp_path):
    import zipfile

    from benchmark.data.face import MEDIAPIPE_MEMBER, extract_mediapipe_model

    with pytest.raises(ConfigError, match="no mediapipe wheel"):
        extract_mediapipe_model(tmp_path, tmp_path / "m.tflite")
    with zipfile.ZipFile(tmp_path / "mediapipe-0.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("mediapipe/other.tflite", b"not the face model")
    with pytest.raises(ConfigError, match="cannot read mediapipe/modules/face_detection"):
        extract_mediapipe_model(tmp_path, tmp_path / "m.tflite")
    with zipfile.ZipFile(tmp_path / "mediapipe-0.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr(MEDIAPIPE_MEMBER, b"a different model")
    with pytest.raises(ConfigError, match="not the pinned model"):
        extract_mediapipe_model(tmp_path, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


FIT_AFTER_MEDIAPIPE = """
import numpy as np, pytorch_lightning as pl, torch
from benchmark.data.face import FaceConfig, mediapipe_detector
mediapipe_detector(FaceConfig(detector="mediapipe"))(np.zeros((120, 160, 3), np.uint8))

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
    def training_step(self, batch, _):
        return self.lin(batch[0]).pow(2).mean()
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 4)), batch_size=8)
pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
           default_root_dir={root!r}).fit(Tiny(), data)
print("fit done")
"""


@pytest.mark.slow
def test_lightning_fit_survives_a_mediapipe_detector_in_the_same_process(tmp_path):
    """Regression: after a MediaPipe graph, a Lightning fit in the same process died of SIGPROF."""
    import subprocess
    import sys

    code = FIT_AFTER_MEDIAPIPE.format(root=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fit done" in proc.stdout


def test_tracker_on_frame_chunks_matches_rgb_frames(physrecorder_dir):
    """The preprocessing path hands the tracker FrameChunks (only windows converted to RGB): the crops and
    boxes must be the bytes RGB frames give."""
    path = real_video(physrecorder_dir)
    _, crops, boxes, missing, _ = track(path, FaceConfig(), size=64, stop=200)
    with open_video(path) as reader:
        tracker = FaceTracker(FaceConfig(), 64, reader.fps, path)
        parts, start = [], 0
        for chunk in reader.iter_frame_chunks(64, 0, 200):
            assert type(chunk).__name__ == "YUV420Chunk"
            parts.append(tracker.process(chunk, start))
            start += len(chunk)
    np.testing.assert_array_equal(np.concatenate([p.crops for p in parts]), crops)
    np.testing.assert_array_equal(np.concatenate([p.boxes for p in parts]), boxes)
    np.testing.assert_array_equal(np.concatenate([p.face_missing for p in parts]), missing)


def test_detect_region_is_opt_in_and_leaves_earlier_cache_keys_alone():
    import hashlib
    import json
    from dataclasses import asdict

    fields = asdict(FaceConfig())
    del fields["detect_region"]  # the key the default config had before the field existed
    before = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    assert FaceConfig().key() == before and FaceConfig(detect_region=0.0).key() == before
    assert FaceConfig(detect_region=1.5).key() != before
    with pytest.raises(ConfigError, match="detect_region"):
        FaceConfig(detect_region=0.5)


def test_detect_region_tracks_the_real_face(physrecorder_dir):
    """Opt-in detection in a window around the held box: every sampled frame still finds the face, and the
    boxes stay within a few pixels of whole-frame detection's (they are not identical: see FaceConfig)."""
    path = real_video(physrecorder_dir)
    tracker, _, boxes, missing, _ = track(path, FaceConfig(detect_region=1.5), size=32, stop=300)
    _, _, whole, _, _ = track(path, FaceConfig(), size=32, stop=300)
    assert tracker.finish() == {"sampled": 10, "detected": 10, "missing_frames": 0} and not missing.any()
    assert np.abs(boxes - whole).max() <= 4
