"""Efficiency profiling: exact parameter counts, MACs against torch's own FLOP counter, labelled estimates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.methods import METHODS, create_method
from benchmark.profiling.counting import fvcore_macs, torch_flop_counter_macs
from benchmark.profiling.profile import example_input, profile_module, profiled_network
from benchmark.profiling.roofline import estimate_row

# methods.md, "exact": what the efficiency table must show
EXACT_PARAMS = {
    "tscan": 532_899,
    "deepphys": 532_899,
    "physnet": 768_577,
    "kd-teacher": 768_577,
    "kd-student-nokd": 24_455,
    "sspd": 786_079,
    "rppgnet": 550_779,
}


def _row(name: str) -> dict:
    module = create_method(name)
    return profile_module(module, name, METHODS.get(name).group, repeats=2, budget_s=2.0)


@pytest.mark.parametrize("name", [pytest.param("tscan", marks=pytest.mark.slow), "kd-student-nokd"])
def test_row_has_exact_params_and_macs_within_5_percent_of_flop_counter(name):
    if name not in METHODS:
        pytest.skip(f"{name} is not registered")
    row = _row(name)
    assert row["params_total"] == EXACT_PARAMS[name] == row["params_trainable"]
    module = create_method(name)
    net, frames = profiled_network(module)
    reference = torch_flop_counter_macs(net, example_input(module.input_spec, frames))
    assert reference > 0
    assert abs(row["macs_per_chunk"] - reference) / reference < 0.05
    assert row["macs_per_frame"] == pytest.approx(row["macs_per_chunk"] / frames)
    assert row["macs_per_30s"] == pytest.approx(row["macs_per_frame"] * 900)
    assert row["latency_30s_ms"] > 0 and row["peak_memory_mb"] > 0 and row["threads"] >= 1
    assert row["host"] and row["estimated"] is False


def test_every_registered_network_has_its_exact_parameter_count():
    """The profiler counts the inference network (what the table shows) of every network methods.md fixes."""
    from benchmark.profiling.measure import count_parameters

    checked = [name for name in METHODS.names() if name in EXACT_PARAMS]
    for name in checked:
        assert count_parameters(create_method(name).net) == (EXACT_PARAMS[name],) * 2, name
    assert len(checked) >= 2


def test_handlers_count_what_fvcore_skips():
    """Element-wise ops and 3-D pooling are counted (one MAC per element); convolutions exactly."""
    net = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1, bias=False), nn.Tanh(), nn.AvgPool3d((1, 2, 2)))
    x = torch.rand(1, 3, 4, 8, 8)
    counted = fvcore_macs(net, x)
    conv = 4 * 4 * 8 * 8 * 3 * 27
    assert counted["by_operator"]["conv"] == conv == torch_flop_counter_macs(net, x)
    assert counted["by_operator"]["tanh"] == 4 * 4 * 8 * 8
    assert counted["by_operator"]["avg_pool3d"] == 4 * 4 * 8 * 8
    assert counted["uncounted"] == {}


def test_classic_methods_cost_something_and_estimates_are_labelled():
    row = _row("pos")
    assert row["params_total"] == 0
    assert row["macs_per_frame"] >= 3 * 72 * 72  # at least the spatial mean of the 72x72 crop
    assert row["latency_30s_ms"] > 0
    est = estimate_row(row)
    assert est["estimated"] is True and "estimate" in est["device"] and "not measured" in est["note"]
    from benchmark.leaderboard.tables import efficiency_table

    md = efficiency_table([row, est]).markdown()
    assert "ESTIMATE (roofline)" in md and "measured" in md
