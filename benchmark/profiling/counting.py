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
