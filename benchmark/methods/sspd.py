"""SSPD: Self-Similarity Prior Distillation (Zhang et al., IEEE TMM 2024): unsupervised, no label is read.

Inference model (`SSPDNet`, 786,079 parameters): raw frames -> frame differences (one zero frame appended so T
stays T) -> BatchNorm3d(3) as input normaliser -> 3D-conv backbone (no spatial padding, temporal padding 1, no
bias, BN + tanh) -> 256 x T x 8 x 8 -> predictor -> rPPG [B, T]. The 256 x T feature (spatial mean of the
backbone map) feeds the training-only TS blocks.

Training (`SSPDModule`), our reading of the paper where it leaves gaps:
- Online branch: augmented input: resize to 151, random 128 crop, random horizontal flip, Bernoulli pixel mask
  (keep 0.7) on the frame differences. Target branch: the plain 128 input; target net = EMA of the online net
  (backbone, predictor and TS blocks), momentum following a cosine from 0.9 to 1 over the training steps.
- Three TS blocks on the 256 x T feature: Conv1d tokenizer (kernels 9, 7, 5, no padding, 256 channels),
  LayerNorm, 2-head attention with scores / head_dim and NO softmax, Linear + tanh, plus the block input
  linearly interpolated to the shorter token length as residual. Each block's tokens are one pyramid level.
- Per level: S = cosine self-similarity of the tokens; w(S)_d = mean of the d-th diagonal (lags d < T'/2,
  where diagonals still have at least half the entries). Losses exactly as docs/methods.md lists them; the
  band terms use the batch's fps (a property of the video, not a label).
- The predictor reads the DETACHED backbone map, so the backbone learns only from the self-similarity losses
  and the predictor only from L_rPPG (online prediction vs the EMA target's).
- Validation loss: the same self-supervised loss (labels never used anywhere).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule, OptimConfig
from benchmark.methods.losses import negative_pearson

BAND_HZ = (0.5, 3.0)


def conv_bn_tanh(
    c_in: int, c_out: int, kernel: tuple[int, int, int], spatial_pad: int = 0
) -> list[nn.Module]:
    pad = (kernel[0] // 2, spatial_pad, spatial_pad)
    return [nn.Conv3d(c_in, c_out, kernel, padding=pad, bias=False), nn.BatchNorm3d(c_out), nn.Tanh()]


def frame_differences(raw: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] frames -> T differences x_{t+1} - x_t, a zero frame appended."""
    diff = raw[:, :, 1:] - raw[:, :, :-1]
    return torch.cat([diff, torch.zeros_like(raw[:, :, :1])], dim=2)


class SSPDNet(nn.Module):
    """Backbone + predictor: the inference model. forward(raw frames) -> rPPG [B, T]."""

    def __init__(self):
        super().__init__()
        pool = nn.AvgPool3d((1, 2, 2))
        self.backbone = nn.Sequential(
            nn.BatchNorm3d(3),
            *conv_bn_tanh(3, 8, (3, 5, 5)),
            *conv_bn_tanh(8, 16, (3, 3, 3)),
            pool,
            *conv_bn_tanh(16, 16, (3, 5, 5)),
            *conv_bn_tanh(16, 32, (3, 3, 3)),
            pool,
            *conv_bn_tanh(32, 32, (3, 5, 5)),
            *conv_bn_tanh(32, 64, (3, 3, 3)),
            pool,
            *conv_bn_tanh(64, 256, (3, 3, 3)),
        )
        self.predictor = nn.Sequential(
            *conv_bn_tanh(256, 64, (3, 1, 1)),
            nn.AvgPool3d(2),
            *conv_bn_tanh(64, 64, (3, 3, 3)),
            nn.Upsample(scale_factor=(2, 1, 1)),
            *conv_bn_tanh(64, 64, (3, 1, 1)),
            nn.AvgPool3d((1, 2, 2)),
            nn.Conv3d(64, 1, 1),
        )

    def features(self, diffs: torch.Tensor) -> torch.Tensor:
        """Frame differences -> backbone map [B, 256, T, 8, 8] (128x128 input)."""
        return self.backbone(diffs)

    def predict(self, fmap: torch.Tensor, length: int) -> torch.Tensor:
        """Backbone map -> rPPG [B, T] (the predictor sees it detached)."""
        r = self.predictor(fmap.detach()).mean(dim=(1, 3, 4))
        return F.interpolate(r.unsqueeze(1), size=length, mode="linear", align_corners=False)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.features(frame_differences(x))
        return self.predict(fmap, x.shape[2])


