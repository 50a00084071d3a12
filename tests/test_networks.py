"""The supervised networks: exact sizes from docs/methods.md, shapes, gradients, and that each can learn."""

from __future__ import annotations

import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.methods import METHODS, create_method
from benchmark.methods.can import TemporalShift, attention_mask
from benchmark.methods.config import load_recipe, split_recipe
from benchmark.methods.losses import create_loss, negative_pearson

NETWORKS = ("tscan", "deepphys", "efficientphys", "physnet", "kd-teacher", "kd-student", "kd-student-nokd")


def n_params(module) -> int:
    return sum(p.numel() for p in module.net.parameters())


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("tscan", {"size": 36}, 532_899),
        ("deepphys", {"size": 36}, 532_899),
        ("deepphys", {"size": 72}, 2_228_643),
        ("efficientphys", {"size": 72}, 2_163_081),
        ("efficientphys", {"size": 36}, 467_337),
        ("physnet", {}, 768_577),
        ("kd-teacher", {}, 768_577),
        ("kd-student", {}, 24_455),
        ("kd-student-nokd", {}, 24_455),
    ],
)
def test_exact_parameter_counts(name, kwargs, expected):
    assert n_params(create_method(name, **kwargs)) == expected


def tiny_input(name: str, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """The smallest clip each architecture accepts: T = one TSM block (10) or 16 frames, 16x16 pixels."""
    module = create_method(name, size=16)
    frames = 16 if module.input_spec.frames == 128 else 10
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, module.input_spec.channels, frames, 16, 16, generator=g)


@pytest.mark.parametrize("name", NETWORKS)
def test_forward_shape_and_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    module = create_method(name, size=16)
    x = tiny_input(name)
    y = module(x)
    assert y.shape == (x.shape[0], x.shape[2])
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    missing = [n for n, p in module.net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_catalogue_entries():
    assert set(NETWORKS) <= set(METHODS.names())
    assert METHODS.get("kd-student").requires == ("kd-teacher",)
    assert METHODS.get("kd-student-nokd").requires == ()
    assert all(METHODS.get(n).kind == "supervised" for n in NETWORKS)


def test_input_specs_match_the_papers():
    specs = {n: create_method(n).input_spec for n in NETWORKS}
    tscan = specs["tscan"]
    assert (tscan.inputs, tscan.size, tscan.channels) == ("diff+standardized", 36, 6)
    assert specs["deepphys"].inputs == "diff+standardized"
    assert (specs["efficientphys"].inputs, specs["efficientphys"].size) == ("standardized", 72)
    assert (specs["physnet"].inputs, specs["physnet"].frames, specs["physnet"].size) == ("diff", 128, 72)
    assert all(s.label == "diff" and s.output == "diff" for s in specs.values())


def test_temporal_shift_moves_thirds_of_channels_within_blocks():
    x = torch.arange(2 * 10 * 6, dtype=torch.float32).view(20, 6, 1, 1)  # 2 blocks of 10 frames, 6 channels
    out = TemporalShift(frame_depth=10)(x).view(2, 10, 6)
    ref = x.view(2, 10, 6)
    assert torch.equal(out[:, :-1, :2], ref[:, 1:, :2]) and (out[:, -1, :2] == 0).all()
    assert torch.equal(out[:, 1:, 2:4], ref[:, :-1, 2:4]) and (out[:, 0, 2:4] == 0).all()
    assert torch.equal(out[:, :, 4:], ref[:, :, 4:])


def test_attention_mask_is_normalised_over_space():
    logits = torch.randn(3, 1, 7, 5)
    g = attention_mask(logits)
    assert torch.allclose(g.mean(dim=(2, 3)), torch.full((3, 1), 0.5), atol=1e-6)


def test_tscan_rejects_chunks_that_are_not_whole_blocks():
    module = create_method("tscan", size=16)
    with pytest.raises(ValueError, match="multiple of the frame depth 10"):
        module(torch.randn(1, 6, 15, 16, 16))


def test_losses():
    t = torch.sin(torch.linspace(0, 12, 64)).repeat(2, 1)
    assert negative_pearson(3 * t + 1, t).item() == pytest.approx(0.0, abs=1e-5)
    assert negative_pearson(-t, t).item() == pytest.approx(2.0, abs=1e-5)
    assert create_loss("mse")(t + 1, t, {}).item() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="unknown loss"):
        create_loss("nope")


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_every_recipe_builds_its_method(name, profile):
    recipe = load_recipe(name, profile)
    factory_kwargs, training = split_recipe(recipe)
    assert training["epochs"] >= 1 and recipe["budget_note"]
    module = create_method(name, **factory_kwargs)
    assert module.optim.lr == recipe["lr"] and module.input_spec.size == recipe["size"]


def test_a_recipe_typo_fails_when_loaded(tmp_path, monkeypatch):
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "physnet.yaml").write_text("recipe: {lr: 0.001, epochs: 1, lrr: 3}\n")
    monkeypatch.setenv("RPPG_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="lrr"):
        load_recipe("physnet", "full")
    with pytest.raises(ConfigError, match="unknown recipe profile"):
        load_recipe("physnet", "huge")


def overfit(name: str, steps: int = 150) -> tuple[float, float]:
    """Train on one fixed batch; return the eval-mode loss before and after."""
    torch.manual_seed(0)
    module = create_method(name, size=16)
    x = tiny_input(name)
    t = torch.arange(x.shape[2], dtype=torch.float32)
    y = torch.stack([torch.sin(2 * torch.pi * t / p) for p in (7.0, 11.0)])  # two different "pulses"
    batch = {"x": x, "y": y, "subject_index": torch.zeros(2, dtype=torch.long)}
    opt = torch.optim.Adam(module.net.parameters(), lr=3e-3)

    def eval_loss() -> float:
        module.eval()
        with torch.no_grad():
            return float(module.loss_fn(module(x), y, batch))

    before = eval_loss()
    after = before
    for step in range(steps):
        module.train()
        opt.zero_grad()
        module.loss_fn(module(x), y, batch).backward()
        opt.step()
        if step % 10 == 9:
            after = eval_loss()
            if after < before / 10:
                break
    return before, after


@pytest.mark.parametrize("name", ["tscan", "deepphys", "efficientphys", "physnet", "kd-student-nokd"])
def test_each_network_overfits_a_tiny_batch(name):
    torch.set_num_threads(1)
    before, after = overfit(name)
    assert after < before / 10, f"{name}: loss {before:.4f} -> {after:.4f}"
