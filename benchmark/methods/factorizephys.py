"""FactorizePhys (Joshi, Agaian, Cho, NeurIPS 2024): a small 3D-CNN whose attention comes from a nonnegative
matrix factorisation of its own voxel embeddings (FSAM), added back through a residual connection: the
`FactorizePhys_FSAM_Res` of rPPG-Toolbox, whose released weights load here strictly (`TOOLBOX_KEY_MAP`).

Input: raw frames [B, 3, T, H, W], pixel values in [0, 255] (the toolbox's "Raw" data type: no normalisation
outside the network). The network differences the frames itself and normalises the differences with
InstanceNorm3d(3), per clip and channel. 72 x 72, T = 160 by default. Output: the BVP [B, T] (loss: negative
Pearson against the Standardized label).

FSAM runs while training only (and in eval when `fsam_inference`): the toolbox's inference configs build the
network without it, which is how the released weights were scored, and the attention it learns has already
shaped the convolutions. Its weights are part of the module all the same, so a release loads strictly and
can be fine-tuned with it.

Our choice, as EfficientPhys's: T frames give T - 1 differences and a zero difference is appended, so the
output keeps T samples. The toolbox feeds the T frames plus a copy of the last one: the same input.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule, OptimConfig
from benchmark.methods.losses import create_loss
from benchmark.methods.weights import load_mapped, rename_keys

WIDTHS = (8, 12, 16)  # channels of the three resolutions, as in the released weights
MIN_SIZE = 71  # the unpadded convs (two with stride 2) bring 71-74 px to a 1 x 1 map; fewer leave nothing

# rPPG-Toolbox prefix -> our prefix; the rest of the key (".weight", ".bias") is unchanged
_EXTRACTOR = "rppg_feature_extractor.FeatureExtractor."
TOOLBOX_KEY_MAP = {
    **{f"{_EXTRACTOR}{i}.conv_block_3d.0.": f"stage1.{i}.conv." for i in range(3)},
    **{f"{_EXTRACTOR}{i + 4}.conv_block_3d.0.": f"stage2.{i}.conv." for i in range(3)},
    **{f"rppg_head.conv_block.{i}.conv_block_3d.0.": f"stage3.{i}.conv." for i in range(3)},
    "rppg_head.fsam.pre_conv_block.0.": "fsam.squeeze.0.",
    "rppg_head.fsam.post_conv_block.0.conv.": "fsam.expand.0.",
    "rppg_head.fsam.post_conv_block.1.": "fsam.expand.2.",
    "rppg_head.final_layer.0.conv_block_3d.0.": "head.0.conv.",
    "rppg_head.final_layer.1.conv_block_3d.0.": "head.1.conv.",
    "rppg_head.final_layer.2.": "head.2.",
}


class ConvTanhNorm(nn.Module):
    """3 x 3 x 3 conv (no bias), tanh, InstanceNorm3d (no affine): the network's one block. Time is always
    padded; space only in the first block (`pad_space`), so every later block shrinks the map by 2."""

    def __init__(self, cin: int, cout: int, stride: int = 1, pad_space: bool = False):
        super().__init__()
        pad = int(pad_space)
        self.conv = nn.Conv3d(cin, cout, 3, stride=(1, stride, stride), padding=(1, pad, pad), bias=False)
        self.norm = nn.InstanceNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(torch.tanh(self.conv(x)))


def nmf_update_coefficients(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor, eps: float) -> torch.Tensor:
    """One multiplicative update (Lee & Seung) of H in V ~ W H^T: V [B, D, N], W [B, D, R], H [B, N, R]."""
    return h * (v.transpose(1, 2) @ w) / (h @ (w.transpose(1, 2) @ w) + eps)


def nmf_approximation(v: torch.Tensor, rank: int = 1, steps: int = 4, eps: float = 1e-6) -> torch.Tensor:
    """W H^T, the rank-`rank` nonnegative factorisation of each nonnegative matrix V [B, D, N].

    W starts as unit columns of ones, H as the softmax over ranks of V^T W; `steps` multiplicative updates of
    both run without gradient, and one last update of H carries the gradient back to V. Why: FSAM treats
    the solver as a fixed low-rank projection of the embeddings, not as something to differentiate through
    (the paper's one-step gradient).
    """
    d = v.shape[1]
    with torch.no_grad():
        w = v.new_full((v.shape[0], d, rank), 1.0 / math.sqrt(d))
        h = torch.softmax(v.transpose(1, 2) @ w, dim=-1)
        for _ in range(steps):
            h = nmf_update_coefficients(v, w, h, eps)
            w = w * (v @ h) / (w @ (h.transpose(1, 2) @ h) + eps)
    return w @ nmf_update_coefficients(v, w, h, eps).transpose(1, 2)


class FactorizedAttention(nn.Module):
    """FSAM: 1 x 1 x 1 conv + ReLU to `inner` nonnegative channels, rank-`rank` NMF of the embeddings laid
    out as a [T, C * H * W] matrix per clip, then 1 x 1 x 1 convs back to `channels`.

    The matrix is the [C, T, H, W] block of each clip read in memory order as T rows (a reshape, not a
    transpose, so a row is a run of consecutive voxels of one channel, not one frame): what the reference
    code does and what the released weights were trained with."""

    def __init__(self, channels: int, inner: int, rank: int = 1, steps: int = 4):
        super().__init__()
        self.rank, self.steps = rank, steps
        self.squeeze = nn.Sequential(nn.Conv3d(channels, inner, 1), nn.ReLU())
        self.expand = nn.Sequential(
            nn.Conv3d(inner, inner, 1, bias=False), nn.ReLU(), nn.Conv3d(inner, channels, 1, bias=False)
        )
        for module in self.modules():  # He-normal over fan-out, as the reference initialises FSAM
            if isinstance(module, nn.Conv3d):
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / module.out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.squeeze(x)
        low_rank = nmf_approximation(z.reshape(z.shape[0], z.shape[2], -1), self.rank, self.steps)
        return self.expand(low_rank.view_as(z))


class FactorizePhysNet(nn.Module):
    """FactorizePhys with FSAM and its residual connection (52,168 parameters at any frame size)."""

    def __init__(
        self, fsam_inference: bool = False, dropout: float = 0.1, nmf_rank: int = 1, nmf_steps: int = 4
    ):
        super().__init__()
        c1, c2, c3 = WIDTHS
        self.fsam_inference = fsam_inference
        self.input_norm = nn.InstanceNorm3d(3)
        self.stage1 = nn.Sequential(
            ConvTanhNorm(3, c1, pad_space=True), ConvTanhNorm(c1, c2, stride=2), ConvTanhNorm(c2, c2)
        )
        self.stage2 = nn.Sequential(
            ConvTanhNorm(c2, c2), ConvTanhNorm(c2, c3, stride=2), ConvTanhNorm(c3, c3)
        )
        self.stage3 = nn.Sequential(ConvTanhNorm(c3, c3), ConvTanhNorm(c3, c3), ConvTanhNorm(c3, c3))
        self.dropout = nn.Dropout3d(dropout)  # after each stage, while training
        self.fsam = FactorizedAttention(c3, c3 // 2, nmf_rank, nmf_steps)
        self.fsam_norm = nn.InstanceNorm3d(c3)
        self.head = nn.Sequential(
            ConvTanhNorm(c3, c2), ConvTanhNorm(c2, c1), nn.Conv3d(c1, 1, 3, padding=(1, 0, 0), bias=False)
        )

    def attend(self, v: torch.Tensor) -> torch.Tensor:
        """v + InstanceNorm((v - min v + 1) (a - min a + 1)), a = FSAM(v - min v): both factors are at least
        1, so the product weighs each voxel by its attention and the residual keeps the embeddings. The
        minima are over the whole batch and the offset is the constant 1, as in the reference (its offset is
        declared a parameter but never trained or saved: the released files have no such key)."""
        shifted = v - v.min()
        attention = self.fsam(shifted)
        return v + self.fsam_norm((shifted + 1.0) * (attention - attention.min() + 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, h, w = x.shape
        if min(h, w) < MIN_SIZE:
            raise ValueError(f"FactorizePhys needs frames of at least {MIN_SIZE} x {MIN_SIZE}, got {h} x {w}")
        d = x[:, :, 1:] - x[:, :, :-1]  # torch.diff, written out: the ONNX exporter has no aten::diff
        d = torch.cat([d, d.new_zeros(b, c, 1, h, w)], dim=2)
        v = self.input_norm(d)
        for stage in (self.stage1, self.stage2, self.stage3):
            v = stage(v)
            if self.training:  # called only then, so the eval graph (profiler, ONNX) has no dropout node
                v = self.dropout(v)
        if self.training or self.fsam_inference:
            v = self.attend(v)
        return self.head(v).mean(dim=(1, 3, 4))  # a 1 x 1 map at 71-74 px; larger frames are averaged


def map_toolbox_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename rPPG-Toolbox FactorizePhys keys to ours; a key with no mapping raises KeyError naming it."""
    return rename_keys(state, TOOLBOX_KEY_MAP)


def load_pretrained(net: FactorizePhysNet, path: str | Path) -> FactorizePhysNet:
    """Load an rPPG-Toolbox FactorizePhys_FSAM_Res state_dict (weights_only, strict) through the key map."""
    return load_mapped(net, path, TOOLBOX_KEY_MAP, "an rPPG-Toolbox FactorizePhys_FSAM_Res state_dict")


def factorizephys_spec(frames: int, size: int) -> InputSpec:
    return InputSpec(frames=frames, size=size, inputs="raw", label="standardized", output="bvp")


def create_factorizephys(
    *,
    size: int = 72,
    frames: int = 160,
    weights: str | Path | None = None,
    fsam_inference: bool = False,
    loss: str = "np",
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    scheduler: str = "onecycle",
) -> MethodModule:
    """FactorizePhys at 72x72, chunk 160 (rPPG-Toolbox recipe); `weights` loads an rPPG-Toolbox state_dict
    (the CLI's --weights). Frames narrower than 71 px are refused here, not at the first batch."""
    if size < MIN_SIZE:
        raise ValueError(f"FactorizePhys needs frames of at least {MIN_SIZE} x {MIN_SIZE}, got size={size}")
    net = FactorizePhysNet(fsam_inference=fsam_inference)
    if weights is not None:
        load_pretrained(net, weights)
    optim = OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)
    spec = factorizephys_spec(frames, size)
    return MethodModule(net, spec, create_loss(loss), kind="supervised", optim=optim, name="factorizephys")
