"""How much does a bitrate level hurt a real recording and a SynthPulse one? Bits per pixel, side by side.

A bitrate is spread over the frame's pixels: 250 kbit/s gives a 640x480 30 fps recording 0.027 bits per
pixel and frame, SynthPulse's 256x192 frames 0.17, six times as many (MAHNOB-HCI's 780x580 at 61 fps, where
the rPPGNet/STVEN protocol's 1000k/500k/250k come from: 0.009). For the real recording(s) and a small
SynthPulse set it re-encodes the full frame at each codec and bitrate (the suite's own encoder settings), cuts
the face as a sweep does, and prints the achieved bits per pixel, the POS and CHROM SNR around the reference
heart rate (dB) and their |error| (bpm), each at the nominal bitrate and, for SynthPulse, at the `-vga`
level (configs/compression.yaml: the bits per pixel the bitrate gives a 640x480 30 fps video, the real
clip's size): which of the two makes SynthPulse lose what the real recording loses.

    python bench/compression_realism.py --real ../shared/data/real/physrecorder_v01 --dataset rlap
    python bench/compression_realism.py --real DIR --subjects 6 --scenario still --bitrates 1000,250
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from synth_vs_real import add_real_and_synth_arguments, classic_scores  # bench/, beside this script

CODECS = ("x264", "x265", "mpeg4")
METRICS = ("pos_snr", "chrom_snr", "pos_err", "chrom_err")


VGA = (640, 480, 30.0)


def level(codec: str, kbps: float, per: tuple | None = None):
    """A bitrate level as configs/compression.yaml defines it (`per`: the -vga levels' reference size)."""
    from benchmark.data.compression import CompressionLevel

    if codec == "raw":
        return CompressionLevel("raw")
    name = f"{codec}-{kbps:g}k" + ("-vga" if per == VGA else "")
    return CompressionLevel(name, codec=codec, mode="bitrate", value=float(kbps), reference=per)


def measure(rec, lvl, cache_root: Path) -> dict:
    """POS/CHROM SNR (dB, around the reference heart rate) and |error| (bpm) of one recording at one level,
    through the sweep's face stage and scoring, and the level's achieved bits per pixel."""
    from benchmark.data.compression import compress_video
    from benchmark.data.preprocess import preprocess_recording
    from benchmark.data.transforms import rgb_means
    from benchmark.runner.evaluate import face_config
    from benchmark.spec import CROP_SIZE

    pre = preprocess_recording(rec, lvl, face_config({}), CROP_SIZE, cache_root=cache_root / "preprocessed")
    means = rgb_means(np.asarray(pre.frames)).astype(np.float64)
    encoded = compress_video(rec.video, lvl, cache_root=cache_root / "compressed", fps=rec.fps)
    ppg = np.asarray(pre.ppg, dtype=np.float64)
    return {"bpp": encoded.bits_per_pixel, **classic_scores(means, ppg, float(pre.fps))}


def pixel_rate(rec) -> float:
    from benchmark.data.video import open_video

    with open_video(rec.video, rec.fps) as reader:
        return float(reader.width * reader.height * reader.fps)


def summarise(rows: list[dict]) -> dict:
    return {k: float(np.nanmedian([r[k] for r in rows])) for k in ("bpp", *METRICS)}


def print_line(label: str, n: int, s: dict) -> None:
    print(f"{label:<34} {n:>3} {s['bpp']:8.4f} " + " ".join(f"{s[k]:9.2f}" for k in METRICS))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_real_and_synth_arguments(parser, subjects=6)
    parser.add_argument("--seed", type=int, default=1, help="SynthPulse seed (default 1: the test set's)")
    parser.add_argument("--bitrates", default="1000,500,250", help="kbit/s, comma-separated")
    parser.add_argument("--codecs", default=",".join(CODECS))
    args = parser.parse_args(argv)

    from benchmark.data.datasets import load_dataset
    from benchmark.data.datasets.synth import SynthPulse

    bitrates = [float(b) for b in args.bitrates.split(",")]
    codecs = args.codecs.split(",")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="compression-realism-"))
    real = list(load_dataset(args.dataset, root=args.real))
    synth = SynthPulse(
        work / "synth", preset="quick", seed=args.seed, jobs=args.jobs, subjects=args.subjects,
        scenarios=[args.scenario],
    ).recordings()  # fmt: skip
    real_rate, synth_rate = (
        np.median([pixel_rate(r) for r in real]),
        np.median([pixel_rate(r) for r in synth]),
    )
    vga_rate = VGA[0] * VGA[1] * VGA[2]
    print(
        "POS/CHROM SNR (dB, around the reference HR) and |error| (bpm), medians; bpp = achieved bits per "
        f"pixel and frame. Real: {len(real)} recording(s), {real_rate / 1e6:.2f} Mpixel/s. SynthPulse: "
        f"{len(synth)} subjects, {args.scenario}, seed {args.seed}, {synth_rate / 1e6:.2f} Mpixel/s. A -vga "
        f"level gives a video 640x480 at 30 fps's bits per pixel: SynthPulse {synth_rate / vga_rate:.3f} x "
        f"the nominal rate, the real recording(s) {real_rate / vga_rate:.3f} x.\n"
    )
    print(f"{'set @ level':<34} {'n':>3} {'bpp':>8} " + " ".join(f"{k:>9}" for k in METRICS))
    print_line("real @ raw", len(real), summarise([measure(r, level("raw", 0), work) for r in real]))
    print_line("synth @ raw", len(synth), summarise([measure(r, level("raw", 0), work) for r in synth]))
    for codec in codecs:
        for kbps in bitrates:
            lvl, scaled = level(codec, kbps), level(codec, kbps, VGA)
            print_line(f"real @ {lvl.name}", len(real), summarise([measure(r, lvl, work) for r in real]))
            print_line(f"synth @ {lvl.name}", len(synth), summarise([measure(r, lvl, work) for r in synth]))
            print_line(
                f"synth @ {scaled.name}", len(synth), summarise([measure(r, scaled, work) for r in synth])
            )
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
