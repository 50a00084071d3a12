"""Face stage: detect every k frames, smooth the box, enlarge it to a square, crop and resize to S x S uint8.

Loud about failure: frames far from any detection are marked `face_missing`, and a recording with no face
at all raises NoFaceError naming it. The full frame is never used in place of a face.

Detectors (FaceConfig.detector, part of the cache key): `haar` (OpenCV's cascade, the default) and
`mediapipe` (MediaPipe Tasks FaceDetector, BlazeFace short range; `make install` extracts its model).
Haar stays the default, by bench/face_detectors.py (table in docs/datasets.md): MediaPipe detects at least
as often (every frame of the real video: 100 % vs 98.7 %; SynthPulse raw and x264-250k: both 100 %),
jitters less and is ~10x faster per detection, but heart rate from its crops is no better (real video, Haar
vs MediaPipe: POS 70.2 vs 70.2, CHROM 70.8 vs 71.0 bpm; SynthPulse quick POS/CHROM MAE mixed, each
recording better or worse about half the time), detection every 30 frames makes its speed a small part of
preprocessing, and Haar works from what pip installs, with no model download.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import weakref
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmark.data.video import FrameChunk, RGBChunk
from benchmark.errors import ConfigError, NoFaceError
from benchmark.paths import atomic_write
from benchmark.registry import Registry

log = logging.getLogger(__name__)

# A detector maps one RGB uint8 frame [H, W, 3] to face boxes [k, 4] as (x, y, w, h) pixels.
Detector = Callable[[np.ndarray], np.ndarray]
FACE_DETECTORS: Registry[Callable[[FaceConfig], Detector]] = Registry("face detector")


@dataclass(frozen=True)
class FaceConfig:
    """How faces are found and cropped (every field is part of the preprocessed cache key).

    Attributes:
        detector: name in FACE_DETECTORS.
        detect_every: frames between detections while a face is held.
        retry_every: frames between detections while no face is held (after a miss, at the start).
        scale: the detected box's side is enlarged by this factor (square, centred).
        smoothing: weight of the previous box when a new detection arrives (0 = jump to each detection).
        hold_tolerance: a new detection that moves the box's centre and side by less than this fraction of
            its side leaves the box where it is. Detector jitter of a few pixels would otherwise step the
            crop every `detect_every` frames, and each step shifts the crop's mean colour by ~10x a frame's
            pulse (measured on the real PhysRecorder video): that step train is what CHROM/POS then find.
        max_gap_s: a box is reused this long after its last successful detection (and this long before a
            detection that ends a gap); frames further away are marked face_missing.
        min_size: smallest face side as a fraction of the frame's shorter side.
        detect_height: frames taller than this are downscaled for detection only (speed; crops use the
            full frame). 480 keeps VGA at full resolution: on the real PhysRecorder clip, boxes from a 240-px
            copy moved PhysNet's (PURE weights) heart rate from 70.5 to 79 bpm.
        detect_region: opt-in speed-up, Haar only; 0 (the default) detects in the whole frame. Above 0,
            while a box is held, detection runs at full resolution in a square window this many times the
            held box's side around it, for faces at least half the held face's side; a miss there falls
            back to the whole frame. Haar's cost is mostly its smallest scales over the whole frame, so this
            cuts it ~5x; the boxes it finds differ from whole-frame ones by a few pixels (figures in
            docs/datasets.md, bench/preprocess_throughput.py --detect-region).
    """

    detector: str = "haar"
    detect_every: int = 30
    retry_every: int = 5
    scale: float = 1.5
    smoothing: float = 0.5
    hold_tolerance: float = 0.1
    max_gap_s: float = 2.0
    min_size: float = 0.15
    detect_height: int = 480
    detect_region: float = 0.0

    def __post_init__(self) -> None:
        if self.detect_every < 1 or self.retry_every < 1 or self.detect_height < 24:
            raise ConfigError(f"face detection periods must be >= 1 frame: {self}")
        if self.scale <= 0 or not 0 <= self.smoothing < 1 or self.max_gap_s < 0 or not 0 < self.min_size < 1:
            raise ConfigError(f"invalid face config {self}")
        if not 0 <= self.hold_tolerance < 1:
            raise ConfigError(f"hold_tolerance must be in [0, 1): {self}")
        if self.detect_region != 0 and not self.detect_region >= 1:
            raise ConfigError(f"detect_region must be 0 (whole frame) or >= 1: {self}")

    def key(self) -> str:
        """Stable hash of the config, for cache keys. Fields added after the first release leave the hash
        alone at their default, so entries built before they existed stay valid."""
        fields = asdict(self)
        for name, default in ADDED_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


# Fields added to FaceConfig later, with the default that keeps the earlier behaviour (and cache keys).
ADDED_FIELDS = {"detect_region": 0.0}


@FACE_DETECTORS.register("haar")
def haar_detector(config: FaceConfig) -> Detector:
    """OpenCV's frontal-face Haar cascade (shipped by opencv-contrib-python; works offline)."""
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise ConfigError(f"cannot load the Haar cascade {path} (install opencv-contrib-python 4.x)")

    def detect(frame: np.ndarray, min_side: float | None = None) -> np.ndarray:
        """Faces in `frame`; `min_side` (pixels of `frame`) replaces min_size where given."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        factor = min(1.0, config.detect_height / gray.shape[0])
        if factor < 1.0:
            gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        if min_side is None:
            side = max(int(config.min_size * min(gray.shape)), 20)
        else:
            side = max(int(min_side * factor), 20)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.2, minNeighbors=5, minSize=(side, side))
        return np.asarray(faces, dtype=np.float64).reshape(-1, 4) / factor

    detect.regions = True  # the tracker may run it on a window around the held box (detect_region)
    return detect


# The model MediaPipe 1.x needs and no longer ships: taken by `make install` from the pinned wheel below.
MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
MEDIAPIPE_MODEL = "face_detection_short_range.tflite"
MEDIAPIPE_MEMBER = f"mediapipe/modules/face_detection/{MEDIAPIPE_MODEL}"
MEDIAPIPE_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
MEDIAPIPE_MODEL_ENV = "RPPG_MEDIAPIPE_MODEL"


def mediapipe_model_path() -> Path:
    """Where the model lives: $RPPG_MEDIAPIPE_MODEL, else <venv>/share/rppg-benchmark/ (make install)."""
    default = Path(sys.prefix) / "share" / "rppg-benchmark" / MEDIAPIPE_MODEL
    return Path(os.environ.get(MEDIAPIPE_MODEL_ENV, default))


def extract_mediapipe_model(wheel_dir: str | Path, target: str | Path) -> Path:
    """Copies the face model out of the mediapipe wheel in `wheel_dir` to `target` (checked, atomic)."""
    wheels = sorted(Path(wheel_dir).glob("mediapipe-*.whl"))
    if not wheels:
        raise ConfigError(f"no mediapipe wheel in {wheel_dir} to take {MEDIAPIPE_MODEL} from")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(MEDIAPIPE_MEMBER)
    except (KeyError, zipfile.BadZipFile) as err:
        raise ConfigError(f"{wheels[0]}: cannot read {MEDIAPIPE_MEMBER}: {err}") from None
    if hashlib.sha256(data).hexdigest() != MEDIAPIPE_SHA256:
        raise ConfigError(f"{wheels[0]}: {MEDIAPIPE_MEMBER} is not the pinned model (sha256 differs)")
    return atomic_write(Path(target), data)


_OPEN_MEDIAPIPE: weakref.WeakSet = weakref.WeakSet()


@atexit.register  # registered before mediapipe is imported, so it runs after mediapipe's own exit hook
def _close_mediapipe_detectors() -> None:
    """Closes detectors still alive at exit (their __del__ fails during interpreter teardown)."""
    for detector in list(_OPEN_MEDIAPIPE):
        detector.close()


@FACE_DETECTORS.register("mediapipe")
def mediapipe_detector(config: FaceConfig) -> Detector:
    """MediaPipe Tasks FaceDetector (BlazeFace short range, for faces within ~2 m of the camera).

    The model sees a 128 x 128 copy of the frame, so detect_height does not apply; min_size does.
    """
    path = mediapipe_model_path()
    if not path.is_file():
        raise ConfigError(
            f"MediaPipe face model {path} is missing: run `make install` (it extracts {MEDIAPIPE_MODEL} "
            f"from the {MEDIAPIPE_WHEEL} wheel), or point ${MEDIAPIPE_MODEL_ENV} at the file"
        )
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import FaceDetector, FaceDetectorOptions

    options = FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(path)))
    detector = FaceDetector.create_from_options(options)

    def detect(frame: np.ndarray) -> np.ndarray:
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        boxes = [d.bounding_box for d in detector.detect(image).detections]
        faces = np.array([(b.origin_x, b.origin_y, b.width, b.height) for b in boxes], np.float64)
        faces = faces.reshape(-1, 4)
        side = config.min_size * min(frame.shape[:2])
        return faces[np.minimum(faces[:, 2], faces[:, 3]) >= side]

    _OPEN_MEDIAPIPE.add(detector)
    ignore_profiling_signal()
    return detect


def ignore_profiling_signal() -> None:
    """Once a MediaPipe graph exists in the process, a later Lightning fit in the same process was killed by
    SIGPROF ("Profiling timer expired"; reproduced by tests/test_face.py's mediapipe tests followed by any
    fit). Nothing in the suite uses SIGPROF, so the process ignores it instead of dying. Signal handlers can
    only be set from the main thread; elsewhere the default stays."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGPROF, signal.SIG_IGN)


