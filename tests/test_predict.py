"""The shared predict path (predict_bvp) and `python -m benchmark predict` on a real face video."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from benchmark.cli import main as cli_main
from benchmark.errors import ConfigError, DataError
from benchmark.evaluation.inference import chunk_starts, hr_from_bvp, predict_bvp, resize_frames
from benchmark.methods import METHODS, create_method
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


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (Python writes them, other JSON readers do not)."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("method", ["pos", "chrom"])
def test_predict_cli_on_real_video(method, physrecorder_dir, tmp_path, capsys):
    import matplotlib.image

    video = physrecorder_dir / "video_ZIP_H264.avi"
    csv, png = tmp_path / "bvp.csv", tmp_path / "bvp.png"
    code = cli_main(
        ["predict", str(video), "--method", method, "--json", "--csv", str(csv), "--plot", str(png)]
    )
    result = strict_json(capsys.readouterr().out)
    assert code == 0
    assert result["method"] == method and result["n_frames"] == 602 and result["fps"] == pytest.approx(30.0)
    assert abs(result["hr_bpm"] - REFERENCE_HR) < 2.0, result["hr_bpm"]
    assert result["face"]["detected"] > 0 and len(result["window_hr_bpm"]) == 11
    # window centre times: one per window, 10 s windows every 1 s, the first centred at 5 s
    times = np.array(result["window_t_s"])
    assert result["window_s"] == 10.0 and result["window_stride_s"] == 1.0
    assert times.shape == (len(result["window_hr_bpm"]),) and np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times, 5.0 + np.arange(11))
    assert np.isfinite(result["snr_db"]) and result["snr_relative_to"].startswith("hr_bpm")
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert table.shape == (602, 3) and np.all(np.isfinite(table))
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(png).shape[:2]
    assert height / width > 0.8  # three stacked panels (8 x 7.5 in); the two-panel figure is 8 x 5


def write_video(path, frames: np.ndarray, fps: float = 30.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames.shape[2:0:-1])
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame[..., ::-1])
    writer.release()


def test_predict_cli_reports_bad_input(tmp_path, capsys):
    assert cli_main(["predict", str(tmp_path / "missing.avi")]) == 2
    assert "missing.avi" in capsys.readouterr().err
    noise = np.random.default_rng(0).integers(0, 255, (120, 120, 160, 3), dtype=np.uint8)
    write_video(tmp_path / "noface.avi", noise)  # 4 s: long enough, so the face stage is what fails
    assert cli_main(["predict", str(tmp_path / "noface.avi"), "--method", "pos"]) == 2
    assert "no face" in capsys.readouterr().err


def test_classic_method_refuses_weights(tmp_path, capsys):
    weights = tmp_path / "w.pt"
    torch.save({}, weights)
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


def test_weights_are_run_at_the_input_size_they_were_trained_at(tmp_path):
    """PhysNet is fully convolutional: 36-px weights load into the 72-px default without an error and read
    the wrong heart rate (the zoo's PhysNet on the real clip: 81.49 bpm at 72 px, 71.21 at 36; oximeter
    70.8). A checkpoint of ours carries its input spec, a zoo entry (or a copy of its file) its recipe, and
    the network is built at that size; foreign weights keep the method's default (the paper's size)."""
    import shutil

    from benchmark import zoo
    from benchmark.evaluation.predict_cli import build_method

    small = create_method("physnet", size=36, frames=64)
    torch.save(
        {"state_dict": small.state_dict(), "hyper_parameters": dict(small.hparams)}, tmp_path / "m.ckpt"
    )
    assert build_method("physnet", tmp_path / "m.ckpt").input_spec.size == 36
    assert build_method("physnet", tmp_path / "m.ckpt").input_spec.frames == 64
    torch.save(small.net.state_dict(), tmp_path / "bare.pt")  # no spec saved: the default size
    assert (
        build_method("physnet", tmp_path / "bare.pt").input_spec.size
        == create_method("physnet").input_spec.size
    )
    entry = zoo.find_method("physnet")
    if entry is None:
        pytest.skip("the committed zoo has no physnet entry")
    trained_at = entry.meta["recipe"]["size"]
    assert trained_at != create_method("physnet").input_spec.size  # else this test shows nothing
    assert build_method("physnet", None).input_spec.size == trained_at
    shutil.copy(entry.weights, tmp_path / "renamed.pt")
    assert build_method("physnet", tmp_path / "renamed.pt").input_spec.size == trained_at


# ---------------------------------------------------- weights, errors, HR over time (issues 20, 25)
def write_lossless(path, frames: np.ndarray, fps: int = 30) -> None:
    """FFV1 (lossless): identical frames decode to identical pixels, unlike MJPG."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())


def real_frames(physrecorder_dir, n: int) -> np.ndarray:
    from benchmark.data.video import open_video

    with open_video(physrecorder_dir / "video_ZIP_H264.avi") as reader:
        return reader.read(0, n)


LEARNED = [name for name, entry in METHODS.items() if entry.kind != "none"]