class TSBlock(nn.Module):
    """Tokenizer conv (no padding) + LayerNorm + 2-head attention without softmax + Linear/tanh + residual."""

    def __init__(self, channels: int = 256, kernel: int = 9, heads: int = 2):
        super().__init__()
        self.tokenizer = nn.Conv1d(channels, channels, kernel)
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, T] -> tokens [B, C, T - kernel + 1]."""
        tokens = self.norm(self.tokenizer(x).transpose(1, 2))  # [B, T', C]
        b, t, c = tokens.shape
        hd = c // self.heads
        q, k, v = self.qkv(tokens).reshape(b, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        attended = ((q @ k.transpose(-1, -2)) / hd) @ v  # [B, heads, T', hd], no softmax
        y = torch.tanh(self.out(attended.transpose(1, 2).reshape(b, t, c))).transpose(1, 2)
        residual = F.interpolate(x, size=t, mode="linear", align_corners=False)
        return y + residual


def self_similarity(tokens: torch.Tensor) -> torch.Tensor:
    """[B, C, T] -> cosine similarity matrix [B, T, T]."""
    z = F.normalize(tokens.float(), dim=1)
    return z.transpose(1, 2) @ z


def diagonals(sim: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per lag d: mean and std of the d-th diagonal of [B, T, T], for d < T // 2 -> two [B, T // 2]."""
    t = sim.shape[-1]
    lags = torch.arange(t // 2, device=sim.device)[:, None]
    i = torch.arange(t, device=sim.device)[None, :]
    j = i + lags
    valid = (j < t).float()
    values = sim[:, i.expand_as(j), j.clamp(max=t - 1)] * valid
    count = valid.sum(dim=1)
    mean = values.sum(dim=-1) / count
    var = ((values - mean.unsqueeze(-1)) ** 2 * valid).sum(dim=-1) / count
    return mean, torch.sqrt(var + 1e-8)


def band_term(signal: torch.Tensor, fps: torch.Tensor) -> torch.Tensor:
    """sum |F r| / sum over 0.5-3 Hz of |F r| - 1, mean over the batch (0 when all power is in band)."""
    n_fft = max(signal.shape[-1], int(math.ceil(4 * float(fps.max()))))  # zero-pad: bins <= 0.25 Hz apart
    centred = signal.float() - signal.float().mean(dim=-1, keepdim=True)
    spectrum = torch.fft.rfft(centred, n=n_fft, dim=-1).abs()
    freqs = torch.fft.rfftfreq(n_fft, device=signal.device)[None, :] * fps.float().reshape(-1, 1)
    in_band = ((freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])).float()
    return (spectrum.sum(-1) / ((spectrum * in_band).sum(-1) + 1e-8) - 1.0).mean()