def square_box(face: np.ndarray, scale: float) -> np.ndarray:
    """(x, y, w, h) detection -> (cx, cy, side) square, `scale` times the longer side, same centre."""
    x, y, w, h = face
    return np.array([x + w / 2, y + h / 2, max(w, h) * scale])


def crop_window(box: np.ndarray, height: int, width: int) -> tuple[int, int, int]:
    """Integer (x0, y0, side) of a square box, shifted (not shrunk) to stay inside the frame when it can."""
    side = int(round(min(box[2], height, width)))
    x0 = int(round(min(max(box[0] - side / 2, 0), width - side)))
    y0 = int(round(min(max(box[1] - side / 2, 0), height - side)))
    return x0, y0, side


def as_frame_chunk(frames: np.ndarray | FrameChunk) -> FrameChunk:
    """A FrameChunk as is; uint8 RGB frames [n, H, W, 3] wrapped as one."""
    return frames if isinstance(frames, FrameChunk) else RGBChunk(np.asarray(frames))


@dataclass
class FacePlan:
    """Where each frame of a chunk is cut from: the tracker's decisions, before any crop is cut."""

    boxes: np.ndarray  # int32 [n, 4] (x, y, w, h) crop window; -1 where no box was ever held
    face_missing: np.ndarray  # bool [n]


