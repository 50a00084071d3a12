"""The one inference form of a network, used by predict, the sweep runner and the profiler's latency.

`optimize_for_inference(module)` returns what to call on a batch instead of `module`: for a network that
offers an `inference_form()` (PhysNet layouts, the CANs, EfficientPhys) an eval-only copy with BatchNorm
folded into the convolutions, activations fused into oneDNN convolutions on CPU and channels-last
activations; for any other network the network itself. The training network is never changed: its
parameters, state_dict keys and parameter count stay exactly as they are, and the copy is rebuilt per call
so it always reflects the current weights. Callers run it under `torch.inference_mode()`.

The fused ops are oneDNN's (`torch.ops.mkldnn._convolution_pointwise`); on a build or device without them the
inference forms fall back to the plain convolution plus the activation, with the same result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "none": lambda x: x}


def optimize_for_inference(module: nn.Module) -> nn.Module:
    """The network to call for prediction: `module`'s inference form when its network has one, else itself.

    A MethodModule whose forward is the plain `net(x)` is unwrapped to its net; a module with its own forward
    is returned unchanged (it may depend on state the net does not see)."""
    from benchmark.methods.base import MethodModule

    net = module
    if isinstance(module, MethodModule) and type(module).forward is MethodModule.forward:
        net = module.net
    form = getattr(net, "inference_form", None)
    if form is None:
        return module
    return form().eval().requires_grad_(False)


def folded_conv_bn(block: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of Sequential(conv, BatchNorm, ...) with the BatchNorm's running statistics folded in,
    as the eval-mode network computes them; the block itself is not changed."""
    conv, bn = block[0], block[1]
    bias = conv.bias if conv.bias is not None else torch.zeros(bn.num_features, device=conv.weight.device)
    weight, bias = fuse_conv_bn_weights(
        conv.weight, bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose=isinstance(conv, nn.modules.conv._ConvTransposeNd),
    )  # fmt: skip
    return weight.detach().clone(), bias.detach().clone()


def conv_act(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: tuple[int, ...], act: str
) -> torch.Tensor:
    """act(conv(x)) with stride 1: one oneDNN call with the activation fused on CPU (it keeps x's memory
    format, channels-last in the inference forms), the plain conv then the activation elsewhere."""
    dims = x.dim() - 2
    if _ONEDNN and x.device.type == "cpu" and x.dtype == torch.float32:
        ones = [1] * dims
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, bias, list(padding), ones, ones, 1, act, [None], None
        )
    conv = F.conv3d if dims == 3 else F.conv2d
    return _ACTIVATIONS[act](conv(x, weight, bias, padding=padding))


def frames_2d(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] channels-last-3d -> [B*T, C, H, W] channels-last, a view (no copy): both are
    laid out B, T, H, W, C in memory."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


def clips_3d(f: torch.Tensor, b: int) -> torch.Tensor:
    """Inverse of `frames_2d`: [B*T, C, H, W] channels-last -> [B, C, T, H, W] channels-last-3d, a view."""
    n, c, h, w = f.shape
    return f.view(b, n // b, c, h, w).transpose(1, 2)
