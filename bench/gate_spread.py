"""The gate's tolerance, measured: how far the smoke sweep's MAEs move with other SIMD code (issue 24.2).

The gate compares a fresh smoke sweep on the CI machine with the committed baseline, so its tolerance must
cover what changes between machines with the same code: the SIMD kernels each library picks at run time.
This script runs the whole smoke sweep (SynthPulse generation, encodes, preprocessing, training, inference)
twice from empty caches, once as this CPU runs it and once with every library held to older instruction sets
(the stand-in for another CPU, since one machine cannot borrow another's AVX-512):

- torch: ATEN_CPU_CAPABILITY=default (no AVX2/AVX-512 ATen kernels), ONEDNN_MAX_CPU_ISA=SSE41 (oneDNN convs)
- numpy: NPY_DISABLE_CPU_FEATURES=X86_V3 (its AVX2/FMA3 dispatch targets)
- OpenCV: OPENCV_CPU_DISABLE=... (its dispatched kernels), OPENCV_IPP=sse42 (Intel IPP inside OpenCV)

It prints |MAE difference| per cell and writes each method's largest to leaderboards/baseline/spread.json,
which the gate reads: a method's tolerance is max(SPREAD_FACTOR x its measured spread, FLOOR_BPM) (gate.py).

    python bench/gate_spread.py            # ~2 x the gate's sweep time
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OLDER_SIMD = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3",
    "OPENCV_CPU_DISABLE": "SSE4.1,SSE4.2,POPCNT,AVX,FP16,AVX2,FMA3",  # names as cv2.getCPUFeaturesLine()
    "OPENCV_IPP": "sse42",
}
SPREAD_FILE = ROOT / "leaderboards" / "baseline" / "spread.json"


def run_smoke(env_extra: dict, work: Path) -> str:
    """The smoke sweep's leaderboard CSV, computed in a fresh process with empty caches under `work`."""
    env = {**os.environ, "RPPG_CACHE_DIR": str(work / "cache"), "RPPG_RESULTS_DIR": str(work / "runs")}
    env.update(env_extra)
    out = work / "smoke.csv"
    cmd = [sys.executable, "-m", "benchmark", "gate", "--update", "--baseline", str(out), "--no-progress"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return out.read_text()


def maes(text: str) -> dict[tuple[str, str], float]:
    return {
        (r["method"], r["level"]): float(r["mae"])
        for r in csv.DictReader(io.StringIO(text))
        if r.get("status") == "done" and r.get("mae")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help=f"print only, no {SPREAD_FILE.name}")
    args = parser.parse_args(argv)
    from benchmark.results.fingerprint import code_fingerprint

    runs, seconds = {}, {}
    for name, env in (("this CPU", {}), ("older SIMD", OLDER_SIMD)):
        with tempfile.TemporaryDirectory(prefix="gate-spread-") as tmp:
            start = time.perf_counter()
            runs[name] = maes(run_smoke(env, Path(tmp)))
            seconds[name] = time.perf_counter() - start
        print(f"{name}: {len(runs[name])} cells in {seconds[name]:.0f} s", flush=True)
    a, b = runs["this CPU"], runs["older SIMD"]
    common = sorted(a.keys() & b.keys())
    if not common or a.keys() != b.keys():
        print(f"cells differ between the runs: {sorted(a.keys() ^ b.keys())}")
        return 1
    print(f"\n{'method':18} {'level':12} {'this CPU':>9} {'older SIMD':>10} {'|diff|':>8}")
    diffs = {}
    for key in common:
        diffs[key] = abs(a[key] - b[key])
        print(f"{key[0]:18} {key[1]:12} {a[key]:9.4f} {b[key]:10.4f} {diffs[key]:8.4f}")
    worst = max(diffs, key=diffs.get)
    moved = sum(d > 0 for d in diffs.values())
    print(f"\nlargest |MAE diff| {diffs[worst]:.4f} bpm ({worst[0]}, {worst[1]}); {moved}/{len(diffs)} moved")
    if not args.no_write:
        by_method: dict[str, float] = {}
        for (method, _level), diff in diffs.items():
            by_method[method] = round(max(by_method.get(method, 0.0), diff), 6)
        record = {
            "max_abs_mae_diff_bpm": round(diffs[worst], 6),
            "by_method": by_method,
            "worst_cell": list(worst),
            "cells": len(diffs),
            "cells_moved": moved,
            "older_simd_env": OLDER_SIMD,
            "cpu": platform.processor() or platform.machine(),
            "code_fingerprint": code_fingerprint(),
            "command": "python bench/gate_spread.py",
        }
        SPREAD_FILE.parent.mkdir(parents=True, exist_ok=True)
        SPREAD_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"written: {SPREAD_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
