"""One efficiency row per (method, device): params, MACs per frame and per 30 s, latency, peak memory, host.

Thirty seconds of video are 900 frames at 30 fps, fed as ceil(900 / T) chunks of the method's own chunk length
T, `batch` chunks per run. Methods that eat per-frame RGB means (the classic ones) are charged for the spatial
mean of the S x S face crop plus their own numpy work (projections, filters, ICA: counting.classic_macs).

Runtimes: `torch` times what predict runs (the inference form); `onnxruntime` (and `tensorrt`, through
onnxruntime's TensorRT execution provider when present) times the file `python -m benchmark export` writes.
Parameters and MACs are counted on the PyTorch network either way (they do not depend on the runtime).
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from benchmark.methods.optimize import optimize_for_inference
from benchmark.profiling.counting import classic_macs, fvcore_macs, leaf_activation_elements
from benchmark.profiling.measure import (
    count_parameters,
    host_name,
    latency_stats,
    peak_memory_bytes,
    synchronize,
)

log = logging.getLogger(__name__)

FPS = 30.0
SECONDS = 30.0
FRAMES_30S = int(FPS * SECONDS)
RUNTIMES = ("torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16")


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
    input element), and a classic method's numpy work from its algorithm (counting.classic_macs)."""
    from benchmark.methods.classic import ClassicNet

    inner = module.net if hasattr(module, "net") else module
    rgb = module.input_spec.inputs == "rgb_mean"
    if isinstance(inner, ClassicNet):
        means = example.mean(dim=(3, 4))
        parts = classic_macs(inner.algorithm, example.shape[2], inner.fps, means.double().numpy())
        by_op = {"spatial_mean": example.numel(), **{f"{inner.algorithm}:{k}": v for k, v in parts.items()}}
        return {"total": sum(by_op.values()), "by_operator": by_op, "uncounted": {}}
    try:
        counted = fvcore_macs(inner if rgb else net, example.mean(dim=(3, 4)) if rgb else example)
    except Exception as err:  # noqa: BLE001 - a forward fvcore cannot trace is reported, not hidden
        log.warning("%s: fvcore could not trace the forward (%s); MACs left empty", name, err)
        return {"total": None, "by_operator": {}, "uncounted": {"untraceable forward": 1}}
    if rgb:
        counted["total"] += example.numel()
        counted["by_operator"]["spatial_mean"] = example.numel()
    return counted


def _check_runtime(runtime: str, precision: str, device: str) -> None:
    from benchmark.errors import ConfigError

    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r} (choose {', '.join(RUNTIMES)})")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} (choose {', '.join(PRECISIONS)})")
    if precision == "fp16" and runtime == "onnxruntime":
        raise ConfigError("fp16 with onnxruntime: the exported files are fp32 (use --runtime tensorrt)")
    if precision == "fp16" and runtime == "torch" and not device.startswith("cuda"):
        raise ConfigError("fp16 with torch is measured on cuda only")


