"""MACs with fvcore, plus handlers for the ops it skips, and torch's own FLOP counter as a cross-check.

fvcore counts conv / linear / matmul / batch-norm exactly but reports element-wise ops (mul, tanh, sigmoid,
div...) as unsupported and has no handler for 3-D pooling. Those cost something, so each gets a handler here:
one MAC per output element for element-wise ops, one per input element for reductions and pooling.
Ops that move data without arithmetic (cat, slicing, roll, view) are not counted, on purpose.
"""

from __future__ import annotations

import warnings
from collections import Counter
from math import prod

import torch
from torch import nn

ELEMENTWISE_OPS = (
    "aten::add",
    "aten::add_",
    "aten::sub",
    "aten::sub_",
    "aten::rsub",
    "aten::mul",
    "aten::mul_",
    "aten::div",
    "aten::div_",
    "aten::tanh",
    "aten::tanh_",
    "aten::sigmoid",
    "aten::sigmoid_",
    "aten::exp",
    "aten::log",
    "aten::sqrt",
    "aten::rsqrt",
    "aten::pow",
    "aten::abs",
    "aten::neg",
    "aten::elu",
    "aten::elu_",
    "aten::leaky_relu",
    "aten::gelu",
    "aten::softmax",
    "aten::_softmax",
    "aten::log_softmax",
    "aten::clamp",
    "aten::clamp_min",
    "aten::hardtanh",
    "aten::reciprocal",
    "aten::square",
    "aten::cumsum",
    "aten::addcmul",
    "aten::where",
    "aten::lerp",
    "aten::instance_norm",
    "aten::layer_norm",
    "aten::group_norm",
)
REDUCING_OPS = (
    "aten::sum",
    "aten::mean",
    "aten::std",
    "aten::var",
    "aten::amax",
    "aten::max",
    "aten::norm",
    "aten::avg_pool1d",
    "aten::avg_pool2d",
    "aten::avg_pool3d",
    "aten::max_pool1d",
    "aten::max_pool2d",
    "aten::max_pool3d",
    "aten::max_pool2d_with_indices",
    "aten::max_pool3d_with_indices",
    "aten::adaptive_avg_pool1d",
    "aten::adaptive_avg_pool2d",
    "aten::adaptive_avg_pool3d",
    "aten::adaptive_max_pool2d",
    "aten::adaptive_max_pool3d",
    "aten::upsample_nearest3d",
    "aten::upsample_trilinear3d",
    "aten::upsample_linear1d",
    "aten::upsample_nearest1d",
)


def _numel(value) -> int:
    try:
        shape = value.type().sizes()
    except Exception:  # noqa: BLE001 - fvcore passes jit values; a scalar has no sizes
        return 0
    return prod(shape) if shape else 0


def _per_output(inputs, outputs) -> int:
    return sum(_numel(o) for o in outputs)


def _per_input(inputs, outputs) -> int:
    return _numel(inputs[0]) if inputs else 0


def fvcore_macs(net: nn.Module, example: torch.Tensor) -> dict:
    """MACs of one forward of `net` on `example`: total, per operator, and what stayed uncounted."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(net.eval(), (example,))
    for op in ELEMENTWISE_OPS:
        analysis.set_op_handle(op, _per_output)
    for op in REDUCING_OPS:
        analysis.set_op_handle(op, _per_input)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        total = int(analysis.total())
        by_op = Counter({k: int(v) for k, v in analysis.by_operator().items()})
        uncounted = dict(analysis.unsupported_ops())
    return {"total": total, "by_operator": dict(by_op), "uncounted": uncounted}


def torch_flop_counter_macs(net: nn.Module, example: torch.Tensor) -> int:
    """MACs from torch.utils.flop_counter (FLOPs / 2; it counts conv / matmul only)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as mode, torch.no_grad():
        net.eval()(example)
    return int(mode.get_total_flops()) // 2


