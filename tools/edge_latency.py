#!/usr/bin/env python3
"""Edge latency harness: the latency of exported rPPG networks per 30 s of video, measured on this device.

Standalone on purpose: it needs only numpy and onnxruntime (no torch, no project import), so it runs on a
Jetson or any small board with `pip install numpy onnxruntime` (or the vendor's onnxruntime-gpu wheel).

    python tools/edge_latency.py physnet.onnx tscan.onnx --out edge.csv [--threads 4] [--provider cuda]

For each .onnx file (written by `python -m benchmark export`): 30 s of video are 900 frames at 30 fps, fed
as ceil(900 / T) chunks of the model's own chunk length T (its input's time axis), `--batch` chunks per
run. After `--warmup` untimed runs, each timed repeat runs the whole 30 s; the CSV row holds the median and
the 90th percentile of those repeats. Input values are random (latency does not depend on them).

The CSV (one row per model) is what `python -m benchmark profile --import edge.csv --device-name NAME` reads
into the results database as measured rows of device NAME.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

FRAMES_30S = 900
CSV_VERSION = "1"
# the columns, in order; `profile --import` checks them by name
COLUMNS = (
    "format",
    "method",
    "model",
    "model_sha256",
    "runtime",
    "provider",
    "precision",
    "batch",
    "threads",
    "chunk_frames",
    "chunks_per_30s",
    "runs_per_30s",
    "warmup",
    "repeats",
    "latency_30s_ms",
    "latency_p90_30s_ms",
    "latency_chunk_ms",
    "host",
    "machine",
    "onnxruntime",
    "date",
)
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def host_description() -> str:
    """The CPU model (Linux /proc/cpuinfo), a Jetson's device-tree model when there is one."""
    model = Path("/proc/device-tree/model")
    if model.is_file():
        return model.read_text(errors="replace").strip("\x00\n ")
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def session(path: Path, provider: str, threads: int, precision: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    name = PROVIDERS[provider]
    if name not in ort.get_available_providers():
        raise SystemExit(
            f"error: provider {provider!r} ({name}) is not in this onnxruntime build "
            f"(available: {', '.join(ort.get_available_providers())})"
        )
    if precision == "fp16" and provider != "tensorrt":
        raise SystemExit("error: --precision fp16 needs --provider tensorrt (the exported files are fp32)")
    provider_options = {"trt_fp16_enable": True} if precision == "fp16" else {}
    providers = [(name, provider_options)] + ([] if name == PROVIDERS["cpu"] else [PROVIDERS["cpu"]])
    return ort.InferenceSession(str(path), options, providers=providers)


def random_inputs(sess, batch: int, rng: np.random.Generator) -> tuple[dict, int]:
    """Random inputs of every model input at `batch` (the dynamic axis), and the chunk length T."""
    feeds, frames = {}, None
    for inp in sess.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in inp.shape]
        if inp.name == "level":  # STVEN's one-hot compression label: uncompressed
            x = np.zeros(shape, np.float32)
            x[:, 0] = 1.0
        else:
            x = rng.random(shape, dtype=np.float32)
            if len(shape) == 5 and frames is None:
                frames = int(shape[2])
        feeds[inp.name] = x
    if frames is None:
        raise SystemExit(f"error: no [B, C, T, H, W] input among {[i.name for i in sess.get_inputs()]}")
    return feeds, frames


def measure(path: Path, args) -> dict:
    sess = session(path, args.provider, args.threads, args.precision)
    meta = sess.get_modelmeta().custom_metadata_map
    feeds, frames = random_inputs(sess, args.batch, np.random.default_rng(0))
    chunks = math.ceil(FRAMES_30S / frames)
    runs = math.ceil(chunks / args.batch)

    def thirty_seconds() -> tuple[float, float]:
        t0 = time.perf_counter()
        first = None
        for _ in range(runs):
            t = time.perf_counter()
            sess.run(None, feeds)
            first = first if first is not None else time.perf_counter() - t
        return time.perf_counter() - t0, first

    for _ in range(args.warmup):
        sess.run(None, feeds)
    totals, per_run = [], []
    start = time.perf_counter()
    while len(totals) < args.repeats:
        total, one = thirty_seconds()
        totals.append(total)
        per_run.append(one)
        if len(totals) >= 3 and time.perf_counter() - start > args.budget:
            break
    return {
        "format": CSV_VERSION,
        "method": meta.get("method", path.stem),
        "model": path.name,
        "model_sha256": sha256(path),
        "runtime": "tensorrt" if args.provider == "tensorrt" else "onnxruntime",
        "provider": PROVIDERS[args.provider],
        "precision": args.precision,
        "batch": args.batch,
        "threads": args.threads,
        "chunk_frames": frames,
        "chunks_per_30s": chunks,
        "runs_per_30s": runs,
        "warmup": args.warmup,
        "repeats": len(totals),
        "latency_30s_ms": f"{1000.0 * float(np.median(totals)):.4f}",
        "latency_p90_30s_ms": f"{1000.0 * float(np.percentile(totals, 90)):.4f}",
        "latency_chunk_ms": f"{1000.0 * float(np.median(per_run)):.4f}",
        "host": host_description(),
        "machine": platform.machine(),
        "onnxruntime": __import__("onnxruntime").__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path, help=".onnx files from `python -m benchmark export`")
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--provider", choices=tuple(PROVIDERS), default="cpu", help="execution provider")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32", help="fp16: TensorRT only")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--batch", type=int, default=1, help="chunks per run (default 1)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--repeats", type=int, default=10, help="timed 30 s repeats (default 10)")
    p.add_argument("--budget", type=float, default=60.0, help="seconds of timing per model at most")
    args = p.parse_args(argv)
    for name in ("threads", "batch", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    missing = [str(m) for m in args.models if not m.is_file()]
    if missing:
        p.error(f"no such model file: {', '.join(missing)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = []
    for path in args.models:
        row = measure(path, args)
        rows.append(row)
        print(
            f"{row['method']:<16} {row['chunk_frames']:>4} frames x {row['chunks_per_30s']:>2} chunks: "
            f"{float(row['latency_30s_ms']):9.1f} ms / 30 s (p90 {float(row['latency_p90_30s_ms']):.1f}, "
            f"{row['repeats']} repeats, {row['provider']}, {row['threads']} threads)",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
