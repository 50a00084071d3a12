"""One efficiency row per (method, device): params, MACs per frame and per 30 s, latency, peak memory, host.

Thirty seconds of video are 900 frames at 30 fps, fed as ceil(900 / T) chunks of the method's own chunk length
T at batch 1. Methods that eat per-frame RGB means (the classic ones) are charged for the spatial mean of the
S x S face crop as well: their cost is not zero.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from benchmark.methods.optimize import optimize_for_inference
from benchmark.profiling.counting import fvcore_macs, leaf_activation_elements
from benchmark.profiling.measure import (
    count_parameters,
    host_name,
    median_latency_s,
    peak_memory_bytes,
    synchronize,
)

log = logging.getLogger(__name__)

FPS = 30.0
SECONDS = 30.0
FRAMES_30S = int(FPS * SECONDS)


class _WithSpatialMean(nn.Module):
    """uint8-like frames [B, 3, T, S, S] -> per-frame RGB means -> network: what a classic method costs."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames.mean(dim=(3, 4)))


def example_input(spec, frames: int, batch: int = 1) -> torch.Tensor:
    """A deterministic random input of the shape the method's input spec declares (frames, not RGB means)."""
    gen = torch.Generator().manual_seed(0)
    return torch.rand((batch, spec.channels, frames, spec.size, spec.size), generator=gen)


def profiled_network(module) -> tuple[nn.Module, int]:
    """The nn.Module to profile and the chunk length in frames."""
    spec = module.input_spec
    frames = spec.frames or FRAMES_30S
    net = module.net if hasattr(module, "net") else module
    if spec.inputs == "rgb_mean":
        net = _WithSpatialMean(net)
    return net.eval(), int(frames)


def count_macs(module, net: nn.Module, example: torch.Tensor, name: str) -> dict:
    """fvcore MACs of the network; for RGB-mean methods the spatial mean is counted explicitly (one add per
    input element), because a numpy forward hides it from the tracer; numpy work shows in latency only."""
    inner = module.net if hasattr(module, "net") else module
    rgb = module.input_spec.inputs == "rgb_mean"
    try:
        counted = fvcore_macs(inner if rgb else net, example.mean(dim=(3, 4)) if rgb else example)
    except Exception as err:  # noqa: BLE001 - a forward fvcore cannot trace is reported, not hidden
        log.warning("%s: fvcore could not trace the forward (%s); MACs left empty", name, err)
        return {"total": None, "by_operator": {}, "uncounted": {"untraceable forward": 1}}
    if rgb:
        counted["total"] += example.numel()
        counted["by_operator"]["spatial_mean"] = example.numel()
        if not any(True for _ in inner.parameters()) and counted["total"] == example.numel():
            counted["uncounted"]["numpy forward (cost in latency only)"] = 1
    return counted


def profile_module(
    module,
    name: str,
    group: str,
    *,
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 5,
    budget_s: float = 20.0,
) -> dict:
    """The measured efficiency row of a built MethodModule."""
    if device == "cpu":
        torch.set_num_threads(threads)
    net, frames = profiled_network(module)
    example = example_input(module.input_spec, frames)
    # the inference network only: training-only parts (SSPD's EMA target, KD adapters) never run at test
    trainable, total = count_parameters(module.net if hasattr(module, "net") else module)
    counted = count_macs(module, net, example, name)
    activations = leaf_activation_elements(net, example)
    chunks = math.ceil(FRAMES_30S / frames)
    net = net.to(device)
    example = example.to(device)
    # latency is timed on what predict runs: the inference form (BN folded, fused convs), in inference mode;
    # MACs, activations and peak memory are counted on the network as defined
    fast = net if isinstance(net, _WithSpatialMean) else optimize_for_inference(module.to(device))

    def forward():
        with torch.inference_mode():
            fast(example)
        synchronize(device)

    median, n = median_latency_s(forward, repeats=repeats, budget_s=budget_s)
    peak = peak_memory_bytes(net, example, device)
    macs = counted["total"]
    return {
        "method": name,
        "group": group,
        "device": device.split(":")[0],
        "host": host_name(device),
        "estimated": False,
        "params_trainable": trainable,
        "params_total": total,
        "chunk_frames": frames,
        "chunks_per_30s": chunks,
        "macs_per_chunk": macs,
        "macs_per_frame": None if macs is None else macs / frames,
        "macs_per_30s": None if macs is None else macs / frames * FRAMES_30S,
        "macs_by_operator": counted["by_operator"],
        "uncounted_ops": counted["uncounted"],
        "activations": activations,
        "latency_30s_ms": 1000.0 * median * chunks,
        "latency_chunk_ms": 1000.0 * median,
        "latency_repeats": n,
        "threads": torch.get_num_threads() if device == "cpu" else None,
        "peak_memory_mb": peak / 2**20,
        "torch": torch.__version__,
        "note": f"median of {n} runs after 1 warm-up (inference form, inference mode), one {frames}-frame "
        f"chunk x {chunks} chunks per 30 s",
    }


def profile_method(name: str, overrides: dict | None = None, label: str = "default", **kwargs) -> dict:
    """Build method `name` (defaults, or a recipe's factory overrides, e.g. a smaller input) and profile it.

    `label` names the configuration in the row (the profile command: "default", a sweep: its recipe profile).
    """
    from benchmark.methods import METHODS, create_method

    entry = METHODS.get(name)
    module = create_method(name, **(overrides or {}))
    return {**profile_module(module, name, entry.group, **kwargs), "config": label}
