"""Parameters, latency, peak memory and the host, measured the same way for every method."""

from __future__ import annotations

import math
import platform
import statistics
import time
import weakref
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def count_parameters(net: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, shared tensors counted once."""
    seen, trainable, total = set(), 0, 0
    for p in net.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, else what platform knows)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def host_name(device: str) -> str:
    """What the numbers were measured on: the GPU's name for CUDA, the CPU model otherwise."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_model()


class _LiveTensorBytes(TorchDispatchMode):
    """Tracks bytes of tensor storages created inside the mode and still alive; keeps the peak."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self._seen:
                    self._seen.add(key)
                    nbytes = storage.nbytes()
                    self.live += nbytes
                    weakref.finalize(storage, self._release, key, nbytes)
        self.peak = max(self.peak, self.live)
        return out


def peak_memory_bytes(net: nn.Module, example: torch.Tensor, device: str) -> int:
    """Peak memory of one inference forward: weights + input + the largest set of live activations."""
    weights = sum(p.numel() * p.element_size() for p in net.parameters())
    weights += sum(b.numel() * b.element_size() for b in net.buffers())
    base = weights + example.numel() * example.element_size()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        with torch.no_grad():
            net(example)
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - before + base)
    tracker = _LiveTensorBytes()
    with torch.no_grad(), tracker:
        net(example)
    return int(base + tracker.peak)


def median_latency_s(fn, *, warmup: int = 1, repeats: int = 5, budget_s: float = 20.0) -> tuple[float, int]:
    """Median wall time of `fn()` after warm-up; fewer repeats when one call is slow. Returns (median, n)."""
    median, _, n = latency_stats(fn, warmup=warmup, repeats=repeats, budget_s=budget_s)
    return median, n


def latency_stats(
    fn, *, warmup: int = 1, repeats: int = 5, budget_s: float = 20.0
) -> tuple[float, float, int]:
    """(median, 90th percentile, n) of the wall time of `fn()` after warm-up; fewer repeats (at least 3)
    when the budget runs out, one when a single call is over it."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
        if times[0] > budget_s:
            break
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return statistics.median(times), p90, len(times)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
