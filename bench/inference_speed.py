"""CPU inference latency, one clip, 2 threads: our networks vs rPPG-Toolbox's, and the KD student vs teacher.

    OMP_NUM_THREADS=2 .venv/bin/python bench/inference_speed.py --toolbox PATH/TO/rPPG-Toolbox [--repeats 7]

Our side is what predict runs: `optimize_for_inference` (benchmark/methods/optimize.py: BatchNorm folded,
activations fused into oneDNN convs, channels-last) under `torch.inference_mode()`; the plain network in eval
mode is timed too ("ours plain"), to show what the optimisation buys. With `--toolbox DIR` (a checkout of
https://github.com/ubicomplab/rPPG-Toolbox) the toolbox's own model classes are imported from DIR at run time
(nothing of it is part of this repository) and timed in eval + inference mode on the input layout its trainers
feed: PhysNet [1, 3, 128, 72, 72]; TS-CAN / DeepPhys [180, 6, 72, 72]; EfficientPhys [181, 3, 72, 72] (it
differences the frames itself). The forms run interleaved (A B C A B C ...) and the median is reported, so a
machine loaded by other jobs slows all sides alike. Without --toolbox, the toolbox seconds are the ones
stated in issue 6, REPORTED, NOT MEASURED here. ratio = toolbox seconds / ours: >= 1 means ours is as fast.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

# Waiting OpenMP threads sleep instead of spinning (set before torch loads its OpenMP runtime; override with
# OMP_WAIT_POLICY=ACTIVE). On a CPU shared with other jobs a spinning thread burns the core its descheduled
# partner needs, and every op's barrier then waits a scheduler time slice: a net of many short ops (the KD
# student) is hit far harder than one of few long ops. On an idle machine the two policies time alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmark.methods import create_method  # noqa: E402
from benchmark.methods.optimize import optimize_for_inference  # noqa: E402


class ToolboxNet:
    """One rPPG-Toolbox model: its file under neural_methods/model, class, arguments and input shape."""

    def __init__(self, file: str, cls: str, kwargs: dict, shape: tuple[int, ...], reported_s: float):
        self.file, self.cls, self.kwargs, self.shape, self.reported_s = file, cls, kwargs, shape, reported_s

    def build(self, root: Path) -> nn.Module:
        """Import the class from the checkout at `root` (by file path, no package side effects)."""
        path = root / "neural_methods" / "model" / self.file
        if not path.is_file():
            raise SystemExit(f"{path}: not found; --toolbox must point at an rPPG-Toolbox checkout")
        spec = importlib.util.spec_from_file_location(f"rppg_toolbox_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, self.cls)(**self.kwargs).eval()


# our network -> (factory overrides, our clip [B, C, T, H, W], the toolbox's definition of the same network)
PHYSNET_CLS = "PhysNet_padding_Encoder_Decoder_MAX"
CAN_72 = {"frame_depth": 10, "img_size": 72}
CASES = {
    "physnet": (
        {}, (1, 3, 128, 72, 72),
        ToolboxNet("PhysNet.py", PHYSNET_CLS, {"frames": 128}, (1, 3, 128, 72, 72), 0.54),
    ),
    "tscan": (
        {"size": 72}, (1, 6, 180, 72, 72),
        ToolboxNet("TS_CAN.py", "TSCAN", CAN_72, (180, 6, 72, 72), 2.6),
    ),
    "deepphys": (
        {"size": 72}, (1, 6, 180, 72, 72),
        ToolboxNet("DeepPhys.py", "DeepPhys", {"img_size": 72}, (180, 6, 72, 72), 2.5),
    ),
    "efficientphys": (
        {"size": 72}, (1, 3, 180, 72, 72),
        ToolboxNet("EfficientPhys.py", "EfficientPhys", CAN_72, (181, 3, 72, 72), 1.5),
    ),
}  # fmt: skip


Forms = dict[str, tuple[nn.Module, torch.Tensor]]


def interleaved_times(forms: Forms, repeats: int) -> dict[str, list[float]]:
    """Seconds of each forward of each form, timed in turn (A B C A B C ...) after one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in forms}
    with torch.inference_mode():
        for net, x in forms.values():
            net(x)
        for _ in range(repeats):
            for name, (net, x) in forms.items():
                start = time.perf_counter()
                net(x)
                times[name].append(time.perf_counter() - start)
    return times


def params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def compare_with_toolbox(toolbox: Path | None, repeats: int) -> None:
    source = f"measured side by side from {toolbox}" if toolbox else "REPORTED in issue 6, NOT MEASURED here"
    print(f"\nours vs rPPG-Toolbox ({source}); {load()}")
    print(
        f"{'network':<14}{'params ours/toolbox':>22}{'ours s':>9}{'plain s':>9}{'toolbox s':>11}{'ratio':>8}"
    )
    for name, (overrides, shape, ref) in CASES.items():
        torch.manual_seed(0)
        module = create_method(name, **overrides).eval()
        x = torch.randn(shape)
        forms = {"ours": (optimize_for_inference(module), x), "plain": (module.net, x)}
        ref_params = "-"
        if toolbox is not None:
            ref_net = ref.build(toolbox)
            ref_params = f"{params(ref_net):,}"
            forms["toolbox"] = (ref_net, torch.randn(ref.shape))
        t = {name: statistics.median(v) for name, v in interleaved_times(forms, repeats).items()}
        t_ref = t.get("toolbox", ref.reported_s)
        mark = "" if toolbox else " (reported)"
        print(
            f"{name:<14}{f'{params(module.net):,}/{ref_params}':>22}{t['ours']:>9.3f}{t['plain']:>9.3f}"
            f"{t_ref:>11.3f}{t_ref / t['ours']:>7.2f}x{mark}"
        )
    print(f"after: {load()}")


def compare_student_teacher(repeats: int) -> None:
    """Both optimised the same way, batch 1, 128 x 72 x 72, interleaved in one run."""
    print(f"\nKD student vs teacher, batch 1, [1, 3, 128, 72, 72], interleaved in this run; {load()}")
    x = torch.randn(1, 3, 128, 72, 72)
    modules = {name: create_method(name).eval() for name in ("kd-teacher", "kd-student")}
    forms = {f"{n} ours": (optimize_for_inference(m), x) for n, m in modules.items()}
    forms.update({f"{n} plain": (m.net, x) for n, m in modules.items()})
    times = interleaved_times(forms, repeats)
    t = {name: statistics.median(v) for name, v in times.items()}
    for name, seconds in t.items():
        print(f"  {name:<20}{seconds:>8.3f} s median{min(times[name]):>8.3f} s fastest")
    for form in ("ours", "plain"):
        ratio = t[f"kd-teacher {form}"] / t[f"kd-student {form}"]
        fastest = min(times[f"kd-teacher {form}"]) / min(times[f"kd-student {form}"])
        print(f"student speed-up ({form}): {ratio:.2f}x of medians, {fastest:.2f}x of fastest (target >= 5x)")
    print(f"after: {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toolbox", type=Path, default=None, help="an rPPG-Toolbox checkout to import from")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("toolbox", "kd"), default=None, help="run one comparison only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    policy = os.environ["OMP_WAIT_POLICY"]
    print(f"torch {torch.__version__}, {threads} threads, OMP_WAIT_POLICY={policy}, {args.repeats} runs each")
    if args.only != "kd":
        compare_with_toolbox(args.toolbox, args.repeats)
    if args.only != "toolbox":
        compare_student_teacher(args.repeats)


if __name__ == "__main__":
    main()
