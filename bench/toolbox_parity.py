"""Faithfulness of every released network (issue 19.5): ours vs rPPG-Toolbox's own model code, same weights,
same input, on the real PhysRecorder clip.

Needs a checkout of rPPG-Toolbox (only its neural_methods/model/ is imported, from where it is; nothing of it
is copied into this project) and the released files (found as `weights fetch` finds them: RPPG_WEIGHTS_DIR,
the cache, or ../shared/data/pretrained/rppg_toolbox through RPPG_WEIGHTS_DIR). For each PhysNet and
FactorizePhys release it crops the clip as the toolbox does (tests/test_physnet_pretrained.py: static Haar
box of frame 0 enlarged x1.5, INTER_AREA to 72x72), cuts the toolbox's chunks (PhysNet: DiffNormalized, 128
frames; FactorizePhys: Raw, 160 frames plus the last frame repeated, as its trainer's test loop does), runs
both networks in eval mode and prints, per release: the correlation loss 1 - r between the two outputs over
every chunk, the largest |difference| (outputs at unit std), and the heart rate each output gives through the
toolbox's read-out. The faithfulness target is a correlation loss under 1e-3.

    RPPG_WEIGHTS_DIR=../shared/data/pretrained/rppg_toolbox python bench/toolbox_parity.py \\
        --toolbox /path/to/rPPG-Toolbox
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

VIDEO = ROOT.parent / "shared" / "data" / "real" / "physrecorder_v01" / "video_ZIP_H264.avi"


def toolbox_models(checkout: Path) -> dict:
    """The toolbox's model classes, imported from its checkout (neurokit2, which FSAM imports for plotting
    only, is stubbed when absent)."""
    sys.path.insert(0, str(checkout))
    if "neurokit2" not in sys.modules:
        try:
            import neurokit2  # noqa: F401
        except ImportError:
            sys.modules["neurokit2"] = types.ModuleType("neurokit2")
    from neural_methods.model.FactorizePhys.FactorizePhys import FactorizePhys
    from neural_methods.model.PhysNet import PhysNet_padding_Encoder_Decoder_MAX

    return {"physnet": PhysNet_padding_Encoder_Decoder_MAX, "factorizephys": FactorizePhys}


def toolbox_network(name: str, classes: dict, weights: Path) -> torch.nn.Module:
    """The toolbox's network for a release, built as its inference configs build it, weights loaded."""
    if name.startswith("physnet@"):
        net = classes["physnet"](frames=128)
    else:  # FactorizePhys_FSAM_Res inference configs: FSAM off, residual on, MD_INFERENCE on
        md_config = {"FRAME_NUM": 160, "MD_TYPE": "NMF", "MD_FSAM": False, "MD_TRANSFORM": "T_KAB", "MD_S": 1,
                     "MD_R": 1, "MD_STEPS": 4, "MD_INFERENCE": True, "MD_RESIDUAL": True}  # fmt: skip
        net = classes["factorizephys"](frames=160, md_config=md_config, in_channels=3)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    # strict=False as the toolbox's trainer loads them (FSAM off leaves its tensors unused); none missing
    state = {k.removeprefix("module."): v for k, v in state.items()}
    missing, _unused = net.load_state_dict(state, strict=False)
    if missing:
        raise RuntimeError(f"{weights}: the toolbox network lacks {missing[:4]}")
    return net.eval()


def outputs(name: str, net: torch.nn.Module, ours: torch.nn.Module, c: torch.Tensor) -> tuple:
    """(toolbox output, our output) of one chunk, each at zero mean and unit std."""
    from test_physnet_pretrained import unit

    with torch.no_grad():
        if name.startswith("physnet@"):
            theirs = net(c)[0]
        else:
            theirs = net(torch.cat([c, c[:, :, -1:]], dim=2))[0]  # the trainer's appended last frame
        mine = ours(c)
    return unit(theirs), unit(mine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toolbox", type=Path, required=True, help="rPPG-Toolbox checkout")
    parser.add_argument("--video", type=Path, default=VIDEO)
    args = parser.parse_args(argv)

    from test_physnet_pretrained import release_hr, toolbox_chunks, toolbox_crops

    from benchmark.data.video import open_video
    from benchmark.methods.weights import RELEASES, fetch_release, load_release

    with open_video(args.video) as reader:
        frames, fps = reader.read(0, reader.num_frames), reader.fps
    crops = toolbox_crops(frames)
    classes = toolbox_models(args.toolbox)
    print(f"{args.video.name}: {len(crops)} frames at {fps:.2f} fps; crops {crops.shape[1:3]}")
    print(f"{'release':34} {'chunks':>6} {'1 - r':>10} {'max |diff|':>10} {'HR toolbox':>10} {'HR ours':>8}")
    worst = 0.0
    for name in RELEASES.names():
        net = toolbox_network(name, classes, fetch_release(name))
        ours = load_release(name)
        pairs = [outputs(name, net, ours, c) for c in toolbox_chunks(crops, name)]
        theirs, mine = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        loss = 1.0 - float(np.corrcoef(theirs, mine)[0, 1])
        worst = max(worst, loss)
        hr = [release_hr(s, name, fps) for s in (theirs, mine)]
        print(
            f"{name:34} {len(pairs):6} {loss:10.2e} {np.abs(theirs - mine).max():10.2e} "
            f"{hr[0]:10.2f} {hr[1]:8.2f}"
        )
    print(f"largest correlation loss {worst:.2e} (target < 1e-3)")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
