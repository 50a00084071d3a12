"""Writes SynthPulse recordings to disk, cached: a finished preset + seed is never generated twice.

Layout (documented in docs/synthpulse.md):
    <root>/<preset>-seed<k>[-<overrides hash>]/
        COMPLETE.json                 written last, atomically: preset, seed, recordings, generator version
        s03-motion/video.avi          lossless RGB (FFmpeg's HuffYUV variant, ffvhuff), one frame per 1/fps s
        s03-motion/ppg.csv            time_s,ppg at every frame timestamp (the reference PPG)
        s03-motion/meta.json          subject, tags, heart-rate truth, pulse-transit offset, physiology
A recording folder appears only when complete (written as .tmp then renamed), so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from benchmark.data.synth.presets import PRESETS, Preset
from benchmark.paths import atomic_write, cache_dir

# bump when the output changes: older caches are regenerated (5: CPU-independent frames, H.264 RGB masters;
# 6: ffvhuff masters, the same pixels)
GENERATOR_VERSION = 7
MARKER = "COMPLETE.json"
log = logging.getLogger(__name__)


def default_root() -> Path:
    return cache_dir() / "synthpulse"


def dataset_dir(root: Path, preset: Preset, seed: int) -> Path:
    """Folder of one preset + seed; presets changed by overrides get a hash of their fields in the name."""
    name = f"{preset.name}-seed{seed}"
    if preset.name not in PRESETS or preset != PRESETS[preset.name]:
        digest = hashlib.sha256(json.dumps(preset.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
        name += f"-{digest}"
    return Path(root) / name


def recording_ids(preset: Preset) -> list[tuple[str, int, str]]:
    return [(f"s{k:02d}-{sc}", k, sc) for k in range(preset.subjects) for sc in preset.scenarios]


def is_complete(folder: Path) -> bool:
    """True when the folder's marker exists and was written by this generator version."""
    try:
        return json.loads((folder / MARKER).read_text())["generator_version"] == GENERATOR_VERSION
    except (OSError, ValueError, KeyError):
        return False


def _recording_done(folder: Path) -> bool:
    try:
        return json.loads((folder / "meta.json").read_text())["generator_version"] == GENERATOR_VERSION
    except (OSError, ValueError, KeyError):
        return False


def generate(preset: Preset, seed: int = 0, root: Path | None = None, jobs: int | None = None) -> Path:
    """Generate (or find cached) every recording of `preset` with `seed`; returns the dataset folder."""
    folder = dataset_dir(root or default_root(), preset, seed)
    if is_complete(folder):
        log.info("SynthPulse %s is cached in %s", folder.name, folder)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    todo = [r for r in recording_ids(preset) if not _recording_done(folder / r[0])]
    start = time.perf_counter()
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    log.info("SynthPulse: generating %d recordings of %s with %d process(es)", len(todo), folder.name, jobs)
    args = [(folder, preset, seed, k, sc) for _, k, sc in todo]
    if jobs == 1:
        done = (write_recording(*a) for a in args)
        for i, path in enumerate(done, 1):
            _progress(folder.name, i, len(args), path, start)
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            for i, path in enumerate(pool.map(_write_recording_star, args), 1):
                _progress(folder.name, i, len(args), path, start)
    marker = {
        "generator_version": GENERATOR_VERSION,
        "preset": preset.to_dict(),
        "seed": seed,
        "recordings": [r[0] for r in recording_ids(preset)],
    }
    atomic_write(folder / MARKER, json.dumps(marker, indent=1, sort_keys=True))
    log.info("SynthPulse %s: done in %.1f s", folder.name, time.perf_counter() - start)
    return folder


def _progress(name: str, i: int, total: int, path: Path, start: float) -> None:
    """One line per written recording (in order), so a log file shows generation advancing."""
    log.info("SynthPulse %s: %d/%d %s (%.0f s)", name, i, total, Path(path).name, time.perf_counter() - start)


def _write_recording_star(a):
    return write_recording(*a)


# Masters are lossless RGB in FFmpeg's HuffYUV variant (ffvhuff) in AVI: decoded bit for bit as rendered, to
# packed bgr0 that the face stage reads without converting whole frames. Measured on a 20 s 256x192 recording,
# one core: decode 0.54 ms a frame (libx264rgb qp 0: 1.40 ms, then a whole-frame GBR conversion; FFV1 about
# 2.6 ms), encode 0.31 ms (0.98), 8 % larger (39 vs 36 MB). A sweep decodes every test video at least twice
# (face stage, the codecs' one-pass encode), so this is bench-all time. Matroska does not take ffvhuff.
VIDEO_FILE = "video.avi"
LOSSLESS_CODEC = "ffvhuff"


