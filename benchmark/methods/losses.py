"""Losses shared by every method, behind one registry.

Every loss has the signature `loss(pred, target, batch) -> scalar`: `batch` is the datamodule's dict (see
benchmark/methods/base.py), so a loss that needs more than the two signals (TALOS needs `subject_index`) fits
the same slot. `LOSSES` maps a name to a factory; `create_loss(name, **kw)` builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.registry import Registry

EPS = 1e-8
MAX_LAG_S = 0.5  # the reference PPG may lag the face pulse by up to this (pulse transit time, sensor latency)

LOSSES: Registry[Callable[..., nn.Module]] = Registry("loss")


def pearson_per_sample(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation over the last axis, one value per sample (float32 even under AMP)."""
    p = pred.float() - pred.float().mean(dim=-1, keepdim=True)
    t = target.float() - target.float().mean(dim=-1, keepdim=True)
    num = (p * t).sum(dim=-1)
    den = torch.sqrt((p * p).sum(dim=-1) * (t * t).sum(dim=-1) + EPS)
    return num / den


def negative_pearson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NP loss: per sample 1 - rho over time, mean over the batch (docs/methods.md)."""
    return (1.0 - pearson_per_sample(pred, target)).mean()


class NegativePearsonLoss(nn.Module):
    """Negative Pearson: insensitive to scale and offset, so it suits shape-only BVP targets."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict | None = None) -> torch.Tensor:
        return negative_pearson(pred, target)


def lagged_np(pred: torch.Tensor, target: torch.Tensor, max_shift: int) -> torch.Tensor:
    """1 - max over k in [-max_shift, max_shift] of Pearson(pred_t, target_t+k) on the overlapping frames,
    mean over the batch: NP made blind to a constant lag of the label, as it is to scale and offset."""
    t = pred.shape[-1]
    max_shift = max(0, min(int(max_shift), t // 4))
    rho = [
        pearson_per_sample(pred[..., max(0, -k) : t - max(0, k)], target[..., max(0, k) : t + min(0, k)])
        for k in range(-max_shift, max_shift + 1)
    ]
    return (1.0 - torch.stack(rho, dim=-1).amax(dim=-1)).mean()


def max_lag_frames(batch: dict | None, max_lag_s: float = MAX_LAG_S, default_fps: float = 30.0) -> int:
    """`max_lag_s` in frames at the batch's frame rate (`default_fps` when the batch carries none)."""
    fps = default_fps if batch is None else batch.get("fps", default_fps)
    return int(round(max_lag_s * float(torch.as_tensor(fps).float().reshape(-1)[0])))


class LaggedNegativePearsonLoss(nn.Module):
    """NP at the best constant lag within +-max_lag_s: the label's per-subject delay (pulse transit time:
    +-0.5 s in SynthPulse) no longer asks for the pulse in one subject and its inverse in another. Unlike
    TALOS it learns no per-subject shift; unlike the spectral loss it still scores the waveform."""

    def __init__(self, max_lag_s: float = MAX_LAG_S):
        super().__init__()
        self.max_lag_s = float(max_lag_s)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict | None = None) -> torch.Tensor:
        return lagged_np(pred, target, max_lag_frames(batch, self.max_lag_s))


def band_power(x: torch.Tensor, fps: float, band: tuple[float, float], pad: int) -> torch.Tensor:
    """[B, T] -> [B, F] Hann-windowed power spectrum (zero-padded to pad x T) inside `band` Hz, unit sum."""
    t = x.shape[-1]
    x = x.float() - x.float().mean(dim=-1, keepdim=True)
    x = x * torch.hann_window(t, periodic=False, device=x.device)
    power = torch.fft.rfft(x, n=pad * t).abs().pow(2)
    freqs = torch.fft.rfftfreq(pad * t, d=1.0 / fps).to(x.device)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    power = power[:, inside]
    return power / (power.sum(dim=-1, keepdim=True) + EPS)


class SpectralLoss(nn.Module):
    """1 - cosine similarity of the in-band power spectra of prediction and label (per sample, batch mean).

    Why: blind to the phase, so a subject-specific lag between the face pulse and the reference PPG (pulse
    transit time: +-0.5 s in SynthPulse, up to ~0.6 of a beat) does not turn the label against the video as
    it does for NP or MSE; what it scores, where the power sits in the heart-rate band, is what the benchmark
    reads off. `weight_np` adds plain NP (0: spectral only). The batch's `fps` wins over `fps` when present.

    Measured on SynthPulse quick (PhysNet, 40 steps of 8): the Hann taper works better than none (still MAE
    19.8 vs 41.3 bpm), and than scoring the cumulative sums, as the evaluation integrates (23.3).
    """

    def __init__(
        self, band: tuple[float, float] = (0.66, 3.0), fps: float = 30.0, pad: int = 4, weight_np: float = 0.0
    ):
        super().__init__()
        self.band = (float(band[0]), float(band[1]))
        self.fps = float(fps)
        self.pad = int(pad)
        self.weight_np = float(weight_np)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict | None = None) -> torch.Tensor:
        fps = self.fps
        if batch is not None and "fps" in batch:
            fps = float(torch.as_tensor(batch["fps"]).reshape(-1)[0])
        p = band_power(pred, fps, self.band, self.pad)
        y = band_power(target, fps, self.band, self.pad)
        cos = (p * y).sum(dim=-1) / torch.sqrt((p * p).sum(dim=-1) * (y * y).sum(dim=-1) + EPS)
        loss = (1.0 - cos).mean()
        if self.weight_np:
            loss = loss + self.weight_np * negative_pearson(pred, target)
        return loss


