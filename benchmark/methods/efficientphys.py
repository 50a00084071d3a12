"""EfficientPhys-C (Liu et al., WACV 2023): a single motion branch with TSM and self-attention.

Input: Standardized frames [B, 3, T, H, W]; the model itself takes the frame difference (torch.diff in time)
and normalises it with BatchNorm2d(3), so no DiffNormalized preprocessing is needed. Layers follow the
TS-CAN motion branch (docs/methods.md); the attention masks are computed from the motion features
themselves. Output: the DiffNormalized PPG [B, T] (loss: MSE).

Our choice: the T frames give T - 1 differences; a zero difference is appended at the end (as DiffNormalized
does) so the output keeps T samples and T stays a multiple of the frame depth. rPPG-Toolbox instead feeds
T + 1 frames; the difference is one frame of context per chunk.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule, OptimConfig
from benchmark.methods.can import FramesInference, TemporalShift, attention_mask, conv_pair, dense_features
from benchmark.methods.losses import create_loss
from benchmark.methods.optimize import frames_2d


class EfficientPhysNet(nn.Module):
    """EfficientPhys-C: diff + BatchNorm2d(3) + TSM motion branch with self-attention masks."""

    def __init__(self, size: int = 72, frame_depth: int = 10, f1: int = 32, f2: int = 64):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(3)
        self.tsm = TemporalShift(frame_depth)
        self.conv1, self.conv2 = conv_pair(3, f1)
        self.conv3, self.conv4 = conv_pair(f1, f2)
        self.attention1 = nn.Conv2d(f1, 1, 1)
        self.attention2 = nn.Conv2d(f2, 1, 1)
        self.pool = nn.AvgPool2d(2)
        self.dropout_conv = nn.Dropout(0.25)
        self.dropout_dense = nn.Dropout(0.5)
        self.dense1 = nn.Linear(dense_features(size, f2), 128)
        self.dense2 = nn.Linear(128, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        d = x[:, :, 1:] - x[:, :, :-1]  # torch.diff, written out: the ONNX exporter has no aten::diff
        d = torch.cat([d, d.new_zeros(b, c, 1, h, w)], dim=2)
        m = self.input_norm(d.transpose(1, 2).reshape(b * t, c, h, w))
        m = torch.tanh(self.conv1(self.tsm(m)))
        m = torch.tanh(self.conv2(self.tsm(m)))
        m = self.dropout_conv(self.pool(m * attention_mask(self.attention1(m))))
        m = torch.tanh(self.conv3(self.tsm(m)))
        m = torch.tanh(self.conv4(self.tsm(m)))
        m = self.dropout_conv(self.pool(m * attention_mask(self.attention2(m))))
        m = self.dropout_dense(torch.tanh(self.dense1(m.flatten(1))))
        return self.dense2(m).view(b, t)

    def inference_form(self) -> EfficientPhysInference:
        """The eval-only fused copy that predict runs (benchmark.methods.optimize)."""
        return EfficientPhysInference(self)


class EfficientPhysInference(FramesInference):
    """EfficientPhysNet in eval mode, rewritten for CPU speed (see FramesInference); same output. The input
    BatchNorm is applied as its per-channel affine to the frame differences, in the channels-last layout."""

    def __init__(self, net: EfficientPhysNet):
        super().__init__(
            net, ("conv1", "conv2", "conv3", "conv4", "attention1", "attention2"), net.tsm.frame_depth
        )
        bn = net.input_norm
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        self.register_buffer("norm_scale", scale.view(1, -1, 1, 1).clone())
        self.register_buffer(
            "norm_shift", (bn.bias.detach() - bn.running_mean * scale).view(1, -1, 1, 1).clone()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[2]
        x = x.contiguous(memory_format=torch.channels_last_3d)
        d = torch.empty_like(x)
        torch.sub(x[:, :, 1:], x[:, :, :-1], out=d[:, :, :-1])
        d[:, :, -1] = 0
        m = torch.addcmul(self.norm_shift, frames_2d(d), self.norm_scale)
        m = self.conv(self.shift(self.conv(self.shift(m), "conv1")), "conv2")
        m = self.gated_pool(m, self.conv(m, "attention1", "sigmoid"))
        m = self.conv(self.shift(self.conv(self.shift(m), "conv3")), "conv4")
        m = self.gated_pool(m, self.conv(m, "attention2", "sigmoid"))
        return self.dense(m).view(b, t)


def efficientphys(
    *,
    size: int = 72,
    frames: int = 180,
    frame_depth: int = 10,
    loss: str = "mse",
    optimizer: str = "adamw",
    lr: float = 9e-3,
    weight_decay: float = 0.0,
    scheduler: str = "onecycle",
) -> MethodModule:
    """EfficientPhys-C at 72x72, chunk 180, D = 10 (rPPG-Toolbox recipe)."""
    spec = InputSpec(frames=frames, size=size, inputs="standardized", label="diff", output="diff")
    optim = OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)
    net = EfficientPhysNet(size=size, frame_depth=frame_depth)
    return MethodModule(net, spec, create_loss(loss), kind="supervised", optim=optim, name="efficientphys")
