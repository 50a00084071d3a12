"""The inference forms (benchmark/methods/optimize.py) give the trained networks' outputs and change nothing.

Correctness only: speed is measured by bench/inference_speed.py, never asserted in tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.evaluation.inference import predict_bvp
from benchmark.methods import create_method
from benchmark.methods import optimize as optimize_module
from benchmark.methods.optimize import optimize_for_inference
from benchmark.methods.physnet import TOOLBOX_KEY_MAP, map_toolbox_keys

# method -> (factory overrides, input [B, C, T, H, W], exact parameter count (methods.md) at that size)
CASES = {
    "physnet": ({}, (2, 3, 8, 16, 16), 768_577),
    "kd-teacher": ({}, (2, 3, 8, 16, 16), 768_577),
    "kd-student": ({}, (2, 3, 8, 16, 16), 24_455),
    "tscan": ({"size": 36}, (2, 6, 20, 36, 36), 532_899),
    "deepphys": ({"size": 36}, (2, 6, 10, 36, 36), 532_899),
    "efficientphys": ({"size": 36}, (1, 3, 10, 36, 36), None),
    "tdm": ({"size": 36, "appearance": True}, (2, 6, 12, 36, 36), 20_122),
    "tdm-no-appearance": ({"size": 36, "appearance": False}, (2, 3, 12, 36, 36), None),
}


def trained_like(name: str, overrides: dict) -> nn.Module:
    """The method in eval mode with BatchNorm statistics and affines away from their init values, so a
    wrong fold shows."""
    torch.manual_seed(0)
    module = create_method(name.removesuffix("-no-appearance"), **overrides)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    return module.eval()


def outputs(module: nn.Module, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return module.net(x), optimize_for_inference(module)(x)


@pytest.mark.parametrize("name", CASES)
def test_inference_form_matches_the_network(name):
    overrides, shape, _ = CASES[name]
    module = trained_like(name, overrides)
    plain, fast = outputs(module, shape)
    assert type(optimize_for_inference(module)) is not type(module.net)  # a real rewrite, not the net itself
    assert fast.shape == plain.shape == (shape[0], shape[2])
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["physnet", "kd-student", "tscan", "efficientphys"])
def test_inference_form_without_onednn_matches_too(name, monkeypatch):
    """The fallback (plain conv + activation: GPU, or a build without oneDNN) gives the same output."""
    monkeypatch.setattr(optimize_module, "_ONEDNN", False)
    overrides, shape, _ = CASES[name]
    plain, fast = outputs(trained_like(name, overrides), shape)
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_optimising_leaves_the_network_unchanged(name):
    overrides, shape, count = CASES[name]
    module = trained_like(name, overrides).train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    optimize_for_inference(module)
    after = module.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)
    if count is not None:
        assert sum(p.numel() for p in module.net.parameters()) == count
    assert module.training and all(m.training for m in module.net.modules())


def test_inference_form_follows_the_current_weights():
    """Rebuilt per call: a weight change after one optimisation shows in the next."""
    overrides, shape, _ = CASES["kd-student"]
    module = trained_like("kd-student", overrides)
    _, first = outputs(module, shape)
    with torch.no_grad():
        module.net.head.bias += 1.0
    plain, second = outputs(module, shape)
    torch.testing.assert_close(second, first + 1.0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(second, plain, atol=1e-4, rtol=1e-4)


def test_toolbox_key_map_still_loads_into_physnet():
    """The toolbox names (ConvBlock1..10, upsample, upsample2) map onto our unchanged state_dict keys."""
    module = trained_like("physnet", {})
    ours = module.net.state_dict()
    inverse = {v: k for k, v in TOOLBOX_KEY_MAP.items()}
    toolbox = {}
    for key, value in ours.items():
        prefix = next(p for p in inverse if key.startswith(p))
        toolbox[inverse[prefix] + key[len(prefix) :]] = value
    assert map_toolbox_keys(toolbox).keys() == ours.keys()


def test_predict_uses_the_inference_form_with_the_same_bvp():
    """predict_bvp (runner, predict CLI) through the fused form equals the plain network's chunked output."""
    module = trained_like("kd-student", {"size": 16, "frames": 8})
    frames = np.random.default_rng(0).integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    bvp = predict_bvp(module, frames, fps=30.0)

    class Plain(nn.Module):  # the same network without an inference form: predict must call it as is
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    plain_module = trained_like("kd-student", {"size": 16, "frames": 8})
    plain_module.net = Plain(plain_module.net)
    assert optimize_for_inference(plain_module) is plain_module
    reference = predict_bvp(plain_module, frames, fps=30.0)
    assert bvp.shape == (20,)
    np.testing.assert_allclose(bvp, reference, atol=1e-4)
    assert not np.allclose(bvp, 0.0)


