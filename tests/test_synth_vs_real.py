"""bench/synth_vs_real.py measures what it says: band RMS by Parseval, the pulse-locked part at its lag, and,
on the real PhysRecorder clip, a pulse that POS finds."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from benchmark.paths import PROJECT_ROOT

FS = 30.0


def svr():
    bench = str(PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module("synth_vs_real")


def test_band_rms_puts_a_sinusoid_in_its_band_only():
    t = np.arange(600) / FS
    x = 0.02 * np.sin(2 * np.pi * 1.2 * t)  # RMS 0.02 / sqrt(2)
    assert svr().band_rms(x, FS, 0.7, 3.0) == pytest.approx(0.02 / np.sqrt(2), rel=0.02)
    assert svr().band_rms(x, FS, 6.0, 15.0) < 1e-4
    assert svr().band_rms(x, FS, 0.1, 0.7) < 2e-3


def test_pulse_locked_rms_finds_a_lagged_component_under_noise():
    rng = np.random.default_rng(0)
    t = np.arange(600) / FS
    ppg = np.sin(2 * np.pi * 1.3 * t) + 0.4 * np.sin(2 * np.pi * 2.6 * t + 0.5)
    lagged = np.roll(ppg, 9)  # 0.3 s later
    component = 0.001 * lagged / lagged.std()
    green = component + 0.0005 * rng.standard_normal(t.size) + 0.01 * np.sin(2 * np.pi * 0.2 * t)
    found = svr().pulse_locked_rms(green, ppg, FS)
    assert found == pytest.approx(0.001, rel=0.15)
    assert svr().pulse_locked_rms(0.0005 * rng.standard_normal(t.size), ppg, FS) < 0.0002


def test_the_real_clip_carries_a_pulse_that_pos_finds(physrecorder_dir, tmp_path):
    from benchmark.data.datasets import load_dataset

    (rec,) = load_dataset("rlap", root=physrecorder_dir)
    row = svr().measure(rec, tmp_path)
    assert row["pos_err"] < 3.0, row
    assert 0.03 < row["pulse"] < row["band"], row  # % of the crop's mean green
    assert row["common"] > 0.9, row  # the real clip's brightness changes are nearly all intensity


@pytest.mark.slow
@pytest.mark.shared
def test_compression_realism_gives_synthpulse_a_vga_videos_bits_per_pixel(physrecorder_dir, tmp_path, capsys):
    """bench/compression_realism.py on the real clip and one SynthPulse subject at x264 250 kbit/s: the real
    640x480 clip and SynthPulse at the -vga level get ~0.027 bits per pixel, SynthPulse at the nominal rate
    ~0.17 (6.25x: its frames are 256x192)."""
    svr()  # puts bench/ on the path
    realism = importlib.import_module("compression_realism")
    argv = ["--real", str(physrecorder_dir), "--subjects", "1", "--bitrates", "250", "--codecs", "x264"]
    assert realism.main([*argv, "--work", str(tmp_path)]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith(("real @", "synth @")):
            label, _, rest = line.partition("  ")
            rows[label.strip()] = [float(v) for v in rest.split()]
    vga_bpp = 250e3 / (640 * 480 * 30)
    assert rows["real @ x264-250k"][1] == pytest.approx(vga_bpp, rel=0.25)
    assert rows["synth @ x264-250k-vga"][1] == pytest.approx(vga_bpp, rel=0.25)
    assert rows["synth @ x264-250k"][1] == pytest.approx(6.25 * vga_bpp, rel=0.25)
    assert rows["real @ raw"][2] > rows["real @ x264-250k"][2]  # POS SNR: the real clip loses at 250k
