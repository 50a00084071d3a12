"""Does a SynthPulse recording carry what a real one does? The face signal's spectrum, side by side.

For a real recording with a reference PPG (any dataset the suite reads; e.g. the PhysRecorder clip) and a
small SynthPulse set of one scenario, it runs the runner's face stage at `raw` (preprocess_recording, default
FaceConfig, 128-px crops) and prints, per recording, what the crops' mean green carries, as RMS in % of its
mean (linear trend removed):

- slow:   0.1-0.7 Hz, below the heart-rate band (exposure, lighting drift, breathing, slow head motion);
- band:   0.7-3.0 Hz, the heart-rate band, everything in it (pulse and nuisances);
- pulse:  the part of the band locked to the reference PPG (least squares on the band-passed reference at
          the best lag within +-1 s): the pulse as the face stage sees it;
- floor:  6-15 Hz, above any pulse harmonic (sensor noise, codec noise, detector jitter);
- common: the correlation of red and blue with green (detrended): 1 when the variation is intensity only;

and the SNR (dB) and |error| (bpm) of POS and CHROM, scored as a sweep's raw cell (FFT, 0.75-2.5 Hz).
The summary puts the SynthPulse median beside the real value, over all subjects and over skin tones I-III
(light skin, closer to most public datasets), so the generator's realism is calibrated on the signal, not on
a method's score. One real recording is a thin anchor: read the ratios as orders of magnitude.

    python bench/synth_vs_real.py --real ../shared/data/real/physrecorder_v01 --dataset rlap
    python bench/synth_vs_real.py --real DIR --dataset rlap --scenario still --subjects 8 --work /tmp/svr
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

BANDS = {"slow": (0.1, 0.7), "band": (0.7, 3.0), "floor": (6.0, 15.0)}
COLUMNS = ("slow", "band", "pulse", "floor", "common", "pos_snr", "chrom_snr", "pos_err", "chrom_err")
LIGHT_TONES = ("I", "II", "III")


def band_rms(x: np.ndarray, fs: float, lo: float, hi: float) -> float:
    """RMS of x within [lo, hi) Hz, from the periodogram (Parseval), hi capped below Nyquist."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1.0 / fs)
    keep = (freqs >= lo) & (freqs < min(hi, 0.999 * fs / 2))
    return float(np.sqrt(2.0 * np.sum(np.abs(spec[keep]) ** 2)) / x.size)


def pulse_locked_rms(green: np.ndarray, ppg: np.ndarray, fs: float, max_lag_s: float = 1.0) -> float:
    """RMS of the band-passed green's component along the band-passed reference at its best lag."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, [0.7, 3.0], btype="band", fs=fs, output="sos")
    g, p = sosfiltfilt(sos, green), sosfiltfilt(sos, ppg)
    p = p / p.std()
    edge, best = int(round(max_lag_s * fs)), 0.0
    core = slice(edge, green.size - edge)
    for lag in range(-edge, edge + 1):
        ref = np.roll(p, lag)[core]
        best = max(best, abs(float(np.dot(ref, g[core]) / np.dot(ref, ref))))
    return best  # the reference is unit-RMS, so the coefficient is the component's RMS


def detrended_relative(x: np.ndarray) -> np.ndarray:
    t = np.arange(x.size)
    y = x / x.mean() - 1.0
    return y - np.polyval(np.polyfit(t, y, 1), t)


def measure(rec, cache_root: Path) -> dict:
    """One recording's signal figures (see the module docstring), through the suite's own face stage."""
    from benchmark.data.preprocess import preprocess_recording
    from benchmark.data.transforms import rgb_means
    from benchmark.runner.evaluate import face_config
    from benchmark.spec import CROP_SIZE

    pre = preprocess_recording(rec, "raw", face_config({}), CROP_SIZE, cache_root=cache_root)
    means = rgb_means(np.asarray(pre.frames)).astype(np.float64)
    ppg, fs = np.asarray(pre.ppg, dtype=np.float64), float(pre.fps)
    rgb = np.stack([detrended_relative(means[:, c]) for c in range(3)])
    row = {"id": rec.id, "tone": rec.tags.get("skin_tone", "?")}
    for name, (lo, hi) in BANDS.items():
        row[name] = 100 * band_rms(rgb[1], fs, lo, hi)
    row["pulse"] = 100 * pulse_locked_rms(rgb[1], ppg, fs)
    corr = np.corrcoef(rgb)
    row["common"] = float((corr[0, 1] + corr[2, 1]) / 2)
    row.update(classic_scores(means, ppg, fs))
    return row


def classic_scores(means: np.ndarray, ppg: np.ndarray, fs: float) -> dict:
    """POS's and CHROM's SNR around the reference heart rate (dB) and |error| (bpm) from per-frame RGB means,
    scored as a sweep's raw cell (FFT, 0.75-2.5 Hz)."""
    from benchmark.evaluation.hr import snr_db
    from benchmark.evaluation.inference import predict_bvp
    from benchmark.methods import create_method
    from benchmark.runner.cells import Evaluation
    from benchmark.runner.evaluate import heart_rates

    row = {}
    for m in ("pos", "chrom"):
        bvp = np.asarray(predict_bvp(create_method(m), means[:, None, None, :], fs), dtype=np.float64)
        _, _, hr_pred, hr_true, _, _ = heart_rates(bvp, ppg, fs, Evaluation())[0]
        row[f"{m}_snr"] = snr_db(bvp, fs, hr_true)
        row[f"{m}_err"] = np.nan if hr_pred is None else abs(hr_pred - hr_true)
    return row