class MSELoss(nn.Module):
    """Mean squared error (used on DiffNormalized labels by TS-CAN, DeepPhys and EfficientPhys)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict | None = None) -> torch.Tensor:
        return F.mse_loss(pred.float(), target.float())


def feature_distillation(
    student_feats: Sequence[torch.Tensor], teacher_feats: Sequence[torch.Tensor], adapters: nn.ModuleList
) -> torch.Tensor:
    """Sum over stages of MSE(adapter(student feature), teacher feature); the teacher side is detached.

    Adapters map student channels to teacher channels (1x1x1 convs in the KD student); the feature maps of a
    stage must share T, H, W.
    """
    if not (len(student_feats) == len(teacher_feats) == len(adapters)):
        raise ValueError(
            f"feature distillation needs one adapter per stage: {len(student_feats)} student, "
            f"{len(teacher_feats)} teacher, {len(adapters)} adapters"
        )
    total = student_feats[0].new_zeros((), dtype=torch.float32)
    for s, t, adapt in zip(student_feats, teacher_feats, adapters):
        total = total + F.mse_loss(adapt(s).float(), t.detach().float())
    return total


class KDFeatureLoss(nn.Module):
    """Task loss on the output plus lambda x feature distillation.

    The KD student puts its stage features and the frozen teacher's in `batch["student_features"]` and
    `batch["teacher_features"]` before calling the loss, so the signature stays (pred, target, batch).
    The adapters belong to the student module (they are trained with it), not to this loss.
    """

    def __init__(self, adapters: nn.ModuleList, weight: float = 1.0, task: str = "np"):
        super().__init__()
        self.task = create_loss(task)
        self.weight = float(weight)
        self._adapters = [adapters]  # a plain list: not registered here, trained by the student's optimiser

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict) -> torch.Tensor:
        task = self.task(pred, target, batch)
        if self.weight == 0.0 or "teacher_features" not in batch:
            return task
        kd = feature_distillation(batch["student_features"], batch["teacher_features"], self._adapters[0])
        return task + self.weight * kd


class TALOSLoss(nn.Module):
    """TALOS (Comas et al. 2022): MSE against the label shifted by a learned, per-subject offset distribution.

    Video-derived pulse and contact PPG are offset by a subject-dependent delay (pulse transit time, device
    latency). Each training subject s owns logits theta_s over the integer shifts k in [-K0, K0] frames,
    K0 = round(max_shift_s * fps); p_s = softmax(theta_s) and

        L = mean_b sum_k p_s(b)(k) * mean_t (pred_t - y_{t+k})^2

    so k > 0 means the label lags the video by k frames. The mean over t runs over the frames where the
    shifted label exists (t + k inside the chunk), and each shifted window is rescaled to the RMS of the
    whole label. With the literal zero padding, a network still predicting ~0 sees a smaller error at large
    |k| (the padded label has less energy) and on SynthPulse every distribution ran to +-K0; the masked mean
    alone still lets the label energy of each window (which differs from shift to shift) decide the
    gradient of the logits while the prediction is small, and on SynthPulse the modes froze on that noise
    in the first steps. With the rescaling, a shift is only preferred for how well the prediction matches
    the label's shape there. Samples whose subject is unknown (`subject_index == -1`, e.g. validation
    subjects, whose offsets nobody learns) are scored at their best shift (`unknown="best"`, so validation
    measures what TALOS trains for) or at k = 0 (`unknown="zero"`, plain MSE).

    Args:
        num_subjects: number of training subjects S (the runner passes the size of the training subject
            list; `batch["subject_index"]` indexes it).
        fps: frame rate the shifts are counted in (30 -> K0 = 30).
        max_shift_s: K0 in seconds (1 s in the paper).
        lr: learning rate of the logits' own optimiser group (1.0 as in the one public port); read by
            MethodModule.parameter_groups.
        unknown: how samples of unknown subjects are scored: "best" (min over shifts) or "zero" (k = 0).
        warmup_steps: our addition, 0 (off) by default. For this many training steps every sample is scored
            at its best shift and the logits stay unused; each step of its second half (the first half's
            predictions are still noise) adds every sample's error curve e(k) to its subject's sum, and when
            the warm-up ends the logits start as the log posterior of the shift under Gaussian residuals,
            one independent observation per chunk: theta_s(k) = -n_s * mean e_s(k) / (2 * min_k mean e_s(k))
            (n_s chunks of subject s seen; a subject never seen stays uniform). Why: the logits learn fast
            (lr 1.0) while the network's first predictions are noise, and on SynthPulse they settled no
            closer to the true offsets than chance;
            a histogram of per-chunk best shifts (our first warm-up) found the offsets but, add-one smoothed
            over 31 shifts, started p nearly flat (0.10 at the mode), which trains toward a label smeared
            over shifts.
    """

    def __init__(
        self,
        num_subjects: int,
        fps: float = 30.0,
        max_shift_s: float = 1.0,
        lr: float = 1.0,
        unknown: str = "best",
        warmup_steps: int = 0,
    ):
        super().__init__()
        if unknown not in ("best", "zero"):
            raise ValueError(f"TALOS unknown must be 'best' or 'zero', got {unknown!r}")
        self.unknown = unknown
        if int(num_subjects) < 1:
            raise ValueError(f"TALOS needs num_subjects >= 1, got {num_subjects}")
        self.max_shift = int(round(max_shift_s * fps))
        self.lr = float(lr)
        self.logits = nn.Parameter(torch.zeros(int(num_subjects), 2 * self.max_shift + 1))
        self.warmup_steps = int(warmup_steps)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("error_sums", torch.zeros(int(num_subjects), 2 * self.max_shift + 1))
        self.register_buffer("chunk_counts", torch.zeros(int(num_subjects)))

    @property
    def shifts(self) -> torch.Tensor:
        """The shift (frames) of each column of `shift_distribution()`."""
        return torch.arange(-self.max_shift, self.max_shift + 1)

    def shift_distribution(self) -> torch.Tensor:
        """[S, 2*K0+1] learned probabilities over shifts (rows: training subjects)."""
        return torch.softmax(self.logits.detach(), dim=-1)

    def shift_modes(self) -> list[int]:
        """The most probable shift (frames) of each training subject."""
        return (self.shift_distribution().argmax(dim=-1) - self.max_shift).tolist()

    def shifted_targets(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T] -> ([B, 2*K0+1, T], valid [2*K0+1, T]); row j is y_{t+k}, k = j - K0, zero outside."""
        k0, t = self.max_shift, target.shape[-1]
        padded = F.pad(target.float(), (k0, k0))
        valid = F.pad(torch.ones(t, device=target.device), (k0, k0)).unfold(-1, t, 1)
        return padded.unfold(-1, t, 1), valid

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict) -> torch.Tensor:
        shifted, valid = self.shifted_targets(target)
        count = valid.sum(dim=-1).clamp(min=1)  # [K]
        # each shifted window re-standardised to the label's RMS over the frames where it exists
        rms = torch.sqrt((shifted.pow(2) * valid).sum(dim=-1, keepdim=True) / count.unsqueeze(-1) + EPS)
        full = torch.sqrt(target.float().pow(2).mean(dim=-1, keepdim=True) + EPS).unsqueeze(1)
        shifted = shifted * (full / rms)
        squared = (pred.float().unsqueeze(1) - shifted).pow(2) * valid
        errors = squared.sum(dim=-1) / count  # [B, K]
        subject = torch.as_tensor(batch["subject_index"], device=pred.device).long().reshape(-1)
        if int(subject.max()) >= self.logits.shape[0]:
            raise ValueError(f"subject_index {int(subject.max())} >= num_subjects {self.logits.shape[0]}")
        known = subject >= 0
        if self.training and int(self.steps) < self.warmup_steps:
            return self._warmup(errors, subject, known)
        probs = torch.softmax(self.logits[subject.clamp(min=0)], dim=-1)
        weighted = (probs * errors).sum(dim=-1)
        best = errors.min(dim=-1).values if self.unknown == "best" else errors[:, self.max_shift]
        per_sample = torch.where(known, weighted, best)
        return per_sample.mean()

    def _warmup(self, errors: torch.Tensor, subject: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """One warm-up step: best-shift loss; error curves summed per subject; logits from them at the end."""
        with torch.no_grad():
            if int(self.steps) >= self.warmup_steps // 2:  # the first half's predictions are still noise
                self.error_sums.index_add_(0, subject[known], errors[known])
                self.chunk_counts.index_add_(
                    0, subject[known], torch.ones_like(subject[known], dtype=torch.float)
                )
            self.steps += 1
            if int(self.steps) == self.warmup_steps:
                self.logits.copy_(self.posterior_logits())
        return errors.min(dim=-1).values.mean() + 0.0 * self.logits.sum()

    def posterior_logits(self) -> torch.Tensor:
        """[S, K] log posterior of each subject's shift from the warm-up's error sums (0 where none seen)."""
        n = self.chunk_counts.unsqueeze(-1)
        mean = self.error_sums / n.clamp(min=1)
        noise = mean.min(dim=-1, keepdim=True).values.clamp(min=EPS)
        logits = -n * mean / (2 * noise)
        return logits - logits.max(dim=-1, keepdim=True).values


LOSSES.add("np", NegativePearsonLoss)
LOSSES.add("np_lag", LaggedNegativePearsonLoss)
LOSSES.add("spectral", SpectralLoss)
LOSSES.add("mse", MSELoss)
LOSSES.add("kd_feature", KDFeatureLoss)
LOSSES.add("talos", TALOSLoss)


def create_loss(name: str, **kwargs) -> nn.Module:
    """Build the loss registered as `name` (unknown names raise ConfigError listing the known ones)."""
    return LOSSES.get(name)(**kwargs)


def recipe_loss(
    name: str,
    num_subjects: int | None = None,
    fps: float = 30.0,
    talos_lr: float = 1.0,
    talos_max_shift_s: float = 1.0,
    talos_warmup_steps: int = 0,
) -> nn.Module:
    """A method factory's `loss` from its recipe: TALOS gets the training subjects (the runner passes
    `num_subjects`), its frame rate and its own settings; every other loss ignores them."""
    if name != "talos":
        return create_loss(name)
    if num_subjects is None:
        raise ValueError("loss 'talos' needs num_subjects (the number of training subjects)")
    return create_loss(
        name,
        num_subjects=num_subjects,
        fps=fps,
        lr=talos_lr,
        max_shift_s=talos_max_shift_s,
        warmup_steps=talos_warmup_steps,
    )
