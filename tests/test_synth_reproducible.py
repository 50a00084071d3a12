"""SynthPulse renders the same pixels on any x86-64 CPU: the cross-machine contract of the generator.

numpy and OpenCV choose SIMD code at run time (numpy's dispatch targets, OpenCV's dispatched kernels, and
Intel IPP's own dispatch inside OpenCV), and some of those paths round differently (see
benchmark/data/synth/portable.py). Turning the features off on this machine is the best stand-in for another
CPU: a child process renders a tiny recording with the defaults, one with every dispatched numpy/OpenCV
feature and IPP's AVX code turned off, and one with cv2.setUseOptimized(False) as well; everything, down to
the float32 face layers and radiance, must be bit-identical. A fixed render is also pinned to a committed
digest, so any change to the pixels (intended or not) is noticed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from benchmark.paths import PROJECT_ROOT

# sha256 of the uint8 frames of `render_digests()`, rendered with GENERATOR_VERSION 7, numpy 2.4.6 and
# OpenCV 4.14.0 (AVX2 machine; the same with its SIMD features and IPP's AVX2 code turned off).
EXPECTED_FRAMES_DIGEST = "89f0b6264c7b58c9b238faf208c98d853a8e6e22190c160fbd5a254496ade31b"

# A procedural face with head motion, talking and a moving light, and the recoloured photo face.
RECORDINGS = ((0, "combined"), (2, "lighting"))
N_FRAMES = 15


def _numpy_simd() -> tuple[dict, list]:
    try:
        core = np._core._multiarray_umath
    except AttributeError:  # numpy < 2
        core = np.core._multiarray_umath
    return core.__cpu_features__, list(core.__cpu_dispatch__)


def render_digests() -> dict[str, str]:
    """sha256 of a tiny render: the subjects' float32 layers, the float32 radiance and the uint8 frames."""
    import cv2

    from benchmark.data.synth.generate import recording_parts
    from benchmark.data.synth.presets import get_preset

    preset = get_preset("smoke", subjects=3, duration_s=N_FRAMES / 30.0, width=160, height=120)
    digests = {k: hashlib.sha256() for k in ("subject", "radiance", "frames")}
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        for k, scenario in RECORDINGS:
            parts = recording_parts(preset, 0, k, scenario)
            layer = parts.subject.layer
            for a in (layer.albedo, layer.maps, parts.subject.background, parts.renderer.stack):
                digests["subject"].update(np.ascontiguousarray(a).tobytes())
            digests["subject"].update(str(parts.subject.attempts).encode())
            tr = parts.trajectories
            for i in range(parts.times.size):
                radiance = parts.renderer.radiance(tr, i, float(parts.blood[i]))
                digests["radiance"].update(radiance.tobytes())
                digests["frames"].update(parts.camera.expose(radiance, tr.white_balance[i]).tobytes())
    finally:
        cv2.setNumThreads(threads)
    return {k: d.hexdigest() for k, d in digests.items()}


def _child_report() -> dict:
    """Run in the child: the digests, and which SIMD features were in effect."""
    import cv2

    if os.environ.get("SYNTH_REPRO_UNOPTIMIZED"):
        cv2.setUseOptimized(False)
    features, dispatch = _numpy_simd()
    return {
        "digests": render_digests(),
        "numpy_dispatch_enabled": [f for f in dispatch if features.get(f)],
        "opencv_features": cv2.getCPUFeaturesLine(),
        "opencv_optimized": cv2.useOptimized(),
        "ipp": cv2.ipp.getIppVersion() if cv2.ipp.useIPP() else "off",
    }


def _features_off_env() -> dict[str, str]:
    """Environment that turns off every SIMD feature this machine has beyond the builds' baselines."""
    import cv2

    features, dispatch = _numpy_simd()
    env = {"NPY_DISABLE_CPU_FEATURES": " ".join(f for f in dispatch if features.get(f))}
    # OpenCV marks dispatched features with '*' and unavailable ones with '?'.
    tokens = cv2.getCPUFeaturesLine().split()
    opencv = [t[1:] for t in tokens if t.startswith("*") and not t.endswith("?")]
    env["OPENCV_CPU_DISABLE"] = ",".join(opencv + (["FMA3", "POPCNT"] if opencv else []))
    if cv2.ipp.useIPP():
        env["OPENCV_IPP"] = "sse42"  # IPP's lowest x86-64 code path
    return env


def _run_child(extra_env: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "OPENCV_CPU_DISABLE")}
    env.update(extra_env)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_ROOT), str(PROJECT_ROOT / "tests"), env.get("PYTHONPATH", "")]
    )
    env["OMP_NUM_THREADS"] = "1"
    code = "import json, test_synth_reproducible as t; print('REPORT' + json.dumps(t._child_report()))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("REPORT"))
    return json.loads(line[len("REPORT") :])


@pytest.mark.slow
def test_frames_do_not_depend_on_the_cpu_features():
    off_env = _features_off_env()
    default = _run_child({})
    off = _run_child(off_env)
    unoptimized = _run_child({**off_env, "SYNTH_REPRO_UNOPTIMIZED": "1"})
    # The switches took effect (else this test would compare a render with itself).
    assert off["numpy_dispatch_enabled"] == [], (off_env, off)
    assert all(t.endswith("?") for t in off["opencv_features"].split() if t.startswith("*")), off
    assert unoptimized["opencv_optimized"] is False and unoptimized["ipp"] == "off", unoptimized
    for name, other in (
        ("SIMD features and IPP's AVX code off", off),
        ("cv2.setUseOptimized(False)", unoptimized),
    ):
        changed = [k for k in default["digests"] if default["digests"][k] != other["digests"][k]]
        assert not changed, (
            f"SynthPulse's {changed} differ with {name} ({off_env}): an operation of the generator "
            "depends on the CPU. Bisect it (compare its output under these environment variables) and "
            "replace it by a portable one (benchmark/data/synth/portable.py). "
            f"default={default}, other={other}"
        )


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="the digest is pinned for x86-64 CPUs"
)
def test_a_fixed_render_has_the_committed_digest():
    import cv2

    from benchmark.data.synth.generate import GENERATOR_VERSION

    digest = render_digests()["frames"]
    assert digest == EXPECTED_FRAMES_DIGEST, (
        f"SynthPulse's pixels changed: frames digest {digest}, expected {EXPECTED_FRAMES_DIGEST} "
        f"(generator version {GENERATOR_VERSION}, numpy {np.__version__}, OpenCV {cv2.__version__}). "
        "If you changed the generator on purpose: bump GENERATOR_VERSION in "
        "benchmark/data/synth/generate.py (cached datasets are then regenerated) and set "
        "EXPECTED_FRAMES_DIGEST in this file to the new digest. If you did not (a new CPU, OS or "
        "numpy/OpenCV version): datasets generated here no longer match other machines; run "
        "test_frames_do_not_depend_on_the_cpu_features (pytest -m slow) to find a CPU-dependent "
        "operation and make it portable (benchmark/data/synth/portable.py), or, after a library upgrade that "
        "changes the float64 paths it relies on, treat it as an intended change (bump and update)."
    )
