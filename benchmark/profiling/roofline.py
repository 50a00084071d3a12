"""A labelled roofline estimate for devices the numbers were not measured on (the Jetson Nano).

time = max(compute, memory traffic) per chunk, with compute = 2 x MACs / (peak FLOP/s x utilisation) and
traffic = 4 bytes x (weights + 2 x activations). It is an estimate, labelled as such in every table, until
rows measured on the device itself exist: `profile` run there, or tools/edge_latency.py's CSV imported with
`profile --import CSV --device-name jetson-nano`, which removes the estimate of each method it measured.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Roofline:
    name: str
    peak_flops: float  # FLOP/s at the precision assumed
    bandwidth: float  # bytes/s
    utilisation: float  # fraction of peak a real conv network reaches
    note: str

    def seconds(self, macs: float, weights: int, activations: int) -> float:
        compute = 2.0 * macs / (self.peak_flops * self.utilisation)
        traffic = 4.0 * (weights + 2.0 * activations) / self.bandwidth
        return max(compute, traffic)


# Jetson Nano: 128 Maxwell CUDA cores at 921.6 MHz (2 FLOP per FMA) = 236 GFLOP/s FP32; LPDDR4 25.6 GB/s.
JETSON_NANO = Roofline(
    name="jetson-nano (estimate)",
    peak_flops=2 * 128 * 921.6e6,
    bandwidth=25.6e9,
    utilisation=0.5,
    note="roofline estimate from MACs: 236 GFLOP/s FP32 peak at 50% utilisation, 25.6 GB/s; not measured",
)

ROOFLINES = {"jetson-nano": JETSON_NANO}


def estimate_row(measured: dict, roofline: Roofline = JETSON_NANO) -> dict:
    """An efficiency row for `roofline`'s device derived from a measured row's counts."""
    chunks = measured["chunks_per_30s"]
    per_chunk = roofline.seconds(
        measured["macs_per_chunk"], measured["params_total"], measured["activations"]
    )
    return {
        **{
            k: measured[k]
            for k in (
                "method",
                "group",
                "params_trainable",
                "params_total",
                "macs_per_frame",
                "macs_per_30s",
                "chunk_frames",
                "chunks_per_30s",
                "macs_per_chunk",
                "activations",
            )
        },
        "device": roofline.name,
        "host": roofline.name,
        "precision": "fp32",
        "batch": 1,
        "estimated": True,
        "latency_30s_ms": 1000.0 * per_chunk * chunks,
        "latency_repeats": 0,
        "threads": None,
        "peak_memory_mb": measured["peak_memory_mb"],
        "note": roofline.note,
        "config": measured.get("config", "default"),
    }