def leaf_activation_elements(net: nn.Module, example: torch.Tensor) -> int:
    """Elements written by every leaf module in one forward: the activation traffic of the roofline model."""
    total = 0

    def hook(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel()

    handles = [m.register_forward_hook(hook) for m in net.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            net.eval()(example)
    finally:
        for h in handles:
            h.remove()
    return total


# ------------------------------------------------------------------------------------ classic methods
# The classic methods run numpy on the per-frame RGB means, which no tracer sees; their work is counted here
# from the algorithms in benchmark/methods/classic.py, one MAC per multiply-add or elementary operation on one
# sample: a mean over n samples costs n, a std 3n, a division by a mean 2n, a biquad 5 per sample.
def _pos_like_windows(t: int, length: int, step: int) -> int:
    """How many windows benchmark.methods.classic._windows makes (the last one ends at T)."""
    length = min(length, t)
    starts = len(range(0, t - length + 1, step))
    return starts + (0 if (t - length) % step == 0 else 1)


def _sosfiltfilt_macs(samples: int, length: int, order: int = 3) -> int:
    """scipy sosfiltfilt of `samples` signals of `length`: forward + backward passes over the padded signal,
    `order` biquad sections (a Butterworth band-pass of order 3 has 3), 5 MACs per section per sample."""
    pad = min(length - 1, 3 * (2 * order + 1))
    return samples * 2 * order * 5 * (length + 2 * pad)


def fast_ica_iterations(rgb, fps: float) -> int:
    """Iterations FastICA takes in ica_bvp on `rgb` [B, 3, T]: one SVD per iteration, counted running it."""
    import numpy as np

    from benchmark.methods import classic

    calls = 0
    svd = np.linalg.svd

    def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return svd(*args, **kwargs)

    np.linalg.svd = counted
    try:
        classic.ica_bvp(np.asarray(rgb, dtype=np.float64), fps)
    finally:
        np.linalg.svd = svd
    return max(calls // max(len(rgb), 1), 1)


def classic_macs(algorithm: str, frames: int, fps: float = 30.0, rgb=None) -> dict[str, int]:
    """MACs of one classic algorithm on T = `frames` RGB means (batch 1), by part; the spatial mean of the
    crop is counted by the caller. `rgb` [1, 3, T] is the profiling input (ICA's iterations are counted on
    it)."""
    from math import ceil, log2

    from benchmark.methods.classic import WINDOW_S

    t = frames
    if algorithm == "green":
        return {"normalise": 3 * t}
    if algorithm == "pos":
        length = min(int(round(WINDOW_S * fps)), t)
        w = _pos_like_windows(t, length, 1)
        # per window: normalise 3 channels (6L), S1 (L), S2 (2L), std ratio (6L), h (L), centre (2L), add (L)
        return {"windowed_projection": 18 * length * w, "overlap_add": length * w}
    if algorithm == "chrom":
        length = min(int(round(WINDOW_S * fps)) // 2 * 2, t)
        w = _pos_like_windows(t, length, max(1, length // 2))
        return {
            # per window: normalise (6L), X (2L), Y (3L), std ratio (6L), S and its Hann weight (3L)
            "windowed_projection": 20 * length * w,
            "bandpass_filtfilt": w * _sosfiltfilt_macs(2, length),
            "overlap_add": length * w,
        }
    if algorithm == "pbv":
        # normalised colour (9T), its std (9T), Q = C C^T (9T), the projection C^T w (3T); 3x3 solve
        return {"normalise": 18 * t, "covariance": 9 * t, "projection": 3 * t, "solve_3x3": 27}
    if algorithm == "lgi":
        # C C^T (9T), SVD of 3x3, projection P C (9T)
        return {"covariance": 9 * t, "svd_3x3": 100, "projection": 9 * t}
    if algorithm == "omit":
        # Householder QR of the 3 x T matrix (3 reflections over 3 x T: 9T), projection P C (9T)
        return {"qr": 9 * t, "projection": 9 * t}
    if algorithm == "ica":
        import numpy as np

        rgb = np.random.default_rng(0).random((1, 3, t)) if rgb is None else rgb
        iterations = fast_ica_iterations(rgb, fps)
        nfft = max(1024, 1 << int(ceil(log2(max(t, 2)))))
        return {
            # smoothness-priors detrend per channel: banded system set-up, Cholesky and solve (~20T)
            "detrend": 3 * 20 * t,
            "standardise": 3 * 5 * t,
            "whiten": 6 * t + 9 * t + 9 * t,
            # per iteration: W Z (9T), tanh (3T), tanh(WZ) Z^T (9T), mean of 1 - tanh^2 (9T)
            f"fastica_{iterations}_iterations": iterations * 30 * t,
            "component_spectra": 3 * int(2.5 * nfft * log2(nfft)) + 3 * nfft,
            "sign": t,
        }
    raise KeyError(f"no MAC count for classic algorithm {algorithm!r}")
