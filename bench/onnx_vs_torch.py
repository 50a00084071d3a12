"""PyTorch vs onnxruntime (CPU) latency per 30 s of video for every exportable network, side by side.

    OMP_NUM_THREADS=1 python bench/onnx_vs_torch.py [--threads 1] [--repeats 5] [--methods physnet,tscan]

Both sides go through the profiler (benchmark.profiling.profile.profile_module) with the same threads,
repeats and budget: `torch` times what predict runs (the inference form), `onnxruntime` the file
`python -m benchmark export` writes. Random weights (latency does not depend on their values). The ratio is
onnxruntime / torch: below 1, onnxruntime is faster.
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", help="comma-separated (default: every learned method)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timing per method and runtime")
    args = p.parse_args()

    import onnxruntime
    import torch

    from benchmark.export import LEARNED_KINDS
    from benchmark.methods import METHODS, create_method
    from benchmark.profiling.measure import cpu_model
    from benchmark.profiling.profile import profile_module

    names = (
        args.methods.split(",")
        if args.methods
        else [n for n in METHODS.names() if METHODS.get(n).kind in LEARNED_KINDS]
    )
    print(
        f"host: {cpu_model()}, {args.threads} thread(s); torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}; latency per 30 s (900 frames) at batch 1, median\n"
    )
    header = f"{'method':<16} {'chunk':>5} {'torch ms':>10} {'ort ms':>10} {'ort/torch':>9} {'runs':>9}"
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    for name in names:
        torch.manual_seed(0)
        module = create_method(name)
        group = METHODS.get(name).group
        common = {"threads": args.threads, "repeats": args.repeats, "budget_s": args.budget}
        t = profile_module(module, name, group, runtime="torch", **common)
        o = profile_module(module, name, group, runtime="onnxruntime", **common)
        ratio = o["latency_30s_ms"] / t["latency_30s_ms"]
        print(
            f"{name:<16} {t['chunk_frames']:>5} {t['latency_30s_ms']:>10.1f} {o['latency_30s_ms']:>10.1f} "
            f"{ratio:>9.2f} {t['latency_repeats']:>4}/{o['latency_repeats']:<4}",
            flush=True,
        )
    print(f"\n{len(names)} networks in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