def add_real_and_synth_arguments(parser: argparse.ArgumentParser, subjects: int) -> None:
    """The arguments both real-vs-SynthPulse scripts take: the real recordings and the SynthPulse set."""
    parser.add_argument("--real", required=True, help="root of the real recording(s)")
    parser.add_argument("--dataset", default="rlap", help="the suite's reader for --real (default rlap)")
    parser.add_argument("--scenario", default="still", help="SynthPulse scenario (default still)")
    parser.add_argument("--subjects", type=int, default=subjects)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", default=None, help="folder for videos and crops (default: a temporary one)")


def print_rows(rows: list[dict]) -> None:
    print(f"{'recording':<24} {'tone':>4} " + " ".join(f"{c:>9}" for c in COLUMNS))
    for r in rows:
        print(f"{r['id']:<24} {r['tone']:>4} " + " ".join(f"{r[c]:9.3f}" for c in COLUMNS))


def print_summary(real: list[dict], synth: list[dict]) -> None:
    ref = {c: float(np.median([r[c] for r in real])) for c in COLUMNS}
    groups = {"all tones": synth, "tones I-III": [r for r in synth if r["tone"] in LIGHT_TONES]}
    print(f"\n{'median':<24} {'n':>4} " + " ".join(f"{c:>9}" for c in COLUMNS))
    print(f"{'real':<24} {len(real):>4} " + " ".join(f"{ref[c]:9.3f}" for c in COLUMNS))
    for label, rows in groups.items():
        if not rows:
            continue
        med = {c: float(np.median([r[c] for r in rows])) for c in COLUMNS}
        print(f"{'SynthPulse ' + label:<24} {len(rows):>4} " + " ".join(f"{med[c]:9.3f}" for c in COLUMNS))
        ratio = " ".join(f"{med[c] / ref[c]:9.2f}" for c in ("slow", "band", "pulse", "floor"))
        print(f"{'  ratio synth / real':<24} {'':>4} {ratio}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_real_and_synth_arguments(parser, subjects=8)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from benchmark.data.datasets import load_dataset
    from benchmark.data.datasets.synth import SynthPulse

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="synth-vs-real-"))
    real = [measure(rec, work / "preprocessed") for rec in load_dataset(args.dataset, root=args.real)]
    synth_recs = SynthPulse(
        work / "synth",
        preset="quick",
        seed=args.seed,
        jobs=args.jobs,
        subjects=args.subjects,
        scenarios=[args.scenario],
        duration_s=args.duration,
        width=args.width,
        height=args.height,
    ).recordings()
    synth = [measure(rec, work / "preprocessed") for rec in synth_recs]
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"face-crop mean green, RMS in % of its mean; SNR in dB, error in bpm. SynthPulse: {args.subjects} "
        f"subjects, {args.scenario}, {args.duration:g} s at {args.width}x{args.height}, seed {args.seed}\n"
    )
    print_rows(real + synth)
    print_summary(real, synth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
