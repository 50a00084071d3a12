"""PhysNet (Yu et al., BMVC 2019), the 3D-CNN encoder-decoder of rPPG-Toolbox, at any channel widths.

Input: DiffNormalized frames [B, 3, T, H, W] (RGB, T a multiple of 4; 128 x 72 x 72 by default).
Output: the rPPG signal [B, T] (loss: negative Pearson against the DiffNormalized label).

`PhysNetLayout(widths)` is also the KD teacher (16, 32, 64) and student (4, 8, 11) in benchmark/methods/kd.py;
`forward_features` returns the three stage features distillation uses.

Pretrained rPPG-Toolbox weights load through `load_pretrained(net, path)`: their state_dict keys
(ConvBlock1..ConvBlock10, upsample, upsample2) are renamed by `TOOLBOX_KEY_MAP`. Those weights were trained on
frames read with OpenCV and converted BGR -> RGB, laid out [B, C, T, H, W], DiffNormalized, face box x1.5,
resized to 72x72: the same orientation and channel order as our datamodule, so no channel flip is needed.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule, OptimConfig
from benchmark.methods.losses import recipe_loss
from benchmark.methods.optimize import clips_3d, conv_act, folded_conv_bn, frames_2d
from benchmark.methods.weights import load_mapped, rename_keys

# rPPG-Toolbox prefix -> our prefix; the rest of a key (".0.weight", ".1.running_mean") is unchanged.
TOOLBOX_KEY_MAP = {
    "ConvBlock1.": "stem.",
    "ConvBlock2.": "stage1.0.",
    "ConvBlock3.": "stage1.1.",
    "ConvBlock4.": "stage2.0.",
    "ConvBlock5.": "stage2.1.",
    "ConvBlock6.": "stage3.0.",
    "ConvBlock7.": "stage3.1.",
    "ConvBlock8.": "stage4.0.",
    "ConvBlock9.": "stage4.1.",
    "upsample.": "decoder.0.",
    "upsample2.": "decoder.1.",
    "ConvBlock10.": "head.",
}


def conv_bn_relu(cin: int, cout: int, kernel: tuple[int, int, int]) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel)
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, padding=padding), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)
    )


def upsample_time(channels: int) -> nn.Sequential:
    """Transposed (4,1,1) conv, stride 2 in time: T/4 -> T/2 -> T."""
    return nn.Sequential(
        nn.ConvTranspose3d(channels, channels, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
        nn.BatchNorm3d(channels),
        nn.ELU(),
    )


class PhysNetLayout(nn.Module):
    """PhysNet with widths (w1, w2, w3): 16/32/64 is PhysNet (768,577 params), 4/8/11 the KD student."""

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        w1, w2, w3 = widths
        self.widths = tuple(widths)
        self.stem = conv_bn_relu(3, w1, (1, 5, 5))
        self.stage1 = nn.Sequential(conv_bn_relu(w1, w2, (3, 3, 3)), conv_bn_relu(w2, w3, (3, 3, 3)))
        self.stage2 = nn.Sequential(conv_bn_relu(w3, w3, (3, 3, 3)), conv_bn_relu(w3, w3, (3, 3, 3)))
        self.stage3 = nn.Sequential(conv_bn_relu(w3, w3, (3, 3, 3)), conv_bn_relu(w3, w3, (3, 3, 3)))
        self.stage4 = nn.Sequential(conv_bn_relu(w3, w3, (3, 3, 3)), conv_bn_relu(w3, w3, (3, 3, 3)))
        self.decoder = nn.Sequential(upsample_time(w3), upsample_time(w3))
        self.head = nn.Conv3d(w3, 1, 1)
        self.pool_space = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))
        self.pool_spacetime = nn.MaxPool3d(2, stride=2)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """BVP [B, T] and the features after stages 1-3 (PhysNet's '64/32/16-pixel' maps at a 128 input)."""
        t = x.shape[2]
        if t % 4:
            raise ValueError(f"PhysNet needs T to be a multiple of 4, got {t}")
        f1 = self.stage1(self.pool_space(self.stem(x)))
        f2 = self.stage2(self.pool_spacetime(f1))
        f3 = self.stage3(self.pool_spacetime(f2))
        y = self.decoder(self.stage4(self.pool_space(f3)))
        y = self.head(y.mean(dim=(3, 4), keepdim=True))
        return y.view(x.shape[0], t), [f1, f2, f3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]

    def inference_form(self) -> PhysNetInference:
        """The eval-only fused copy that predict runs (benchmark.methods.optimize)."""
        return PhysNetInference(self)


class PhysNetInference(nn.Module):
    """PhysNetLayout in eval mode, rewritten for CPU speed; same output to float rounding.

    BatchNorm folded into every conv, ReLU fused into oneDNN convs, activations channels-last-3d throughout
    (PyTorch's own heuristic sends narrow batch-1 Conv3d, all of the KD student's, to a slow im2col path;
    the direct oneDNN call avoids it). The (1, 2, 2) pools run as 2D ops over the B*T frames (a free view
    in that layout). A narrow (1, 5, 5) stem (the KD student's 4 channels, which oneDNN vectorises badly)
    and its pool run on 2x2 pixel blocks (`block_stem_weights`): one 3x3 conv gives the four pixels of each
    pool window as 16 channels, the pool is a max over them, and the full-resolution stem output is never
    written. Each (4, 1, 1) stride-2 transposed conv is one matmul to its four taps, added
    in place: even output frame 2j = tap1[j] + tap3[j-1], odd 2j+1 = tap2[j] + tap0[j+1].
    """

    def __init__(self, net: PhysNetLayout):
        super().__init__()
        stem_w, stem_b = folded_conv_bn(net.stem)
        self.register_buffer("stem_w", stem_w.squeeze(2).contiguous(memory_format=torch.channels_last))
        self.register_buffer("stem_b", stem_b)
        blocks_w = block_stem_weights(stem_w.squeeze(2))
        self.register_buffer("stem_blocks_w", blocks_w)
        self.register_buffer("stem_blocks_b", stem_b.repeat(4))
        # only where it pays: with 16 stem channels (PhysNet, the teacher) oneDNN's full-resolution conv is
        # faster than the block conv's 4x wider output; with the student's 4 it is several times slower
        self.block_stem = stem_w.shape[0] < 8
        blocks = [block for stage in (net.stage1, net.stage2, net.stage3, net.stage4) for block in stage]
        for i, block in enumerate(blocks):
            w, b = folded_conv_bn(block)
            self.register_buffer(f"conv{i}_w", w.contiguous(memory_format=torch.channels_last_3d))
            self.register_buffer(f"conv{i}_b", b)
        for i, block in enumerate(net.decoder):
            w, b = folded_conv_bn(block)  # [C_in, C_out, 4, 1, 1] -> taps side by side: [C_in, 4 * C_out]
            self.register_buffer(f"up{i}_w", w[..., 0, 0].permute(0, 2, 1).reshape(w.shape[0], -1).clone())
            self.register_buffer(f"up{i}_b", b)
        self.register_buffer("head_w", net.head.weight.detach().flatten().clone())
        self.register_buffer("head_b", net.head.bias.detach().clone())

    def _conv(self, x: torch.Tensor, i: int) -> torch.Tensor:
        return conv_act(x, getattr(self, f"conv{i}_w"), getattr(self, f"conv{i}_b"), (1, 1, 1), "relu")

    def _upsample(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """(4, 1, 1) transposed conv, stride 2, padding 1 in time, + folded BN + ELU: [B, C, T] -> 2T."""
        b, c, t, h, w = x.shape
        taps = (x.permute(0, 2, 3, 4, 1) @ getattr(self, f"up{i}_w")).view(b, t, h, w, 4, c)
        even = taps[..., 1, :].clone()
        even[:, 1:] += taps[:, :-1, ..., 3, :]
        odd = taps[..., 2, :].clone()
        odd[:, :-1] += taps[:, 1:, ..., 0, :]
        y = F.elu(torch.stack([even, odd], dim=2) + getattr(self, f"up{i}_b"))
        return y.view(b, 2 * t, h, w, c).permute(0, 4, 1, 2, 3)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """Stem conv + ReLU + (1, 2, 2) max pool: [B, 3, T, H, W] -> [B*T, w1, H/2, W/2] channels-last."""
        b, c, t, h, w = x.shape
        if h % 2 or w % 2 or not self.block_stem:  # full-resolution conv, then the pool
            f = frames_2d(x.contiguous(memory_format=torch.channels_last_3d))
            return F.max_pool2d(conv_act(f, self.stem_w, self.stem_b, (2, 2), "relu"), 2)
        blocks = x.reshape(b, c, t, h // 2, 2, w // 2, 2).permute(0, 2, 1, 4, 6, 3, 5)
        blocks = blocks.reshape(b * t, 4 * c, h // 2, w // 2)  # one copy; channel i * 4 + a * 2 + b
        y = conv_act(blocks, self.stem_blocks_w, self.stem_blocks_b, (1, 1), "relu")
        half = y.shape[1] // 2
        y = torch.maximum(y[:, :half], y[:, half:])  # max over the block's two rows ...
        y = torch.maximum(y[:, : half // 2], y[:, half // 2 :])  # ... and its two columns
        return y.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, _, _ = x.shape
        if t % 4:
            raise ValueError(f"PhysNet needs T to be a multiple of 4, got {t}")
        x = clips_3d(self._stem(x), b)
        x = F.max_pool3d(self._conv(self._conv(x, 0), 1), 2)
        x = F.max_pool3d(self._conv(self._conv(x, 2), 3), 2)
        x = clips_3d(F.max_pool2d(frames_2d(self._conv(self._conv(x, 4), 5)), 2), b)
        x = self._upsample(self._upsample(self._conv(self._conv(x, 6), 7), 0), 1)
        return x.mean(dim=(3, 4)).transpose(1, 2) @ self.head_w + self.head_b


def block_stem_weights(weight: torch.Tensor) -> torch.Tensor:
    """A 5x5 'same' conv [C, Cin, 5, 5] rewritten over 2x2 pixel blocks: [4 * C, 4 * Cin, 3, 3].

    Output channel (py * 2 + px) * C + c is channel c at pixel (py, px) of each block; input channel
    i * 4 + a * 2 + b is channel i at block pixel (a, b). Output row 2I + py reads input row
    2 (I + k - 1) + a, i.e. tap dy = 2k + a - py of the 5x5 kernel (none outside it); columns alike."""
    c, cin = weight.shape[:2]
    out = weight.new_zeros(2, 2, c, cin, 2, 2, 3, 3)
    for py, px, a, b, k, j in itertools.product(range(2), range(2), range(2), range(2), range(3), range(3)):
        dy, dx = 2 * k + a - py, 2 * j + b - px
        if 0 <= dy < 5 and 0 <= dx < 5:
            out[py, px, :, :, a, b, k, j] = weight[:, :, dy, dx]
    return out.reshape(4 * c, 4 * cin, 3, 3)


def map_toolbox_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename rPPG-Toolbox PhysNet keys to ours; a key with no mapping raises KeyError naming it."""
    return rename_keys(state, TOOLBOX_KEY_MAP)


def load_pretrained(net: PhysNetLayout, path: str | Path) -> PhysNetLayout:
    """Load an rPPG-Toolbox PhysNet state_dict (weights_only) into `net` through the key map."""
    what = f"an rPPG-Toolbox PhysNet state_dict for widths {net.widths}"
    return load_mapped(net, path, TOOLBOX_KEY_MAP, what)


def physnet_spec(frames: int, size: int) -> InputSpec:
    return InputSpec(frames=frames, size=size, inputs="diff", label="diff", output="diff")


def physnet(
    *,
    size: int = 72,
    frames: int = 128,
    weights: str | Path | None = None,
    loss: str = "np",
    optimizer: str = "adamw",
    lr: float = 9e-3,
    weight_decay: float = 0.0,
    scheduler: str = "onecycle",
    num_subjects: int | None = None,
    fps: float = 30.0,
    talos_lr: float = 1.0,
    talos_max_shift_s: float = 1.0,
    talos_warmup_steps: int = 0,
) -> MethodModule:
    """PhysNet; `weights` loads an rPPG-Toolbox state_dict (the CLI's --weights). `loss="talos"` needs
    `num_subjects` (the runner passes it) as TDM's does."""
    net = PhysNetLayout()
    if weights is not None:
        load_pretrained(net, weights)
    loss_fn = recipe_loss(loss, num_subjects, fps, talos_lr, talos_max_shift_s, talos_warmup_steps)
    optim = OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)
    return MethodModule(net, physnet_spec(frames, size), loss_fn, optim=optim, name="physnet")