@pytest.mark.parametrize("size", [16, 17])
def test_block_stem_equals_the_full_resolution_stem(size):
    """The student's stem on 2x2 pixel blocks (even sizes) and the plain stem + pool give the same output;
    an odd size takes the plain path and still matches the network."""
    module = trained_like("kd-student", {})
    fast = optimize_for_inference(module)
    assert fast.block_stem and not optimize_for_inference(trained_like("kd-teacher", {})).block_stem
    x = torch.randn((1, 3, 8, size, size), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        blocks = fast(x)
        fast.block_stem = False
        plain_stem = fast(x)
        reference = module.net(x)
    torch.testing.assert_close(blocks, plain_stem, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(blocks, reference, atol=1e-4, rtol=1e-4)


def test_rgb_means_of_uint8_frames_are_the_float64_mean_bit_for_bit():
    """The classic methods' input: the cv2 sum path must equal numpy's cast-then-mean exactly (integer sums
    in float64 are exact), for contiguous, sliced and odd-sized frames."""
    from benchmark.data.transforms import rgb_means

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (40, 37, 29, 3), dtype=np.uint8)
    for x in (frames, frames[5:31], frames[:, 3:20, 2:27]):
        expected = x.reshape(x.shape[0], -1, 3).astype(np.float64).mean(axis=1).astype(np.float32)
        got = rgb_means(x)
        assert got.dtype == np.float32 and got.shape == (x.shape[0], 3)
        assert np.array_equal(got, expected)
    assert np.array_equal(rgb_means(frames.astype(np.float32)), rgb_means(frames))


# The 3D networks whose inference form is their eval copy with norms folded, on channels-last activations.
FOLDED_CASES = {
    "rppgnet": ({"size": 32, "frames": 32}, (2, 3, 32, 32, 32)),
    "stven-rppgnet": ({"size": 32, "frames": 32, "stven_width": 4}, (2, 3, 32, 32, 32)),
}


def trained_like_3d(name: str, overrides: dict) -> nn.Module:
    """As trained_like, InstanceNorms with running statistics (STVEN's) included, in float64: the networks
    normalise each clip's output, which on random weights amplifies float32 rounding past any tolerance, so
    the fold is checked in float64 up to the heads' float32 casts (on trained weights the float32 outputs
    agree to ~1e-6)."""
    torch.manual_seed(0)
    module = create_method(name, **overrides)
    for m in module.modules():
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    return module.double().eval()


@pytest.mark.parametrize("name", FOLDED_CASES)
def test_folded_3d_forms_match_the_network(name):
    overrides, shape = FOLDED_CASES[name]
    module = trained_like_3d(name, overrides)
    module.set_input_level("x264-250k")  # STVEN conditioned on a compressed input
    before = {k: v.clone() for k, v in module.state_dict().items()}
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 255
    form = optimize_for_inference(module)
    norms = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
    folded = sum(isinstance(m, norms) for m in module.net.modules()) - sum(
        isinstance(m, norms) for m in form.modules()
    )
    assert folded >= (12 if name == "rppgnet" else 20)  # the norms after convolutions are gone
    with torch.inference_mode():
        plain, fast = module.net(x), form(x)
    torch.testing.assert_close(fast, plain, atol=1e-6, rtol=1e-6)  # the heads cast to float32
    after = module.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