def write_video(path: Path, frames, fps: float, width: int, height: int) -> None:
    """Stream RGB uint8 frames into a lossless RGB (ffvhuff) AVI file, frame i at i / fps."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(LOSSLESS_CODEC, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@dataclass
class RecordingParts:
    """Everything that renders one recording; frame i is camera.expose(renderer.radiance(trajectories, i,
    blood[i]), trajectories.white_balance[i]), in order (the camera has state). Replayed by tools that need
    the generator's truth (bench/face_detectors.py)."""

    scene: object
    subject: object
    pulse: object
    trajectories: object
    renderer: object
    camera: object
    times: np.ndarray
    blood: np.ndarray

    def frames(self):
        for i in range(self.times.size):
            radiance = self.renderer.radiance(self.trajectories, i, float(self.blood[i]))
            yield self.camera.expose(radiance, self.trajectories.white_balance[i])


def recording_parts(preset: Preset, seed: int, subject_index: int, scenario: str) -> RecordingParts:
    """The subject, physiology, nuisance signals, renderer and camera of one recording (deterministic)."""
    from benchmark.data.synth.physics import PulseModel, sample_pulse_params
    from benchmark.data.synth.render import Camera, Renderer
    from benchmark.data.synth.scenes import CAMERA_LEVELS, SCENARIO_NAMES, SCENARIOS, trajectories
    from benchmark.data.synth.subjects import build_subject

    scene = SCENARIOS[scenario]
    subject = build_subject(seed, subject_index, preset.width, preset.height, tone=scene.skin_tone)
    # One random stream per part, keyed by the scenario whose draws this one shares (ladder scenarios
    # share `still`'s): changing one nuisance's level leaves the heart rhythm and the other signals alone.
    root = np.random.SeedSequence([seed, 2, subject_index, SCENARIO_NAMES.index(scene.seed_name)])
    streams = dict(zip(("pulse", "motion", "talking", "lighting", "camera"), root.spawn(5)))
    rng = np.random.default_rng(streams.pop("pulse"))
    times = np.arange(preset.n_frames, dtype=np.float64) / preset.fps
    pulse = PulseModel(sample_pulse_params(rng, subject.ptt_offset_s), preset.duration_s, rng)
    traj = trajectories(scene, times, preset.fps, streams)
    light_colour = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.08, 0.08, 3)
    renderer = Renderer(subject, preset.width, preset.height, light_colour)
    cam = CAMERA_LEVELS[scene.camera]
    camera = Camera(
        preset.fps,
        subject.noise_level * cam["noise"],
        int(rng.integers(2**31)),
        ae=cam["ae"],
        ae_tau=cam["ae_tau"],
        deadband=cam["deadband"],
        step=cam["step"],
    )
    blood = pulse.face(times)
    return RecordingParts(scene, subject, pulse, traj, renderer, camera, times, blood - blood.mean())


def write_recording(folder: Path, preset: Preset, seed: int, subject_index: int, scenario: str) -> Path:
    """Render and write one recording (video, ppg.csv, meta.json) into `folder`; atomic by rename."""
    import cv2

    cv2.setNumThreads(1)
    parts = recording_parts(preset, seed, subject_index, scenario)
    scene, subject, pulse, times = parts.scene, parts.subject, parts.pulse, parts.times
    n = preset.n_frames

    rec_id = f"{subject.id}-{scenario}"
    final = folder / rec_id
    # per process and host: two runs (or cluster workers sharing the cache) may build one dataset at once
    tmp = folder / f"{rec_id}.tmp-{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    frames = parts.frames()
    write_video(tmp / VIDEO_FILE, frames, preset.fps, preset.width, preset.height)

    ppg = pulse.reference(times)
    lines = ["time_s,ppg"] + [f"{t:.6f},{v:.6f}" for t, v in zip(times, ppg)]
    (tmp / "ppg.csv").write_text("\n".join(lines) + "\n")
    hr_lo, hr_hi = pulse.hr_range()
    meta = {
        "generator_version": GENERATOR_VERSION,
        "dataset": "synth",
        "preset": preset.name,
        "seed": seed,
        "id": rec_id,
        "subject": subject.id,
        "fps": preset.fps,
        "n_frames": n,
        "width": preset.width,
        "height": preset.height,
        "hr_mean_bpm": round(pulse.mean_hr(), 4),
        "hr_min_bpm": round(hr_lo, 3),
        "hr_max_bpm": round(hr_hi, 3),
        "ptt_offset_s": subject.ptt_offset_s,
        "pulse_amplitude": round(subject.pulse_amplitude, 6),
        "face_kind": subject.kind,
        "physiology": pulse.params.to_dict(),
        "tags": {
            "scenario": scenario,
            "skin_tone": subject.skin_tone,
            "motion": scene.motion_tag,
            "lighting": scene.lighting_tag,
            **{f"level_{k}": v for k, v in scene.levels.items()},
            "face_kind": subject.kind,
            "ptt_offset_s": f"{subject.ptt_offset_s:.3f}",
        },
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    publish_folder(tmp, final)
    return final


def publish_folder(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`, replacing a stale version; when another process published `final` first,
    keep theirs (the same bytes: generation is deterministic)."""
    if not _recording_done(final):
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        if not _recording_done(final):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
