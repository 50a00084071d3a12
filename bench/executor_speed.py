"""Wall time of one sweep run serially (`--executor local`) and on a local Ray with N workers, side by side.

    OMP_NUM_THREADS=1 python bench/executor_speed.py                 # the smoke sweep, Ray with 2 workers
    python bench/executor_speed.py --workers 4 --methods pos,chrom,tscan --compression raw

Each run is a fresh `python -m benchmark run` process with its own preprocessed cache and results folder, so
both preprocess, train and score everything; SynthPulse is generated once beforehand into a folder both
read (`synth` is not what is compared). Ray starts locally with `--ray-cpus N` and every unit asks 1 CPU, so
N units run at once. Printed: wall seconds, cells, cells per hour per worker, the serial / Ray ratio,
whether both databases hold the same keys and metrics, the thread count and the load average (the machine
may be shared: compare ratios, not absolute times). Takes about 2 x the smoke sweep's time (minutes on 2
cores); needs the ray extra (make install EXTRAS=ray).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark.paths import PROJECT_ROOT


def run(sweep: Path, root: Path, env: dict, extra: list[str]) -> float:
    """Wall seconds of one `benchmark run` into `root` (its own cache, results, database and tables)."""
    cmd = [sys.executable, "-m", "benchmark", "run", "--sweep", str(sweep), "--no-progress"]
    cmd += ["--db", str(root / "r.sqlite"), "--leaderboard-dir", str(root / "lb"), *extra]
    env = {**env, "RPPG_CACHE_DIR": str(root / "cache"), "RPPG_RESULTS_DIR": str(root / "results")}
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (root / "log.txt").write_text(done.stdout + done.stderr)
    if done.returncode not in (0, 1):  # 1: some cell failed, still a timed run (its log says which)
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}; see {root / 'log.txt'}")
    return seconds


def rows(db: Path) -> dict:
    from benchmark.results.store import ResultStore

    with ResultStore(db) as store:
        return {c["key"]: (c["status"], c["metrics"]) for c in store.cells()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", default=str(PROJECT_ROOT / "configs" / "sweeps" / "smoke.yaml"))
    p.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray (one unit each)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of both runs")
    p.add_argument("--methods", help="run only these methods (comma-separated)")
    p.add_argument("--compression", help="run only these levels (comma-separated)")
    p.add_argument("--keep", help="folder for the runs' files (default: a temporary one, deleted)")
    args = p.parse_args()

    flags = []
    for name in ("methods", "compression"):
        if getattr(args, name):
            flags += [f"--{name}", getattr(args, name)]
    with tempfile.TemporaryDirectory(prefix="executor-speed-") as tmp:
        base = Path(args.keep or tmp)
        os.environ.update(OMP_NUM_THREADS=str(args.threads), RPPG_SYNTH_DIR=str(base / "synth"))
        from benchmark.runner.cells import load_sweep
        from benchmark.runner.datasets import DatasetCache

        data = DatasetCache(load_sweep(args.sweep))
        for name in data.sweep.datasets:
            data.recordings(name)  # SynthPulse generated once, outside both timings
        env = dict(os.environ)
        serial = run(Path(args.sweep), base / "serial", env, flags)
        ray_flags = [*flags, "--executor", "ray", "--ray-cpus", str(args.workers)]
        ray = run(Path(args.sweep), base / "ray", env, ray_flags)
        a, b = rows(base / "serial" / "r.sqlite"), rows(base / "ray" / "r.sqlite")

    cells = len(a)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"sweep {args.sweep}: {cells} cells; OMP_NUM_THREADS={args.threads}; load average {load}")
    print(f"{'executor':<22} {'wall s':>8} {'cells/h/worker':>15}")
    print(f"{'local (serial)':<22} {serial:8.1f} {cells / (serial / 3600):15.0f}")
    print(f"{f'ray, {args.workers} workers':<22} {ray:8.1f} {cells / (ray / 3600) / args.workers:15.0f}")
    print(f"serial / ray wall time: {serial / ray:.2f}x (ideal {args.workers}x)")
    print(f"same keys, statuses and metrics in both databases: {a == b}")


if __name__ == "__main__":
    main()
