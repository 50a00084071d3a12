"""TDM: lightweight rPPG with Temporal Derivative Modules (Comas, Ruiz, Sukno, CVPRW 2022).

The paper's published code is not public; this is our reconstruction of its idea, with these choices:

- Input: DiffNormalized 36x36 frames and a DiffNormalized label, plus the standardized appearance frame, as
  TS-CAN (the model it is compared with), so both see the same information and the MAE comparison is fair.
  The paper does not publish its encoder; as in TS-CAN, the spatial attention mask comes from the
  appearance frame (avgpool 4 to 9x9, 3x3 conv 3->8, tanh, 1x1 conv -> sigmoid): a mask computed from the
  difference frames alone cannot tell skin from background in still video (the pulse is far below the
  camera noise there), and on SynthPulse `quick` one of the two test subjects of the `still` scenario
  failed (17.7 bpm MAE) without it and neither does with it (0.2 bpm). `appearance=False` keeps the
  difference-only encoder, whose mask is a 1x1 conv on its own features.
- Spatial encoder, per frame (a 2D CNN, frames folded into the batch): 3x3 conv 3->16, 3x3 16->16, avgpool 2,
  3x3 16->32, 3x3 32->32, tanh after each ("same" padding), then the soft spatial attention (sigmoid,
  normalised to sum H*W/2 as in TS-CAN's mask) pooling the 9x9 map to one 32-d vector per frame.
  This is ~6x fewer MACs per frame than TS-CAN's two-branch encoder and no dense 3136->128 layer.
- Temporal Derivative Module on the [B, C, T] sequence: x + D1 x + D2 D1 x / 2! + ... up to order N
  (default 3), a Taylor-like aggregation. Each D_i is a *depthwise* Conv1d (kernel 3, one filter per
  channel, no bias) initialised as the central difference [-1/2, 0, 1/2], so at initialisation the module
  really is a truncated Taylor expansion and training can bend each derivative. Depthwise keeps it
  lightweight (a full channel mix would cost C^2 per order). Each order has its own D_i (the idea "derivative
  applied repeatedly" with a learnable filter per application); a 1x1 conv then mixes channels.
- Two TDM blocks (each TDM + pointwise mix + tanh, residual) and a head (1x1 Conv1d 32->16, tanh, 16->1).

Any loss of `benchmark.methods.losses` can train it (default MSE, `loss="talos"` for TALOS).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule, OptimConfig
from benchmark.methods.losses import recipe_loss
from benchmark.methods.optimize import FusedSequential


class DerivativeConv(nn.Conv1d):
    """Depthwise temporal derivative filter, initialised as the central difference."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False
        )
        with torch.no_grad():
            self.weight.zero_()
            self.weight[:, 0, kernel_size // 2 - 1] = -0.5
            self.weight[:, 0, kernel_size // 2 + 1] = 0.5


class TemporalDerivativeModule(nn.Module):
    """x + D1 x + D2 D1 x / 2! + ... + D_N...D1 x / N!  (Taylor-like aggregation of derivatives)."""

    def __init__(self, channels: int, order: int = 3, kernel_size: int = 3):
        super().__init__()
        if order < 1:
            raise ValueError(f"TDM order must be >= 1, got {order}")
        self.derivatives = nn.ModuleList(DerivativeConv(channels, kernel_size) for _ in range(order))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, term = x, x
        for n, derivative in enumerate(self.derivatives, start=1):
            term = derivative(term)
            out = out + term / math.factorial(n)
        return out


class TDMBlock(nn.Module):
    """TDM, then a pointwise channel mix and tanh, with a residual connection."""

    def __init__(self, channels: int, order: int):
        super().__init__()
        self.tdm = TemporalDerivativeModule(channels, order)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.mix(self.tdm(x)))


class FrameEncoder(nn.Module):
    """Per-frame 2D CNN -> one feature vector per frame, pooled with a learned spatial attention mask."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, int] = (16, 32), appearance: bool = False):
        super().__init__()
        w1, w2 = widths
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w1, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(w1, w1, 3, padding=1),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(w2, w2, 3, padding=1),
            nn.Tanh(),
            nn.AvgPool2d(2),
        )
        self.attention = None if appearance else nn.Conv2d(w2, 1, 1)
        # optional skin mask from the appearance frame (as TS-CAN's), computed at the 9x9 map size (cheap)
        self.appearance = (
            nn.Sequential(
                nn.AvgPool2d(4), nn.Conv2d(in_channels, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 1, 1)
            )
            if appearance
            else None
        )
        self.out_channels = w2

    def forward(self, frames: torch.Tensor, appearance: torch.Tensor | None = None) -> torch.Tensor:
        """frames [N, C, H, W] (and appearance frames of the same shape) -> [N, C_out]."""
        f = self.features(frames)
        if self.appearance is not None:
            g = torch.sigmoid(self.appearance(appearance))
        else:
            g = torch.sigmoid(self.attention(f))
        return attention_pool(f, g)


def attention_pool(features: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Features [N, C, h, w] pooled to [N, C] under the mask g [N, 1, h, w], scaled to sum h*w/2 per frame
    (TS-CAN's normalisation: the mask weighs skin against background without changing the features' scale)."""
    h, w = g.shape[-2:]
    g = g * (h * w) / (2.0 * g.sum(dim=(2, 3), keepdim=True) + 1e-8)
    return (features * g).mean(dim=(2, 3))


class TDMNet(nn.Module):
    """[B, C, T, H, W] -> [B, T]."""

    def __init__(
        self, in_channels: int = 3, order: int = 3, blocks: int = 2, widths: tuple[int, int] = (16, 32)
    ):
        super().__init__()
        self.appearance = in_channels == 6  # diff + standardized frames: the mask comes from appearance
        self.encoder = FrameEncoder(3 if self.appearance else in_channels, widths, self.appearance)
        c = self.encoder.out_channels
        self.blocks = nn.Sequential(*(TDMBlock(c, order) for _ in range(blocks)))
        self.head = nn.Sequential(nn.Conv1d(c, c // 2, 1), nn.Tanh(), nn.Conv1d(c // 2, 1, 1))

    def inference_form(self) -> TDMInference:
        """The eval-only fused copy that predict runs (benchmark.methods.optimize)."""
        return TDMInference(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        if self.appearance:
            feats = self.encoder(frames[:, :3], frames[:, 3:])
        else:
            feats = self.encoder(frames)
        feats = feats.reshape(b, t, -1).transpose(1, 2)  # [B, C', T]
        return self.head(self.blocks(feats)).squeeze(1)


class TDMInference(nn.Module):
    """TDMNet in eval mode for CPU speed, same output: frames channels-last, each frame conv and its tanh one
    oneDNN call (FusedSequential); the temporal blocks and head as they are."""

    def __init__(self, net: TDMNet):
        super().__init__()
        net = copy.deepcopy(net).eval()
        self.appearance = net.appearance
        self.features = FusedSequential(net.encoder.features)
        self.mask = FusedSequential(net.encoder.appearance) if net.appearance else None
        self.attention, self.blocks, self.head = net.encoder.attention, net.blocks, net.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.permute(0, 2, 3, 4, 1).reshape(b * t, h, w, c)

        def channels_last(part: torch.Tensor) -> torch.Tensor:
            return part.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

        f = self.features(channels_last(frames[..., :3] if self.appearance else frames))
        if self.mask is not None:
            g = torch.sigmoid(self.mask(channels_last(frames[..., 3:])))
        else:
            g = torch.sigmoid(self.attention(f))
        feats = attention_pool(f, g).reshape(b, t, -1).transpose(1, 2)
        return self.head(self.blocks(feats)).squeeze(1)


def create_tdm(
    *,
    frames: int = 160,
    size: int = 36,
    order: int = 3,
    blocks: int = 2,
    appearance: bool = True,
    loss: str = "mse",
    num_subjects: int | None = None,
    fps: float = 30.0,
    talos_lr: float = 1.0,
    talos_max_shift_s: float = 1.0,
    talos_warmup_steps: int = 0,
    optimizer: str = "adamw",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    scheduler: str = "none",
) -> MethodModule:
    """The catalogue factory. `loss="talos"` needs `num_subjects` (training subjects) and the data's `fps`."""
    inputs = "diff+standardized" if appearance else "diff"
    spec = InputSpec(frames=frames, size=size, inputs=inputs, label="diff", output="diff")
    net = TDMNet(in_channels=spec.channels, order=order, blocks=blocks)
    loss_fn = recipe_loss(loss, num_subjects, fps, talos_lr, talos_max_shift_s, talos_warmup_steps)
    optim = OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)
    return MethodModule(net, spec, loss=loss_fn, optim=optim, name="tdm")