@pytest.fixture
def empty_zoo(tmp_path, monkeypatch):
    """No zoo: a learned method has no default weights."""
    monkeypatch.setenv("RPPG_ZOO_DIR", str(tmp_path / "no-zoo"))


@pytest.mark.parametrize("method", LEARNED)
def test_learned_method_needs_weights(method, empty_zoo):
    from benchmark.evaluation.predict_cli import build_method

    with pytest.raises(ConfigError, match=rf"method '{method}' is a learned .* --weights FILE"):
        build_method(method, None)


def test_predict_learned_method_without_weights_fails_before_the_video_is_opened(tmp_path, capsys, empty_zoo):
    missing = tmp_path / "missing.avi"  # opening it would fail with "video not found"
    assert cli_main(["predict", str(missing), "--method", "physnet"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: method 'physnet' is a learned (supervised) method")
    assert "--weights FILE" in err and "not found" not in err
    assert cli_main(["predict", str(missing), "--method", "physnet", "--json"]) == 2
    out, err = capsys.readouterr()
    result = strict_json(out)
    assert err == "" and result["kind"] == "ConfigError" and result["exit_code"] == 2
    assert "'physnet'" in result["error"] and "--weights FILE" in result["error"]


def test_default_weights_are_where_a_zoo_plugs_in(tmp_path, monkeypatch, empty_zoo):
    from benchmark.evaluation import predict_cli

    zoo, mine = tmp_path / "zoo_physnet.pth", tmp_path / "mine.pth"
    monkeypatch.setitem(predict_cli.DEFAULT_WEIGHTS, "physnet", zoo)
    assert predict_cli.resolve_weights("physnet", None) == zoo
    assert predict_cli.resolve_weights("physnet", mine) == mine  # given weights win
    assert predict_cli.resolve_weights("pos", None) is None
    with pytest.raises(ConfigError, match="'tscan'"):
        predict_cli.resolve_weights("tscan", None)


@pytest.mark.slow
@pytest.mark.shared
def test_predict_learned_method_with_real_weights(physrecorder_dir, shared_dir, capsys):
    weights = shared_dir("data", "pretrained", "rppg_toolbox", "PURE_PhysNet_DiffNormalized.pth")
    video = physrecorder_dir / "video_ZIP_H264.avi"
    code = cli_main(["predict", str(video), "--method", "physnet", "--weights", str(weights), "--json"])
    result = strict_json(capsys.readouterr().out)
    assert code == 0 and result["weights"] == str(weights)
    assert abs(result["hr_bpm"] - REFERENCE_HR) < 2.0, result["hr_bpm"]
    assert np.isfinite(result["snr_db"]) and len(result["window_t_s"]) == len(result["window_hr_bpm"]) == 11


def bad_inputs(tmp_path) -> dict[str, tuple[list[str], str, str]]:
    """name -> (predict arguments, error kind, what the message says); every one exits 2."""
    noise = np.random.default_rng(0).integers(0, 255, (120, 96, 128, 3), dtype=np.uint8)
    write_video(tmp_path / "short.avi", noise[:40])  # 1.3 s, and no face: length is checked first
    write_video(tmp_path / "noise.avi", noise)  # 4 s
    (tmp_path / "notes.avi").write_text("not a video\n")
    torch.save(create_method("tscan").state_dict(), tmp_path / "tscan.pt")
    video = str(tmp_path / "noise.avi")
    return {
        "missing": ([str(tmp_path / "missing.avi")], "DataError", "video not found"),
        "not-a-video": ([str(tmp_path / "notes.avi")], "DataError", "unreadable or corrupt video"),
        "too-short": ([str(tmp_path / "short.avi")], "DataError", "too short: 40 frames (1.33 s at 30 fps)"),
        "shorter-than-chunk": (
            [video, "--method", "tscan", "--weights", str(tmp_path / "tscan.pt")],
            "DataError",
            "tscan needs at least 180 frames",
        ),
        "no-face": ([video], "NoFaceError", "no face"),
        "unknown-method": ([video, "--method", "nosuch"], "ConfigError", "unknown method 'nosuch'"),
        "bad-band": ([video, "--band", "2.5", "0.75"], "ConfigError", "invalid --band 2.5 0.75"),
        "weights-missing": (
            [video, "--method", "physnet", "--weights", str(tmp_path / "none.pth")],
            "DataError",
            "weights file not found",
        ),
    }


BAD_INPUTS = [
    "missing",
    "not-a-video",
    "too-short",
    "shorter-than-chunk",
    "no-face",
    "unknown-method",
    "bad-band",
    "weights-missing",
]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_predict_bad_input_is_rc2_json_or_stderr(case, tmp_path, capsys):
    args, kind, says = bad_inputs(tmp_path)[case]
    csv = tmp_path / "out.csv"
    assert cli_main(["predict", *args, "--json", "--csv", str(csv)]) == 2
    out, err = capsys.readouterr()
    result = strict_json(out)
    assert err == "", err
    assert result["kind"] == kind and result["exit_code"] == 2 and says in result["error"], result
    assert result["video"] == args[0] and not csv.exists()  # nothing written
    assert cli_main(["predict", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and says in err and err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.shared
def test_predict_no_heart_rate_is_rc1_and_keeps_the_bvp(physrecorder_dir, tmp_path, capsys):
    # a real face, frozen: 5 s of one frame, lossless, so the BVP is exactly constant
    write_lossless(tmp_path / "frozen.mkv", np.repeat(real_frames(physrecorder_dir, 1), 150, axis=0))
    csv, png = tmp_path / "bvp.csv", tmp_path / "bvp.png"
    args = ["predict", str(tmp_path / "frozen.mkv"), "--csv", str(csv), "--plot", str(png)]
    assert cli_main([*args, "--json"]) == 1
    out, err = capsys.readouterr()
    result = strict_json(out)
    assert err == "" and result["kind"] == "SignalError" and result["exit_code"] == 1
    assert result["error"].startswith("no heart rate could be estimated") and "constant" in result["error"]
    assert result["hr_bpm"] is None and result["snr_db"] is None and result["n_frames"] == 150
    assert result["window_t_s"] == [] and result["window_hr_bpm"] == []  # 5 s: shorter than one window
    assert np.loadtxt(csv, delimiter=",", skiprows=1).shape == (150, 3) and png.stat().st_size > 10_000
    assert cli_main(args) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and "no heart rate could be estimated" in err


def test_window_times_are_the_window_centres():
    from benchmark.evaluation.hr import windowed_hr
    from benchmark.evaluation.predict_cli import WINDOW_S, WINDOW_STRIDE_S, window_centres

    # a pulse speeding up from 60 to 90 bpm over 40 s: a window's HR is the rate at its centre time
    fps = 29.97
    t = np.arange(int(40 * fps)) / fps
    bvp = np.sin(2 * np.pi * (1.0 * t + 0.25 * t**2 / 40))
    hrs = windowed_hr(bvp, fps, WINDOW_S, WINDOW_STRIDE_S)
    centres, window_s, stride_s = window_centres(len(hrs), fps)
    assert len(hrs) == (t.size - 300) // 30 + 1 and window_s == 300 / fps and stride_s == 30 / fps
    np.testing.assert_allclose(hrs, 60 * (1.0 + 0.5 * centres / 40), atol=0.5)  # window start: 3.7 bpm off


def test_bvp_figure_has_a_heart_rate_over_time_panel():
    import matplotlib.pyplot as plt

    from benchmark.evaluation.plots import bvp_figure

    fps = 30.0
    bvp = np.sin(2 * np.pi * 1.2 * np.arange(600) / fps)
    times, rates = [5.0, 6.0, 7.0, 8.0], [72.0, None, 71.5, 72.5]  # a window without a heart rate: a gap
    fig = bvp_figure(bvp, fps, 72.0, window_t_s=times, window_hr_bpm=rates, snr_db=8.25)
    try:
        assert len(fig.axes) == 3
        panel = fig.axes[1]
        assert panel.get_ylabel() == "HR (bpm)" and panel.get_xlabel() == "time (s)"
        x, y = panel.lines[0].get_data()
        np.testing.assert_array_equal(x, times)
        assert np.isnan(y[1]) and y[3] == 72.5
        legend = [text.get_text() for text in fig.axes[2].get_legend().get_texts()]
        assert legend == ["HR 72.0 bpm, SNR 8.2 dB around it"]
    finally:
        plt.close(fig)
    fig = bvp_figure(bvp, fps, 72.0)  # no windows given: the two-panel figure as before
    assert len(fig.axes) == 2
    plt.close(fig)


def test_a_learned_method_without_weights_uses_its_zoo_entry():
    from benchmark import zoo
    from benchmark.evaluation import predict_cli

    entry = next((e for e in zoo.entries() if e.method == "physnet"), None)
    if entry is None:
        pytest.skip("the committed zoo has no physnet entry")
    assert predict_cli.resolve_weights("physnet", None) == entry.weights


def _zoo_reading_of_the_real_clip(physrecorder_dir, capsys, method: str) -> float:
    video = physrecorder_dir / "video_ZIP_H264.avi"
    assert cli_main(["predict", str(video), "--method", method, "--json"]) == 0
    result = strict_json(capsys.readouterr().out)
    assert result["weights"].endswith(f"{method}.pt")
    return result["hr_bpm"]


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize(
    "method", ["deepphys", "tscan", "tdm", "physnet", "kd-student", "rppgnet", "efficientphys"]
)
def test_zoo_networks_trained_on_synthpulse_read_the_real_clip(physrecorder_dir, capsys, method):
    """Trained on SynthPulse only (generator version 7) and run at the size they were trained at, the zoo's
    networks land near the oximeter (70.8 bpm) on the real PhysRecorder clip: DeepPhys 71.01, TS-CAN 70.91,
    TDM 70.38, PhysNet 71.21, KD student 72.41, rPPGNet 72.76, EfficientPhys 70.60. (Built at their default
    72 px instead, PhysNet read 81.49, the KD student 81.08, rPPGNet 64.87, and EfficientPhys's weights did
    not load.)"""
    assert abs(_zoo_reading_of_the_real_clip(physrecorder_dir, capsys, method) - 70.8) < 3.0
