"""Convolutional attention networks: TS-CAN (Liu et al., NeurIPS 2020), DeepPhys (Chen & McDuff, ECCV 2018).

Both have a motion branch on DiffNormalized frames gated by soft attention masks computed by an appearance
branch on Standardized frames (docs/methods.md). They differ in two places only:
- TS-CAN shifts channels in time (TSM) before each motion conv, and feeds the appearance branch with the
  mean of each D-frame window (one mask per window, shared by its D frames);
- DeepPhys has no TSM and computes a mask per frame.

The input is the datamodule's "diff+standardized" tensor [B, 6, T, H, W] (motion channels first); the model
splits the channels itself. Frames are processed as a batch of 2D images [B*T, C, H, W], so T must be a
multiple of the frame depth D for TS-CAN. Output: the predicted DiffNormalized PPG [B, T] (loss: MSE).

TS-CAN's appearance branch runs once per D-frame window and its masks are repeated over the window's
frames: the same output as running it on the window mean repeated per frame (as the reference code does),
with the same parameters, but about 28 instead of 51 MMAC per frame at 36x36.

The attention mask is normalised over the spatial axes: g <- g * H * W / (2 * sum_HW g). (The AimaNet code
sums over C and H instead, which makes the scale depend on the channel count; we do it over H*W.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule, OptimConfig
from benchmark.methods.losses import create_loss
from benchmark.methods.optimize import conv_act


class TemporalShift(nn.Module):
    """TSM over blocks of D consecutive frames of a [N*D, C, H, W] tensor.

    1/fold_div of the channels take the next frame's value (shift back), 1/fold_div the previous frame's
    (shift forward), the rest stay; zeros enter at the block borders. No parameters, no MACs.
    """

    def __init__(self, frame_depth: int = 10, fold_div: int = 3):
        super().__init__()
        self.frame_depth = frame_depth
        self.fold_div = fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        if nt % self.frame_depth:
            raise ValueError(f"TSM needs a multiple of {self.frame_depth} frames, got {nt}")
        x = x.view(nt // self.frame_depth, self.frame_depth, c, h, w)
        fold = c // self.fold_div
        zero = x.new_zeros(x.shape[0], 1, fold, h, w)
        back = torch.cat([x[:, 1:, :fold], zero], dim=1)
        forward = torch.cat([zero, x[:, :-1, fold : 2 * fold]], dim=1)
        out = torch.cat([back, forward, x[:, :, 2 * fold :]], dim=2)
        return out.view(nt, c, h, w)


def attention_mask(logits: torch.Tensor) -> torch.Tensor:
    """Soft mask from [N, 1, H, W] logits: sigmoid, then scaled so its spatial mean is 0.5."""
    return normalised_mask(torch.sigmoid(logits))


def normalised_mask(g: torch.Tensor) -> torch.Tensor:
    """[N, 1, H, W] sigmoid outputs scaled so their spatial mean is 0.5."""
    h, w = g.shape[-2:]
    return g * (h * w) / (2.0 * g.sum(dim=(2, 3), keepdim=True))


def conv_pair(cin: int, cout: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    """3x3 'same' conv then 3x3 'valid' conv, the building block of every CAN branch."""
    return nn.Conv2d(cin, cout, 3, padding=1), nn.Conv2d(cout, cout, 3)


def dense_features(size: int, filters: int = 64) -> int:
    """Flattened size after two (same, valid, avgpool 2) stages: 36 -> 7x7, 72 -> 16x16."""
    side = ((size - 2) // 2 - 2) // 2
    if side < 1:
        raise ValueError(f"frame size {size} is too small for a CAN (needs at least 10)")
    return filters * side * side


class ConvAttentionNet(nn.Module):
    """The two-branch CAN; `tsm=True` gives TS-CAN, `tsm=False` DeepPhys.

    Args:
        size: frame side S (36 or 72 in the papers; any S >= 10 works).
        frame_depth: D, the TSM block and the appearance averaging window (TS-CAN only).
        tsm: temporal shift in the motion branch and windowed appearance (TS-CAN) or neither (DeepPhys).
    """

    def __init__(self, size: int = 36, frame_depth: int = 10, tsm: bool = True, f1: int = 32, f2: int = 64):
        super().__init__()
        self.frame_depth = frame_depth
        self.tsm = TemporalShift(frame_depth) if tsm else None
        self.motion_conv1, self.motion_conv2 = conv_pair(3, f1)
        self.motion_conv3, self.motion_conv4 = conv_pair(f1, f2)
        self.appearance_conv1, self.appearance_conv2 = conv_pair(3, f1)
        self.appearance_conv3, self.appearance_conv4 = conv_pair(f1, f2)
        self.attention1 = nn.Conv2d(f1, 1, 1)
        self.attention2 = nn.Conv2d(f2, 1, 1)
        self.pool = nn.AvgPool2d(2)
        self.dropout_conv = nn.Dropout(0.25)
        self.dropout_dense = nn.Dropout(0.5)
        self.dense1 = nn.Linear(dense_features(size, f2), 128)
        self.dense2 = nn.Linear(128, 1)

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.tsm is None else self.tsm(x)

    def inference_form(self) -> CANInference:
        """The eval-only fused copy that predict runs (benchmark.methods.optimize)."""
        return CANInference(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[2]
        m, a, repeat = split_inputs(x, self.frame_depth if self.tsm is not None else None)
        m = torch.tanh(self.motion_conv1(self._shift(m)))
        m = torch.tanh(self.motion_conv2(self._shift(m)))
        a = torch.tanh(self.appearance_conv1(a))
        a = torch.tanh(self.appearance_conv2(a))
        g = attention_mask(self.attention1(a))
        m = self.dropout_conv(self.pool(m * g.repeat_interleave(repeat, dim=0)))
        a = self.dropout_conv(self.pool(a))
        m = torch.tanh(self.motion_conv3(self._shift(m)))
        m = torch.tanh(self.motion_conv4(self._shift(m)))
        a = torch.tanh(self.appearance_conv3(a))
        a = torch.tanh(self.appearance_conv4(a))
        g = attention_mask(self.attention2(a))
        m = self.dropout_conv(self.pool(m * g.repeat_interleave(repeat, dim=0)))
        m = self.dropout_dense(torch.tanh(self.dense1(m.flatten(1))))
        return self.dense2(m).view(b, t)


def split_inputs(x: torch.Tensor, windows: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """[B, 6, T, H, W] -> motion frames [B*T, 3, H, W], appearance [B*T or B*T/D, 3, H, W], repeat.

    `windows` = D averages the appearance frames over windows of D (TS-CAN); None keeps every frame."""
    b, c, t, h, w = x.shape
    if c != 6:
        raise ValueError(f"CAN input must have 6 channels (motion + appearance), got {c}")
    motion = x[:, :3].transpose(1, 2).reshape(b * t, 3, h, w)
    appearance = x[:, 3:]
    if windows is None:
        return motion, appearance.transpose(1, 2).reshape(b * t, 3, h, w), 1
    d = windows
    if t % d:
        raise ValueError(f"TS-CAN needs T to be a multiple of the frame depth {d}, got {t}")
    means = appearance.reshape(b, 3, t // d, d, h, w).mean(dim=3)
    return motion, means.transpose(1, 2).reshape(b * t // d, 3, h, w), d


class FramesInference(nn.Module):
    """Shared parts of the CAN / EfficientPhys inference forms: frames [N, C, H, W] kept channels-last,
    each conv one oneDNN call with its tanh / sigmoid fused, TSM done in the channels-last layout, the dense
    layer's weights reordered to read the channels-last features without a transposing copy. No dropout."""

    def __init__(self, net: nn.Module, convs: tuple[str, ...], frame_depth: int | None):
        super().__init__()
        self.frame_depth = frame_depth
        self.fold_div = 3
        self.padding = {name: getattr(net, name).padding for name in convs}
        for name in convs:
            conv = getattr(net, name)
            weight = conv.weight.detach().clone().contiguous(memory_format=torch.channels_last)
            self.register_buffer(f"{name}_w", weight)
            self.register_buffer(f"{name}_b", conv.bias.detach().clone())
        dense1 = net.dense1.weight.detach()
        channels = net.attention2.in_channels
        side = int(round((dense1.shape[1] / channels) ** 0.5))
        hwc = dense1.view(-1, channels, side, side).permute(0, 2, 3, 1).reshape(dense1.shape[0], -1)
        self.register_buffer("dense1_w", hwc.clone())
        self.register_buffer("dense1_b", net.dense1.bias.detach().clone())
        self.register_buffer("dense2_w", net.dense2.weight.detach().clone())
        self.register_buffer("dense2_b", net.dense2.bias.detach().clone())

    def conv(self, x: torch.Tensor, name: str, act: str = "tanh") -> torch.Tensor:
        return conv_act(x, getattr(self, f"{name}_w"), getattr(self, f"{name}_b"), self.padding[name], act)

    def shift(self, x: torch.Tensor) -> torch.Tensor:
        """TemporalShift of a channels-last [N*D, C, H, W], result channels-last (no shift without TSM)."""
        if self.frame_depth is None:
            return x
        nt, c, h, w = x.shape
        d = self.frame_depth
        if nt % d:
            raise ValueError(f"TSM needs a multiple of {d} frames, got {nt}")
        v = x.permute(0, 2, 3, 1).reshape(nt // d, d, h, w, c)
        fold = c // self.fold_div
        out = torch.empty_like(v)
        out[:, :-1, ..., :fold] = v[:, 1:, ..., :fold]
        out[:, -1, ..., :fold] = 0
        out[:, 1:, ..., fold : 2 * fold] = v[:, :-1, ..., fold : 2 * fold]
        out[:, 0, ..., fold : 2 * fold] = 0
        out[..., 2 * fold :] = v[..., 2 * fold :]
        return out.view(nt, h, w, c).permute(0, 3, 1, 2)

    def gated_pool(self, m: torch.Tensor, g: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        g = normalised_mask(g)
        return F.avg_pool2d(m * (g if repeat == 1 else g.repeat_interleave(repeat, dim=0)), 2)

    def dense(self, m: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] channels-last features -> [N] outputs."""
        flat = m.permute(0, 2, 3, 1).reshape(m.shape[0], -1)
        hidden = torch.tanh(F.linear(flat, self.dense1_w, self.dense1_b))
        return F.linear(hidden, self.dense2_w, self.dense2_b)


class CANInference(FramesInference):
    """ConvAttentionNet (TS-CAN or DeepPhys) in eval mode, rewritten for CPU speed; same output."""

    CONVS = (
        *(f"motion_conv{i}" for i in range(1, 5)),
        *(f"appearance_conv{i}" for i in range(1, 5)),
        "attention1",
        "attention2",
    )

    def __init__(self, net: ConvAttentionNet):
        super().__init__(net, self.CONVS, net.frame_depth if net.tsm is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[2]
        m, a, repeat = split_inputs(x, self.frame_depth)
        m, a = (v.contiguous(memory_format=torch.channels_last) for v in (m, a))
        m = self.conv(self.shift(self.conv(self.shift(m), "motion_conv1")), "motion_conv2")
        a = self.conv(self.conv(a, "appearance_conv1"), "appearance_conv2")
        m = self.gated_pool(m, self.conv(a, "attention1", "sigmoid"), repeat)
        a = F.avg_pool2d(a, 2)
        m = self.conv(self.shift(self.conv(self.shift(m), "motion_conv3")), "motion_conv4")
        a = self.conv(self.conv(a, "appearance_conv3"), "appearance_conv4")
        m = self.gated_pool(m, self.conv(a, "attention2", "sigmoid"), repeat)
        return self.dense(m).view(b, t)


def _module(net, name, *, size, frames, loss, optimizer, lr, weight_decay, scheduler) -> MethodModule:
    spec = InputSpec(frames=frames, size=size, inputs="diff+standardized", label="diff", output="diff")
    optim = OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)
    return MethodModule(net, spec, create_loss(loss), kind="supervised", optim=optim, name=name)


def tscan(
    *,
    size: int = 36,
    frames: int = 180,
    frame_depth: int = 10,
    loss: str = "mse",
    optimizer: str = "adamw",
    lr: float = 9e-3,
    weight_decay: float = 0.0,
    scheduler: str = "onecycle",
) -> MethodModule:
    """TS-CAN as in the AimaNet code (36x36, D = 10), with the mask normalised over H*W."""
    net = ConvAttentionNet(size=size, frame_depth=frame_depth, tsm=True)
    return _module(
        net, "tscan", size=size, frames=frames, loss=loss, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, scheduler=scheduler,
    )  # fmt: skip


def deepphys(
    *,
    size: int = 36,
    frames: int = 180,
    loss: str = "mse",
    optimizer: str = "adamw",
    lr: float = 9e-3,
    weight_decay: float = 0.0,
    scheduler: str = "onecycle",
) -> MethodModule:
    """DeepPhys: the TS-CAN layers without TSM, one attention mask per frame."""
    net = ConvAttentionNet(size=size, tsm=False)
    return _module(
        net, "deepphys", size=size, frames=frames, loss=loss, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, scheduler=scheduler,
    )  # fmt: skip
