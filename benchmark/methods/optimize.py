"""The one inference form of a network, used by predict, the sweep runner and the profiler's latency.

`optimize_for_inference(module)` returns what to call on a batch instead of `module`: for a network that
offers an `inference_form()` (PhysNet layouts, the CANs, EfficientPhys, TDM, rPPGNet, STVEN) an eval-only copy
with BatchNorm folded into the convolutions, activations fused into oneDNN convolutions on CPU (rPPGNet and
STVEN: folded copies that keep their own activations, `folded_3d_form`) and channels-last activations; for
any other network the network itself. The training network is never changed: its parameters, state_dict keys
and parameter count stay exactly as they are, and the copy is rebuilt per call so it always reflects the
current weights. Callers run it under `torch.inference_mode()`.

The fused ops are oneDNN's (`torch.ops.mkldnn._convolution_pointwise`); on a build or device without them the
inference forms fall back to the plain convolution plus the activation, with the same result.
"""

from __future__ import annotations

import copy

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
    return folded_weights(block[0], block[1])


def folded_weights(conv: nn.Module, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of `conv` followed by `norm` (a BatchNorm, or an InstanceNorm that tracks running
    statistics: the same affine map in eval mode); neither module is changed."""
    bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(norm.num_features)
    weight, bias = fuse_conv_bn_weights(
        conv.weight, bias, norm.running_mean, norm.running_var, norm.eps, norm.weight, norm.bias,
        transpose=isinstance(conv, nn.modules.conv._ConvTransposeNd),
    )  # fmt: skip
    return weight.detach().clone(), bias.detach().clone()


_CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NORMS = (nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d, nn.InstanceNorm3d)


def _last_conv(module: nn.Module) -> nn.Module | None:
    while isinstance(module, nn.Sequential) and len(module):
        module = module[-1]
    return module if isinstance(module, _CONVS) else None


def fold_norms(net: nn.Module) -> nn.Module:
    """`net`, an eval-only copy, with every normalisation that uses running statistics and directly follows a
    convolution in an nn.Sequential (or ends a nested one) folded into that convolution: one pass over the
    activations less per norm, the same eval-mode output up to float rounding."""
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(1, len(seq)):
            conv, norm = _last_conv(seq[i - 1]), seq[i]
            if conv is None or not isinstance(norm, _NORMS) or norm.running_mean is None:
                continue
            weight, bias = folded_weights(conv, norm)
            conv.weight = nn.Parameter(weight, requires_grad=False)
            conv.bias = nn.Parameter(bias, requires_grad=False)
            seq[i] = nn.Identity()
    return net


class ChannelsLast3d(nn.Module):
    """Runs `net` on channels-last-3d activations: oneDNN's faster layout for 3D convolutions on CPU."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last_3d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last_3d))


def folded_3d_form(net: nn.Module) -> nn.Module:
    """The inference form of a 3D network built from Sequential(conv, norm, activation) blocks: an eval-only
    copy with its norms folded (fold_norms), on channels-last-3d activations."""
    return ChannelsLast3d(fold_norms(copy.deepcopy(net).eval()))


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


class FusedSequential(nn.Module):
    """An nn.Sequential of 2D layers for channels-last inputs: each stride-1 convolution and the Tanh / ReLU /
    Sigmoid after it one conv_act call (oneDNN applies the activation as it writes), channels-last weights;
    every other layer (pooling) kept as it is. Eval only: weights are copied, not shared."""

    def __init__(self, seq: nn.Sequential):
        super().__init__()
        layers, steps = list(seq), []
        i = 0
        while i < len(layers):
            layer = layers[i]
            if isinstance(layer, nn.Conv2d) and _fusable(layer):
                act = _FUSABLE.get(type(layers[i + 1]), "none") if i + 1 < len(layers) else "none"
                steps.append(_ConvAct(layer, act))
                i += 1 + (act != "none")
            else:
                steps.append(layer)
                i += 1
        self.steps = nn.ModuleList(steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step(x)
        return x


_FUSABLE = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


def _fusable(conv: nn.Conv2d) -> bool:
    return (
        all(s == 1 for s in conv.stride)
        and all(d == 1 for d in conv.dilation)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
    )


class _ConvAct(nn.Module):
    def __init__(self, conv: nn.Conv2d, act: str):
        super().__init__()
        weight = conv.weight.detach().clone().contiguous(memory_format=torch.channels_last)
        bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias.detach().clone())
        self.padding, self.act = tuple(conv.padding), act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_act(x, self.weight, self.bias, self.padding, self.act)


def frames_2d(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] channels-last-3d -> [B*T, C, H, W] channels-last, a view (no copy): both are
    laid out B, T, H, W, C in memory."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


def clips_3d(f: torch.Tensor, b: int) -> torch.Tensor:
    """Inverse of `frames_2d`: [B*T, C, H, W] channels-last -> [B, C, T, H, W] channels-last-3d, a view."""
    n, c, h, w = f.shape
    return f.view(b, n // b, c, h, w).transpose(1, 2)