def onnx_providers(runtime: str, device: str, precision: str) -> list:
    """onnxruntime execution providers for a runtime and device; a ConfigError when the build lacks them."""
    import onnxruntime as ort

    from benchmark.errors import ConfigError

    available = ort.get_available_providers()
    if runtime == "tensorrt":
        wanted = ("TensorrtExecutionProvider", {"trt_fp16_enable": precision == "fp16"})
    elif device.startswith("cuda"):
        wanted = ("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)})
    else:
        wanted = ("CPUExecutionProvider", {})
    if wanted[0] not in available:
        raise ConfigError(f"{runtime} on {device} needs {wanted[0]}; this onnxruntime has {available}")
    return [wanted] + ([] if wanted[0] == "CPUExecutionProvider" else ["CPUExecutionProvider"])


def _onnx_forward(module, name: str, batch: int, device: str, runtime: str, precision: str, threads: int):
    """A no-argument callable running one exported chunk batch in onnxruntime, and what was exported."""
    import tempfile
    from pathlib import Path

    from benchmark.export import export_onnx, exportable, onnx_session, parity_inputs

    item = exportable(module.cpu(), name)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(item, Path(tmp) / f"{name}.onnx")
        session = onnx_session(path, threads, onnx_providers(runtime, device, precision))
    feeds = {n: v.numpy() for n, v in zip(item.input_names, parity_inputs(item, batch))}
    return lambda: session.run(None, feeds)


def profile_module(
    module,
    name: str,
    group: str,
    *,
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 5,
    budget_s: float = 20.0,
    runtime: str = "torch",
    precision: str = "fp32",
    batch: int = 1,
) -> dict:
    """The measured efficiency row of a built MethodModule (latency per 30 s with `batch` chunks a run)."""
    _check_runtime(runtime, precision, device)
    if device == "cpu":
        torch.set_num_threads(threads)
    net, frames = profiled_network(module)
    example = example_input(module.input_spec, frames)
    # the inference network only: training-only parts (SSPD's EMA target, KD adapters) never run at test
    trainable, total = count_parameters(module.net if hasattr(module, "net") else module)
    counted = count_macs(module, net, example, name)
    activations = leaf_activation_elements(net, example)
    chunks = math.ceil(FRAMES_30S / frames)
    runs = math.ceil(chunks / batch)
    peak = peak_memory_bytes(net.to(device), example.to(device), device)
    if runtime == "torch":
        # what predict runs: the inference form (BN folded, fused convs), in inference mode; MACs, activations
        # and peak memory are counted on the network as defined
        batched = example_input(module.input_spec, frames, batch).to(device)
        fast = net if isinstance(net, _WithSpatialMean) else optimize_for_inference(module.to(device))
        if precision == "fp16":
            fast, batched = fast.half(), batched.half()

        def forward():
            with torch.inference_mode():
                fast(batched)
            synchronize(device)

        how = "inference form, inference mode"
    else:
        forward = _onnx_forward(module, name, batch, device, runtime, precision, threads)
        how = f"exported ONNX, {runtime}"
    median, p90, n = latency_stats(forward, repeats=repeats, budget_s=budget_s)
    macs = counted["total"]
    return {
        "method": name,
        "group": group,
        "device": device.split(":")[0],
        "host": host_name(device),
        "runtime": runtime,
        "precision": precision,
        "batch": batch,
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
        "latency_30s_ms": 1000.0 * median * runs,
        "latency_p90_30s_ms": 1000.0 * p90 * runs,
        "latency_chunk_ms": 1000.0 * median,
        "latency_repeats": n,
        "threads": threads if device == "cpu" else None,
        "peak_memory_mb": peak / 2**20,
        "torch": torch.__version__,
        "note": f"median of {n} runs after 1 warm-up ({how}), {batch} x {frames}-frame chunk(s) a run x "
        f"{runs} runs per 30 s",
    }


def profile_method(name: str, overrides: dict | None = None, label: str = "default", **kwargs) -> dict:
    """Build method `name` (defaults, or a recipe's factory overrides, e.g. a smaller input) and profile it;
    a release name (`weights list`) profiles its network at the release's input.

    `label` names the configuration in the row (the profile command: "default", a sweep: its recipe profile).
    """
    from benchmark.methods import METHODS, create_method
    from benchmark.methods.registry import PRETRAINED_GROUP
    from benchmark.methods.weights import RELEASES

    if name in RELEASES:  # its method's network at the input it was trained on; timing needs no weights
        release = RELEASES.get(name)
        module = create_method(release.method, **release.factory)
        return {**profile_module(module, name, PRETRAINED_GROUP, **kwargs), "config": "as released"}
    entry = METHODS.get(name)
    module = create_method(name, **(overrides or {}))
    return {**profile_module(module, name, entry.group, **kwargs), "config": label}


def profile_methods(
    names: list[str], store=None, overrides: dict | None = None, label: str = "default", **kwargs
) -> list[dict]:
    """Measured rows (plus Jetson estimates) for `names`; a method that fails is logged, skipped. No estimate
    is added for a method the database already has measured on the estimated device."""
    import datetime
    import logging

    from benchmark.profiling.edge_import import has_measured_row
    from benchmark.profiling.roofline import ROOFLINES, estimate_row

    log = logging.getLogger(__name__)
    existing = store.efficiency() if store is not None else []
    rows = []
    for name in names:
        try:
            row = profile_method(name, (overrides or {}).get(name), label, **kwargs)
        except Exception as err:  # noqa: BLE001 - one broken method must not hide the others' numbers
            log.error("profile %s failed: %s: %s", name, type(err).__name__, err)
            continue
        estimates = [
            estimate_row(row, roofline)
            for device, roofline in ROOFLINES.items()
            if row["macs_per_chunk"] is not None and not has_measured_row(existing, name, device)
        ]
        new = [row, *estimates]
        rows += new
        if store is not None:
            date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            for r in new:
                store.put_efficiency(r, date)
    return rows
