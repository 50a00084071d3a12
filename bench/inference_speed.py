"""CPU inference latency of the supervised networks, one clip, 2 threads; KD student vs teacher side by side.

    .venv/bin/python bench/inference_speed.py [--repeats 5] [--threads 2]

For each network: the median latency of one clip in inference mode, in the default (contiguous) layout and
in channels-last, with BatchNorm folded into the convolutions (eval mode) for the 3D nets; the faster
layout is the one reported. The ratio is against the rPPG-Toolbox timings REPORTED IN ISSUE 6 (measured
there on an idle machine of this kind); those reference numbers are NOT measured by this script, so the
ratio is only as fair as the two machines' loads were equal. The KD ratio is measured here, in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from benchmark.methods import create_method

# network -> (factory overrides, clip shape [B, C, T, H, W], rPPG-Toolbox seconds from issue 6)
CASES = {
    "physnet": ({}, (1, 3, 128, 72, 72), 0.54),
    "tscan": ({"size": 72}, (1, 6, 180, 72, 72), 2.6),
    "deepphys": ({"size": 72}, (1, 6, 180, 72, 72), 2.5),
    "efficientphys": ({"size": 72}, (1, 3, 180, 72, 72), 1.5),
}


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Eval-mode fold: every Sequential(Conv3d, BatchNorm3d, ...) gets the BN folded into the conv."""
    for child in module.modules():
        if isinstance(child, nn.Sequential) and len(child) >= 2:
            conv, bn = child[0], child[1]
            if isinstance(conv, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d):
                child[0] = fuse_conv_bn_eval(conv, bn)
                child[1] = nn.Identity()
    return module


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency(net: nn.Module, shape: tuple[int, ...], channels_last: bool, repeats: int) -> float:
    x = torch.randn(shape)
    if channels_last:  # 3D nets: channels_last_3d weights and input; 2D (CAN) nets: channels_last weights
        is_3d = any(isinstance(m, nn.Conv3d) for m in net.modules())
        net = net.to(memory_format=torch.channels_last_3d if is_3d else torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last_3d)

    def run():
        with torch.inference_mode():
            net(x)

    return median_seconds(run, repeats)


def prepared(name: str, overrides: dict) -> nn.Module:
    net = create_method(name, **overrides).net.eval()
    return fold_batchnorm(net)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs")
    print("reference = rPPG-Toolbox latency stated in issue 6 (not measured in this run)")
    header = f"{'network':<14}{'clip':<12}{'contig s':>10}{'ch-last s':>11}{'best s':>9}{'ref s':>8}"
    print(f"{header}{'ref/ours':>10}")
    for name, (overrides, shape, ref) in CASES.items():
        contiguous = latency(prepared(name, overrides), shape, False, args.repeats)
        channels_last = latency(prepared(name, overrides), shape, True, args.repeats)
        best = min(contiguous, channels_last)
        clip = "x".join(str(s) for s in shape[2:])
        row = f"{name:<14}{clip:<12}{contiguous:>10.3f}{channels_last:>11.3f}{best:>9.3f}{ref:>8.2f}"
        print(f"{row}{ref / best:>9.2f}x")

    print("\nKD student vs teacher, batch 1, 128x72x72, measured alternately in this run (best layout each):")
    shape = (1, 3, 128, 72, 72)
    best = {}
    for name in ("kd-teacher", "kd-student"):
        best[name] = min((False, True), key=lambda cl, n=name: latency(prepared(n, {}), shape, cl, 1))
    nets = {name: prepared(name, {}) for name in best}
    times: dict[str, list[float]] = {name: [] for name in best}
    for _ in range(args.repeats):
        for name, net in nets.items():
            times[name].append(latency(net, shape, best[name], 1))
    t, s = statistics.median(times["kd-teacher"]), statistics.median(times["kd-student"])
    layout = {n: "channels-last" if cl else "contiguous" for n, cl in best.items()}
    print(f"teacher {t:.3f} s ({layout['kd-teacher']}), student {s:.3f} s ({layout['kd-student']})")
    print(f"student speed-up {t / s:.2f}x (target >= 5x)")
    print(f"load average: {os.getloadavg()[0]:.1f} (timings compare only on an idle machine)")


if __name__ == "__main__":
    main()