@dataclass
class FaceChunk:
    """Output of the tracker for one chunk of frames."""

    crops: np.ndarray  # uint8 [n, S, S, 3]
    boxes: np.ndarray  # int32 [n, 4] (x, y, w, h) of the crop; -1 where no box was ever held
    face_missing: np.ndarray  # bool [n]
    extra: dict[int, np.ndarray] = field(default_factory=dict)  # side -> uint8 [n, side, side, 3], same boxes


class FaceTracker:
    """Streams chunks of frames through detection, box smoothing and cropping.

    Two steps, which may run in two threads: `plan` (detection every detect_every frames and the box that
    follows from it: sequential, the costly step) and `cut` (each frame's window to S x S). `process` is
    both in turn. The preprocessing pipeline plans chunk k + 1 while it cuts chunk k.

    Args:
        config: face settings.
        size: output side S.
        fps: frame rate (turns max_gap_s into frames).
        name: the recording or file, for errors.
        extra_sizes: more sides to cut from the same windows (FaceChunk.extra): each is resized straight from
            the full-resolution window, never from another side's crop.
    """

    def __init__(self, config: FaceConfig, size: int, fps: float, name: str | Path, extra_sizes=()):
        self.config = config
        self.size = size
        self.extra_sizes = tuple(dict.fromkeys(int(s) for s in extra_sizes if int(s) != size))
        self.name = name
        self.detect = FACE_DETECTORS.get(config.detector)(config)
        self.max_gap = int(round(config.max_gap_s * fps))
        self.box: np.ndarray | None = None  # smoothed (cx, cy, side)
        self.last_good = -(10**9)  # frame index of the last successful detection
        self.next_detection = 0
        self.sampled = 0
        self.detected = 0
        self.missing = 0

    def _held(self, index: int) -> bool:
        return self.box is not None and index - self.last_good <= self.max_gap

    def _update(self, frames: FrameChunk, i: int, index: int) -> bool:
        """Runs the detector on frame i of `frames`; True when it found a face."""
        self.sampled += 1
        held = self._held(index)
        faces = self._detect_near_box(frames, i) if held else np.zeros((0, 4))
        if len(faces) == 0:
            faces = self.detect(frames.rgb(i))
        if len(faces) == 0:
            self.next_detection = index + self.config.retry_every
            return False
        largest = faces[np.argmax(faces[:, 2] * faces[:, 3])]
        new = square_box(largest, self.config.scale)
        if self.box is None or not held:
            self.box = new
        elif not self._within_tolerance(new):
            w = self.config.smoothing
            self.box = w * self.box + (1 - w) * new
        self.last_good = index
        self.detected += 1
        self.next_detection = index + self.config.detect_every
        return True

    def _detect_near_box(self, frames: FrameChunk, i: int) -> np.ndarray:
        """Faces in a window around the held box (FaceConfig.detect_region); none when that is off."""
        if not self.config.detect_region or not getattr(self.detect, "regions", False):
            return np.zeros((0, 4))
        window = self.box.copy()
        window[2] *= self.config.detect_region
        x0, y0, side = crop_window(window, frames.height, frames.width)
        faces = self.detect(
            frames.region(i, x0, y0, side, side), min_side=0.5 * self.box[2] / self.config.scale
        )
        return faces + np.array([x0, y0, 0, 0], np.float64)

    def _within_tolerance(self, new: np.ndarray) -> bool:
        """True when `new` differs from the held box by less than hold_tolerance of its side everywhere."""
        return bool(np.all(np.abs(new - self.box) <= self.config.hold_tolerance * self.box[2]))

    def _window(self, frames: FrameChunk) -> tuple[int, int, int, int]:
        """The held box's crop window in `frames` as (x, y, w, h)."""
        x0, y0, side = crop_window(self.box, frames.height, frames.width)
        return x0, y0, side, side

    def process(self, frames: np.ndarray | FrameChunk, start: int) -> FaceChunk:
        """Crops frames start..start+n-1 (consecutive calls must cover the video in order).

        `frames` is uint8 RGB [n, H, W, 3] or a FrameChunk (VideoReader.iter_frame_chunks), which converts
        to RGB only the frames it detects in and the crop windows: the same crops, less work."""
        frames = as_frame_chunk(frames)
        return self.cut(frames, self.plan(frames, start))

    def plan(self, frames: np.ndarray | FrameChunk, start: int) -> FacePlan:
        """Detection and box tracking for frames start..start+n-1, without cutting: which window each frame
        is cut from. Consecutive calls must cover the video in order; `cut` may run later, in another thread
        (the preprocessing pipeline detects in one thread while it cuts the previous chunk in another)."""
        frames = as_frame_chunk(frames)
        n = len(frames)
        plan = FacePlan(boxes=np.full((n, 4), -1, np.int32), face_missing=np.zeros(n, bool))
        for i in range(n):
            index = start + i
            if index >= self.next_detection and self._update(frames, i, index):
                self._backfill(frames, plan, i)
            if self._held(index):
                plan.boxes[i] = self._window(frames)
            else:
                plan.face_missing[i] = True
                if self.box is not None:  # keep the last box's crop, flagged, so the signal stays continuous
                    plan.boxes[i] = self._window(frames)
        self.missing += int(plan.face_missing.sum())
        return plan

    def _backfill(self, frames: FrameChunk, plan: FacePlan, i: int) -> None:
        """Frames of this chunk just before a detection, marked missing but within max_gap, get its box."""
        for j in range(i - 1, max(i - 1 - self.max_gap, -1), -1):
            if not plan.face_missing[j]:
                break
            plan.boxes[j] = self._window(frames)
            plan.face_missing[j] = False

    def cut(self, frames: np.ndarray | FrameChunk, plan: FacePlan) -> FaceChunk:
        """The crops of `plan`: each frame's window resized to S x S (and to every extra side, each straight
        from the full-resolution window); frames without a window (no face held yet) stay zero."""
        import cv2

        frames = as_frame_chunk(frames)
        n = len(frames)
        out = FaceChunk(
            crops=np.zeros((n, self.size, self.size, 3), np.uint8),
            boxes=plan.boxes,
            face_missing=plan.face_missing,
            extra={side: np.zeros((n, side, side, 3), np.uint8) for side in self.extra_sizes},
        )
        for i in np.flatnonzero(plan.boxes[:, 0] >= 0):
            x0, y0, w, h = (int(v) for v in plan.boxes[i])
            window = frames.region(i, x0, y0, w, h)  # only this window is converted to RGB
            out.crops[i] = cv2.resize(window, (self.size, self.size), interpolation=cv2.INTER_AREA)
            for other, crops in out.extra.items():
                crops[i] = cv2.resize(window, (other, other), interpolation=cv2.INTER_AREA)
        return out

    def finish(self) -> dict:
        """Checks the recording had a face at all; returns detection statistics for the manifest."""
        if self.detected == 0:
            raise NoFaceError(
                self.name,
                f"no face found in any of {self.sampled} sampled frames (detector {self.config.detector!r})",
            )
        stats = {"sampled": self.sampled, "detected": self.detected, "missing_frames": self.missing}
        if self.missing:
            log.warning(
                "%s: %d frames marked face_missing (no detection within %.1f s)",
                self.name,
                self.missing,
                self.config.max_gap_s,
            )
        return stats
