"""The shared predict path (predict_bvp) and `python -m benchmark predict` on a real face video."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from benchmark.cli import main as cli_main
from benchmark.errors import DataError
from benchmark.evaluation.inference import chunk_starts, hr_from_bvp, predict_bvp, resize_frames
from benchmark.methods import create_method
from benchmark.methods.base import InputSpec, MethodModule

REFERENCE_HR = 70.8  # finger pulse oximeter of the PhysRecorder recording


class ChannelMean(nn.Module):
    """Test network: per-frame mean of channel 0, so the stitched output can be checked frame by frame."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x[:, 0].mean(dim=(-1, -2))


def frames_with_ramp(n: int, size: int = 16) -> np.ndarray:
    """uint8 frames whose red level encodes the frame index (mod 200), the other channels noise."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    frames[..., 0] = (np.arange(n) % 200)[:, None, None]
    return frames


@pytest.mark.parametrize("n", [64, 100, 131])
@pytest.mark.parametrize("output", ["bvp", "diff"])
def test_chunks_are_stitched_frame_exact(n, output):
    spec = InputSpec(frames=32, size=8, inputs="raw", label="raw", output=output)
    module = MethodModule(ChannelMean(), spec, name="channel-mean")
    frames = frames_with_ramp(n)
    bvp = predict_bvp(module, frames, 30.0, batch_size=3)
    expected = (np.arange(n) % 200).astype(np.float64)  # resizing a constant plane keeps its value
    assert bvp.shape == (n,)
    np.testing.assert_allclose(bvp, np.cumsum(expected) if output == "diff" else expected, rtol=1e-5)
    assert module.training  # the predict path restores the mode it found


def test_chunk_starts_cover_and_end_align():
    assert chunk_starts(128, 32).tolist() == [0, 32, 64, 96]
    assert chunk_starts(131, 32).tolist() == [0, 32, 64, 96, 99]
    assert chunk_starts(32, 32).tolist() == [0]
    assert chunk_starts(100, 32, 16).tolist() == [0, 16, 32, 48, 64, 68]


class EdgeTransients(ChannelMean):
    """ChannelMean plus a large spike on each chunk's first and last frame (what padding does to a net)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x).clone()
        out[:, 0] += 100.0
        out[:, -1] += 100.0
        return out


def test_overlap_add_suppresses_chunk_edge_transients():
    spec = InputSpec(frames=32, size=8, inputs="raw", label="raw", output="bvp")
    module = MethodModule(EdgeTransients(), spec, name="edge-transients")
    frames = frames_with_ramp(160)
    truth = (np.arange(160) % 200).astype(np.float64)
    end_to_end = predict_bvp(module, frames, 30.0, overlap=0.0)
    overlapped = predict_bvp(module, frames, 30.0)  # default: half-overlapping chunks
    interior = slice(1, 159)  # the recording's own first and last frames are seen by one chunk only
    assert np.abs(end_to_end - truth)[interior].max() > 50  # the spikes at 31, 32, 63, 64...
    np.testing.assert_allclose(overlapped[interior], truth[interior], atol=0.5)  # spikes of 100 down >200x


def test_recording_shorter_than_a_chunk_is_an_error():
    module = MethodModule(ChannelMean(), InputSpec(frames=32, size=8, inputs="raw"), name="channel-mean")
    with pytest.raises(DataError, match="fewer than the 32"):
        predict_bvp(module, frames_with_ramp(20), 30.0, source="clip.avi")
    with pytest.raises(DataError, match=r"\[N, S, S, 3\]"):
        predict_bvp(module, np.zeros((20, 8, 8), np.uint8), 30.0)


def test_resize_matches_per_frame_cv2():
    frames = np.random.default_rng(1).integers(0, 255, (30, 40, 40, 3), dtype=np.uint8)
    fast = resize_frames(frames, 18)
    assert resize_frames(frames, 40) is frames
    slow = np.stack([cv2.resize(f, (18, 18), interpolation=cv2.INTER_AREA) for f in frames])
    np.testing.assert_array_equal(fast, slow)


def test_classic_method_gets_the_recording_fps():
    # a 66 bpm colour pulse at 60 fps: POS's 1.6 s window and the HR are right only with fps = 60
    fps, n = 60.0, 900
    t = np.arange(n) / fps
    skin, signature = np.array([170.0, 120.0, 100.0]), np.array([0.33, 0.77, 0.53])
    levels = skin[None] * (1 + 0.02 * signature[None] * np.sin(2 * np.pi * 1.1 * t)[:, None])  # [n, 3]
    noise = np.random.default_rng(0).normal(0, 2, (n, 8, 8, 3))
    frames = np.clip(levels[:, None, None, :] + noise, 0, 255).astype(np.uint8)
    module = create_method("pos")
    bvp = predict_bvp(module, frames, fps)
    assert module.net.fps == fps
    hr, err = hr_from_bvp(bvp, fps)
    assert err is None and abs(hr - 66.0) < 1.0
    hr, err = hr_from_bvp(np.zeros(n), fps)
    assert np.isnan(hr) and "constant" in err


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("method", ["pos", "chrom"])
def test_predict_cli_on_real_video(method, physrecorder_dir, tmp_path, capsys):
    video = physrecorder_dir / "video_ZIP_H264.avi"
    csv, png = tmp_path / "bvp.csv", tmp_path / "bvp.png"
    code = cli_main(
        ["predict", str(video), "--method", method, "--json", "--csv", str(csv), "--plot", str(png)]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["method"] == method and result["n_frames"] == 602 and result["fps"] == pytest.approx(30.0)
    assert abs(result["hr_bpm"] - REFERENCE_HR) < 2.0, result["hr_bpm"]
    assert result["face"]["detected"] > 0 and len(result["window_hr_bpm"]) == 11
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert table.shape == (602, 3) and np.all(np.isfinite(table))
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def write_video(path, frames: np.ndarray, fps: float = 30.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames.shape[2:0:-1])
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame[..., ::-1])
    writer.release()


def test_predict_cli_reports_bad_input(tmp_path, capsys):
    assert cli_main(["predict", str(tmp_path / "missing.avi")]) == 2
    assert "missing.avi" in capsys.readouterr().err
    noise = np.random.default_rng(0).integers(0, 255, (40, 120, 160, 3), dtype=np.uint8)
    write_video(tmp_path / "noface.avi", noise)
    assert cli_main(["predict", str(tmp_path / "noface.avi"), "--method", "pos"]) == 2
    assert "no face" in capsys.readouterr().err


def test_classic_method_refuses_weights(tmp_path, capsys):
    weights = tmp_path / "w.pt"
    torch.save({}, weights)
    from benchmark.errors import ConfigError
    from benchmark.evaluation.predict_cli import build_method

    with pytest.raises(ConfigError, match="no weights"):
        build_method("pos", weights)


def test_weights_round_trip_through_state_dict_and_checkpoint(tmp_path):
    from benchmark.evaluation.predict_cli import build_method

    torch.manual_seed(0)
    trained = create_method("tscan")
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01 * torch.randn_like(p))
    torch.save(trained.net.state_dict(), tmp_path / "net.pt")
    torch.save({"state_dict": trained.state_dict(), "epoch": 3}, tmp_path / "module.ckpt")
    for name in ("net.pt", "module.ckpt"):
        loaded = build_method("tscan", tmp_path / name)
        for (k, a), b in zip(trained.state_dict().items(), loaded.state_dict().values()):
            assert torch.equal(a, b), (name, k)
    torch.save({"bogus": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="do not fit"):
        build_method("tscan", tmp_path / "bad.pt")