def pyramid_loss(s_o: torch.Tensor, s_t: torch.Tensor, w_o: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
    """MSE(S) + MSE(w) + row-wise NP(S) + NP(w), online vs target."""
    t = s_o.shape[-1]
    rows_np = negative_pearson(s_o.reshape(-1, t), s_t.reshape(-1, t))
    return F.mse_loss(s_o, s_t) + F.mse_loss(w_o, w_t) + rows_np + negative_pearson(w_o, w_t)


def ema_momentum(step: int, total: int, base: float = 0.9) -> float:
    """Cosine schedule from `base` (step 0) to 1 (last step)."""
    progress = min(step / max(total, 1), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


class SSPDModule(MethodModule):
    """SSPD training: online net (+ TS blocks) vs its EMA target; reads only batch["x"] and batch["fps"]."""

    training_only = ("ts_blocks.", "target_net.", "target_ts.")  # prediction runs `net` alone

    def __init__(self, net: SSPDNet, input_spec: InputSpec, optim: OptimConfig, crop_from: int = 151):
        super().__init__(net, input_spec, loss=None, kind="self-supervised", optim=optim, name="sspd")
        self.ts_blocks = nn.ModuleList(TSBlock(256, k) for k in (9, 7, 5))
        self.target_net = copy.deepcopy(net).requires_grad_(False)
        self.target_ts = copy.deepcopy(self.ts_blocks).requires_grad_(False)
        self.crop_from = crop_from

    def parameter_groups(self) -> list[dict]:
        return [{"params": list(self.net.parameters()) + list(self.ts_blocks.parameters())}]

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Resize to crop_from, random crop back to the input size, random horizontal flip (per sample)."""
        b, c, t, h, w = x.shape
        big = F.interpolate(x.transpose(1, 2).reshape(b * t, c, h, w), size=self.crop_from, mode="bilinear")
        big = big.reshape(b, t, c, self.crop_from, self.crop_from).transpose(1, 2)
        crops = []
        for i in range(b):
            top, left = (int(v) for v in torch.randint(0, self.crop_from - h + 1, (2,)))
            crop = big[i, :, :, top : top + h, left : left + w]
            crops.append(crop.flip(-1) if bool(torch.rand(()) < 0.5) else crop)
        return torch.stack(crops)

    @staticmethod
    def mask_differences(diffs: torch.Tensor, keep: float = 0.7) -> torch.Tensor:
        """Bernoulli pixel mask (shared over colour channels) on the frame differences."""
        mask = torch.bernoulli(torch.full_like(diffs[:, :1], keep))
        return diffs * mask

    def _branch(self, net: SSPDNet, blocks: nn.ModuleList, diffs: torch.Tensor) -> tuple:
        fmap = net.features(diffs)
        rppg = net.predict(fmap, diffs.shape[2])
        tokens, levels = fmap.mean(dim=(3, 4)), []
        for block in blocks:
            tokens = block(tokens)
            levels.append(self_similarity(tokens))
        return rppg, levels

    def compute_loss(self, batch: dict) -> torch.Tensor:
        x, fps = batch["x"], torch.as_tensor(batch["fps"], device=batch["x"].device)
        online_in = self.mask_differences(frame_differences(self.augment(x)))
        r_o, sims_o = self._branch(self.net, self.ts_blocks, online_in)
        with torch.no_grad():
            r_t, sims_t = self._branch(self.target_net, self.target_ts, frame_differences(x))
        spec_o = torch.fft.rfft(r_o.float(), dim=-1).abs()
        spec_t = torch.fft.rfft(r_t.float(), dim=-1).abs()
        l_rppg = negative_pearson(r_o, r_t) + negative_pearson(spec_o, spec_t) + band_term(r_o, fps)
        l_pyr, l_reg, l_freq = 0.0, [], []
        for s_o, s_t in zip(sims_o, sims_t):
            (w_o, std_o), (w_t, _) = diagonals(s_o), diagonals(s_t)
            l_pyr = l_pyr + pyramid_loss(s_o, s_t, w_o, w_t)
            l_reg.append(std_o[:, 1:].mean())
            l_freq.append(band_term(w_o, fps))
        return 0.5 * l_rppg + 0.5 * l_pyr + 0.5 * torch.stack(l_reg).mean() + 0.2 * torch.stack(l_freq).mean()

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """target <- m * target + (1 - m) * online (parameters); buffers (BN statistics) are copied."""
        for online, target in ((self.net, self.target_net), (self.ts_blocks, self.target_ts)):
            for p_o, p_t in zip(online.parameters(), target.parameters()):
                p_t.mul_(momentum).add_(p_o.detach(), alpha=1.0 - momentum)
            for b_o, b_t in zip(online.buffers(), target.buffers()):
                b_t.copy_(b_o)

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 1
        self.update_target(ema_momentum(self.global_step, int(total)))


def create_sspd(
    *,
    frames: int = 300,
    size: int = 128,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    scheduler: str = "none",
) -> SSPDModule:
    """The catalogue factory (Adam lr 1e-3 as in the paper). Frames must be >= 20 (three TS tokenizers)."""
    if frames < 20:
        raise ValueError(f"SSPD needs chunks of >= 20 frames (TS tokenizers 9, 7, 5), got {frames}")
    spec = InputSpec(frames=frames, size=size, inputs="raw", label="standardized", output="bvp")
    optim = OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)
    return SSPDModule(SSPDNet(), spec, optim)
