"""CPU inference latency of the supervised networks, one clip, 2 threads; KD student vs teacher side by side.

    .venv/bin/python bench/inference_speed.py [--repeats 5] [--threads 2]

For each network: the median latency of one clip in inference mode, in three forms: contiguous,
channels-last, and TorchScript (traced, frozen, optimize_for_inference: oneDNN prepacked convolutions);
BatchNorm is folded into the convolutions of the 3D nets. The fastest form is the one compared.
The ratio is against the rPPG-Toolbox timings REPORTED IN ISSUE 6 (measured there on an idle machine of
this kind); those reference numbers are NOT measured by this script, so the ratio is only as fair as the
two machines' loads were equal (the load average is printed). The KD ratio is measured here, in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

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


VARIANTS = ("contiguous", "channels-last", "jit")


def latency(net: nn.Module, shape: tuple[int, ...], variant: str, repeats: int) -> float:
    """Median seconds of one forward in inference mode; variant: contiguous | channels-last | jit
    (traced, frozen and optimised for inference: oneDNN prepacked convs with fused activations)."""
    x = torch.randn(shape)
    if variant == "channels-last":  # 3D nets: channels_last_3d weights and input; 2D (CAN) nets: weights
        is_3d = any(isinstance(m, nn.Conv3d) for m in net.modules())
        net = net.to(memory_format=torch.channels_last_3d if is_3d else torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    elif variant == "jit":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape checks in forward
            net = torch.jit.optimize_for_inference(torch.jit.trace(net, x))

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
    print(
        f"{'network':<14}{'clip':<12}"
        + "".join(f"{v:>15}" for v in VARIANTS)
        + f"{'ref s':>8}{'ref/best':>10}"
    )
    for name, (overrides, shape, ref) in CASES.items():
        times = {v: latency(prepared(name, overrides), shape, v, args.repeats) for v in VARIANTS}
        best = min(times.values())
        clip = "x".join(str(s) for s in shape[2:])
        cells = "".join(f"{times[v]:>14.3f}s" for v in VARIANTS)
        print(f"{name:<14}{clip:<12}{cells}{ref:>8.2f}{ref / best:>9.2f}x")

    print("\nKD student vs teacher, batch 1, 128x72x72, measured alternately in this run (best layout each):")
    shape = (1, 3, 128, 72, 72)
    best = {}
    for name in ("kd-teacher", "kd-student"):
        best[name] = min(VARIANTS, key=lambda v, n=name: latency(prepared(n, {}), shape, v, 1))
    nets = {name: prepared(name, {}) for name in best}
    times: dict[str, list[float]] = {name: [] for name in best}
    for _ in range(args.repeats):
        for name, net in nets.items():
            times[name].append(latency(net, shape, best[name], 1))
    t, s = statistics.median(times["kd-teacher"]), statistics.median(times["kd-student"])
    print(f"teacher {t:.3f} s ({best['kd-teacher']}), student {s:.3f} s ({best['kd-student']})")
    print(f"student speed-up {t / s:.2f}x (target >= 5x)")
    print(f"load average: {os.getloadavg()[0]:.1f} (timings compare only on an idle machine)")


if __name__ == "__main__":
    main()
