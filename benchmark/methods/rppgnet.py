"""rPPGNet (Yu et al., ICCV 2019): R(2+1)D spatio-temporal blocks, a skin-segmentation branch, parameter-free
skin-based attention and a partition constraint. STVEN, its video enhancer, lives in stven.py.

Design choices (where the paper and its reference code leave a gap or are wrong):
- Input: raw face crops (pixel values 0-255, `InputSpec.inputs="raw"`), T = 64, 128x128. The network maps
  them to [-1, 1] (x / 127.5 - 1) itself: the range STVEN reads and writes (tanh output), so an enhanced video
  can be fed to `RPPGNet.forward_normalized` directly. Any size divisible by 16 works (tests use 32x32).
- Stem: the reference defines a (1,3,3) 3->16 convolution it never uses; its 448 parameters are part of the
  published 550,779. We keep the count and give those parameters a job: the stem is the SUM of the (1,5,5)
  conv of the frames (appearance: what the skin branch needs) and the (1,3,3) conv of their fast temporal
  variation (`temporal_variation`: each pixel minus its ~1 s moving average, over the clip's std: the pulse
  at unit scale), then BN, ReLU. On raw frames alone the ~1% pulse drowns under appearance and a short
  budget learns nothing (before this: a constant 112.5 bpm, the 4th harmonic of the chunk length).
- Signals: each head's output loses its ~1 s moving average (`remove_slow`, below the band's lower edge),
  and `forward` returns it at zero mean and unit std per clip: a slow ramp left in each chunk is, chunk after
  chunk, a sawtooth whose harmonics (fps / T apart) land in the heart-rate band.
- NP terms are lag-tolerant (`lagged_np`, best lag within +-0.5 s): the reference PPG lags the face by a
  subject's pulse transit time (SynthPulse: +-0.5 s, most of a beat), so a zero-lag NP asks for the pulse of
  one subject and its inverse for another; NP is already blind to scale and offset, and HR to lag. The
  heads' biases only shift signals that every NP term ignores (kept for the published count).
- Partition constraint done right: each of the four quadrants of the attended 16x16 feature (8x8 each) is
  pooled and projected by its OWN 1x1x1 head (four heads), besides the global head and the auxiliary (32x32)
  head: 6 heads x 65 = 390 parameters, which with the stem above gives exactly 550,779.
- Skin attention: A = softmax_HW[sigmoid(mean_c F) + sigmoid(max_c F) + skin]; we use F * A * (H*W)
  (mean weight 1 instead of 1/(HW): the same attention, features at the scale of F; NP losses ignore scale).
- Skin labels: a YCrCb skin detector (Chai & Ngan: 133 <= Cr <= 173, 77 <= Cb <= 127) on the raw RGB crop,
  computed in torch on the batch, averaged to the skin map's size (H/2) and thresholded at 0.5.
- Loss: 0.1 BCE(skin) + NP(global) + 0.5 [NP(aux) + sum of the 4 quadrant NPs], BCE on logits (AMP-safe).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule, OptimConfig
from benchmark.methods.losses import lagged_np, max_lag_frames
from benchmark.methods.optimize import folded_3d_form

SLOW_WINDOW = 31  # frames (about 1 s at 30 fps) of the moving average that `remove_slow` subtracts


def intermediate_channels(c_in: int, c_out: int, kt: int = 3, ks: int = 3) -> int:
    """R(2+1)D width M with the parameters of a full kt x ks x ks conv: floor(27 Ci Co / (9 Ci + 3 Co))."""
    return (kt * ks * ks * c_in * c_out) // (ks * ks * c_in + kt * c_out)


class SpatioTemporalConv(nn.Sequential):
    """R(2+1)D: (1,3,3) Cin->M, BN, ReLU, (3,1,1) M->Cout (bias on both, as in the reference).

    The temporal conv pads by replicating the edge frames: zero padding makes every clip's first and last
    frames different from its middle, and chunk after chunk that is a periodic artefact at fps / T and its
    harmonics (28.1, 56.3, 84.4, 112.5 bpm for 64 frames at 30 fps), right in the heart-rate band."""

    def __init__(self, c_in: int, c_out: int):
        m = intermediate_channels(c_in, c_out)
        super().__init__(
            nn.Conv3d(c_in, m, (1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(m),
            nn.ReLU(inplace=True),
            nn.Conv3d(m, c_out, (3, 1, 1), padding=(1, 0, 0), padding_mode="replicate"),
        )


def st_block(c_in: int, c_out: int) -> nn.Sequential:
    """rPPGNet's ST block: R(2+1)D conv, BN, ReLU."""
    return nn.Sequential(SpatioTemporalConv(c_in, c_out), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


def skin_attention(features: torch.Tensor, skin: torch.Tensor) -> torch.Tensor:
    """Parameter-free skin attention: F * softmax_HW[sig(avg_c F) + sig(max_c F) + skin] * HW."""
    b, c, t, h, w = features.shape
    score = torch.sigmoid(features.mean(dim=1)) + torch.sigmoid(features.amax(dim=1)) + skin
    attention = torch.softmax(score.reshape(b, t, h * w).float(), dim=-1).reshape(b, 1, t, h, w)
    return features * attention.to(features.dtype) * (h * w)


def remove_slow(x: torch.Tensor, window: int, dim: int) -> torch.Tensor:
    """x minus its moving average over `window` samples along `dim` (edges replicated): a high-pass whose
    cut-off (about fps / window) sits below the heart-rate band, so drifts and ramps inside a chunk go."""
    dim, last = dim % x.dim(), x.dim() - 1  # non-negative: the ONNX exporter's movedim mishandles -1
    moved = x.movedim(dim, last)
    flat = moved.reshape(-1, 1, moved.shape[-1]).float()
    half = min(window // 2, flat.shape[-1] - 1)
    padded = F.pad(flat, (half, half), mode="replicate")
    trend = F.avg_pool1d(padded, 2 * half + 1, stride=1).reshape(moved.shape).to(x.dtype)
    return (moved - trend).movedim(last, dim)


def temporal_variation(x: torch.Tensor, window: int = SLOW_WINDOW, eps: float = 1e-3) -> torch.Tensor:
    """Each pixel's fast variation (minus its ~1 s moving average) over the clip's std of that: the pulse,
    at unit scale, without the drifts of light and pose."""
    fast = remove_slow(x, window, dim=2)
    return fast / (fast.float().std(dim=(1, 2, 3, 4), keepdim=True).to(x.dtype) + eps)


def skin_labels(raw: torch.Tensor, out_size: int) -> torch.Tensor:
    """Binary skin masks [B, T, s, s] from raw RGB frames [B, 3, T, H, W] (0-255), YCrCb thresholds."""
    r, g, b = raw[:, 0].float(), raw[:, 1].float(), raw[:, 2].float()
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - y) * 0.713 + 128.0
    cb = (b - y) * 0.564 + 128.0
    mask = ((cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)).float()
    bsz, t, h, w = mask.shape
    pooled = F.adaptive_avg_pool2d(mask.reshape(bsz * t, 1, h, w), out_size)
    return (pooled.reshape(bsz, t, out_size, out_size) >= 0.5).float()


class RPPGNet(nn.Module):
    """rPPGNet: forward(raw [B,3,T,H,W]) -> global rPPG [B, T]; `outputs()` gives every head for the loss."""

    def __init__(self):
        super().__init__()
        self.stem5 = nn.Conv3d(3, 16, (1, 5, 5), padding=(0, 2, 2))
        self.stem3 = nn.Conv3d(3, 16, (1, 3, 3), padding=(0, 1, 1))
        self.stem_norm = nn.Sequential(nn.BatchNorm3d(16), nn.ReLU(inplace=True))
        self.pool = nn.AvgPool3d((1, 2, 2))
        self.stage64 = nn.Sequential(st_block(16, 32), st_block(32, 32))
        self.stage32 = nn.Sequential(st_block(32, 64), st_block(64, 64))
        self.stage16 = nn.Sequential(st_block(64, 64), st_block(64, 64), st_block(64, 64))
        self.skin_main = nn.Sequential(
            nn.Conv3d(32, 16, (1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(16),
            nn.ReLU(inplace=True),
            nn.Conv3d(16, 8, (1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(8),
            nn.ReLU(inplace=True),
        )
        self.skin_shortcut = nn.Sequential(nn.Conv3d(32, 8, 1), nn.BatchNorm3d(8), nn.ReLU(inplace=True))
        self.skin_out = nn.Conv3d(8, 1, (1, 3, 3), padding=(0, 1, 1))
        self.head_aux = nn.Conv3d(64, 1, 1)
        self.head_global = nn.Conv3d(64, 1, 1)
        self.head_parts = nn.ModuleList(nn.Conv3d(64, 1, 1) for _ in range(4))

    @staticmethod
    def normalize(raw: torch.Tensor) -> torch.Tensor:
        """Pixel values 0-255 -> [-1, 1] (STVEN's range)."""
        return raw / 127.5 - 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_normalized(self.normalize(x))

    def inference_form(self) -> nn.Module:
        """The eval-only copy that predict runs (benchmark.methods.optimize): norms folded, channels-last."""
        return folded_3d_form(self)

    def forward_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The global rPPG of each clip at zero mean and unit std: NP leaves offset and scale free, and a free
        offset per chunk would put steps at the chunk boundaries of a whole recording's prediction."""
        signal = self.outputs(x)["global"].float()
        centred = signal - signal.mean(dim=-1, keepdim=True)
        return centred / (centred.std(dim=-1, keepdim=True) + 1e-6)

    @staticmethod
    def _signal(features: torch.Tensor, head: nn.Module) -> torch.Tensor:
        return remove_slow(head(features.mean(dim=(3, 4), keepdim=True)).flatten(1), SLOW_WINDOW, dim=-1)

    def outputs(self, x: torch.Tensor) -> dict:
        """x in [-1, 1] -> dict of skin_logits [B,T,H/2,W/2], global/aux [B,T], parts [4 x B,T], features."""
        f = self.stem_norm(self.stem5(x) + self.stem3(temporal_variation(x)))
        f64 = self.stage64(self.pool(f))
        skin_logits = self.skin_out(self.skin_main(f64) + self.skin_shortcut(f64))[:, 0]
        skin = torch.sigmoid(skin_logits)
        f32 = self.stage32(self.pool(f64))
        f16 = self.stage16(self.pool(f32))
        skin32 = F.avg_pool3d(skin.unsqueeze(1), (1, 2, 2))[:, 0]
        skin16 = F.avg_pool3d(skin32.unsqueeze(1), (1, 2, 2))[:, 0]
        a32 = skin_attention(f32, skin32)
        a16 = skin_attention(f16, skin16)
        h, w = a16.shape[-2:]
        quadrants = [
            a16[..., : h // 2, : w // 2],
            a16[..., : h // 2, w // 2 :],
            a16[..., h // 2 :, : w // 2],
            a16[..., h // 2 :, w // 2 :],
        ]
        return {
            "skin_logits": skin_logits,
            "aux": self._signal(a32, self.head_aux),
            "global": self._signal(a16, self.head_global),
            "parts": [self._signal(q, head) for q, head in zip(quadrants, self.head_parts)],
            "features": [f64, f32, f16],
        }


def rppgnet_loss(
    out: dict, target: torch.Tensor, skin_target: torch.Tensor, max_shift: int = 0
) -> torch.Tensor:
    """0.1 BCE(skin) + NP(global) + 0.5 [NP(aux) + sum of the 4 quadrant NPs], each NP lag-tolerant."""
    bce = F.binary_cross_entropy_with_logits(out["skin_logits"].float(), skin_target.float())
    parts = sum(lagged_np(p, target, max_shift) for p in out["parts"])
    return (
        0.1 * bce
        + lagged_np(out["global"], target, max_shift)
        + 0.5 * (lagged_np(out["aux"], target, max_shift) + parts)
    )


class RPPGNetModule(MethodModule):
    """MethodModule whose loss needs rPPGNet's auxiliary outputs and skin labels from the raw batch."""

    def compute_loss(self, batch: dict) -> torch.Tensor:
        x = batch["x"]
        out = self.net.outputs(self.net.normalize(x))
        labels = skin_labels(x, out["skin_logits"].shape[-1])
        return rppgnet_loss(out, batch["y"], labels, max_lag_frames(batch))


def rppgnet_spec(frames: int = 64, size: int = 128) -> InputSpec:
    return InputSpec(frames=frames, size=size, inputs="raw", label="standardized", output="bvp")


def create_rppgnet(
    *,
    frames: int = 64,
    size: int = 128,
    optimizer: str = "adam",
    lr: float = 1e-4,
    weight_decay: float = 0.0,
    scheduler: str = "none",
) -> RPPGNetModule:
    """The catalogue factory (Adam, lr 1e-4 as in the reference training)."""
    optim = OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)
    return RPPGNetModule(
        RPPGNet(), rppgnet_spec(frames, size), kind="supervised", optim=optim, name="rppgnet"
    )
