"""`python -m benchmark export`: a network, in its inference form, as an ONNX or TorchScript file.

What is exported is the network predict runs, in eval mode (no dropout, BatchNorm on its running statistics),
traced at the method's chunk shape: the exporter folds each BatchNorm into its convolution (constant folding),
so the file holds the same function as `benchmark.methods.optimize.optimize_for_inference`'s CPU form. That
form's CPU-only rewrites (oneDNN fused convolutions, channels-last memory formats, in-place scatter of the
TSM and transposed convolutions) are not exported: no exporter knows the oneDNN op, and an edge runtime
(onnxruntime, TensorRT) does its own fusion and layout. Parity is checked against the CPU inference form, i.e.
against what predict outputs. STVEN's InstanceNorm3d (running statistics at inference, so a per-channel
affine) is exported as the equivalent BatchNorm3d: the exporter only knows instance norm with batch
statistics.

Shapes: the chunk shape of the method's InputSpec, fixed ([B, C, T, S, S]: C = 6 for the two-stream
"diff+standardized" input of TS-CAN / DeepPhys / TDM, motion channels 0-2 then appearance 3-5; 3 otherwise),
with a dynamic batch axis B. Output `bvp` [B, T]. The file carries metadata (method, chunk_frames, size,
inputs, weights, ...): ONNX metadata_props, TorchScript extra file `metadata.json`.

STVEN + rPPGNet is exported as ONE graph (enhancer then rPPGNet) with two inputs: `frames` (raw 0-255) and
`level`, the one-hot compression label [B, 5] of the input video (`benchmark.methods.stven.compression_label`;
level 0 = uncompressed).

Classic methods (and the chance baseline) have no network: asking for one is a `NotExportableError`. A
learned method needs `--weights`; without them export stops with `MissingWeightsError` unless
`--random-weights` says, deliberately, that random weights are wanted (latency does not depend on the weights'
values; a heart rate from such a file would be meaningless, and its metadata says so).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import ConfigError

FORMATS = ("onnx", "torchscript")
OPSET = 17
PARITY_TOLERANCE = 1e-4

INPUT_LAYOUTS = {
    "raw": "raw RGB frames 0-255",
    "diff": "DiffNormalized RGB frames",
    "standardized": "standardized RGB frames",
    "diff+standardized": "channels 0-2 DiffNormalized (motion), 3-5 standardized (appearance) RGB frames",
}


class NotExportableError(ConfigError):
    """A method with no network to export (the classic methods)."""


class MissingWeightsError(ConfigError):
    """A learned method asked for without --weights and without --random-weights."""


@dataclass
class Exportable:
    """What goes into an exported file: the module, example inputs and the file's names and metadata."""

    net: object  # torch.nn.Module
    inputs: tuple
    input_names: list[str]
    output_names: list[str] = field(default_factory=lambda: ["bvp"])
    metadata: dict[str, str] = field(default_factory=dict)
    reference: object = None  # what predict runs on the same input (the CPU inference form)

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {name: {0: "batch"} for name in [*self.input_names, *self.output_names]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, help="a learned method (python -m benchmark list methods)")
    parser.add_argument("--weights", type=Path, help="trained weights (checkpoint or state_dict)")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="export randomly initialised weights on purpose (for latency measurement only)",
    )
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or torchscript")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (>= 17, default {OPSET})")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime parity check")


LEARNED_KINDS = ("supervised", "self-supervised")


def build_module(
    method: str, weights: Path | None = None, random_weights: bool = False, overrides: dict | None = None
):
    """The method's MethodModule with its weights, checked for exportability before anything is built.

    Raises:
        ConfigError: unknown method; NotExportableError: a classic method (or the chance baseline);
        MissingWeightsError: a learned method with neither weights nor random_weights. DataError: unreadable
        or unfitting weights.
    """
    from benchmark.methods import METHODS

    entry = METHODS.get(method)
    if entry.kind not in LEARNED_KINDS:
        what = "a classic method" if entry.kind == "none" else f"a {entry.kind} method"
        raise NotExportableError(
            f"method {method!r} is {what}: it has no network to export (its work is numpy on the per-frame "
            f"RGB means; profile it with `python -m benchmark profile --methods {method}`)"
        )
    if weights is not None and random_weights:
        raise ConfigError("give --weights or --random-weights, not both")
    if weights is None and not random_weights:
        raise MissingWeightsError(
            f"method {method!r} is a learned ({entry.kind}) method: exporting it needs trained weights "
            f"(--weights FILE). To export random weights on purpose, e.g. to measure latency, add "
            f"--random-weights"
        )
    factory = entry.load_factory()
    if weights is None:
        return factory(**(overrides or {})).eval()
    from benchmark.evaluation.predict_cli import load_weights, trained_factory_kwargs

    # the size the weights were trained at (a zoo entry's recipe), unless the caller says otherwise
    kwargs = {**trained_factory_kwargs(method, Path(weights), factory), **(overrides or {})}
    return load_weights(factory(**kwargs), method, Path(weights), factory).eval()


def _stven_with_level(net):
    """STVEN + rPPGNet as one module taking the one-hot compression label as its second input."""
    from torch import nn

    from benchmark.methods.rppgnet import RPPGNet

    class EnhancedWithLevel(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.stven, self.rppgnet = inner.stven, inner.rppgnet

        def forward(self, frames, level):
            return self.rppgnet.forward_normalized(self.stven(RPPGNet.normalize(frames), level))

    return EnhancedWithLevel(net)


def portable_eval_copy(net):
    """An eval copy of `net` in its inference form for export: each BatchNorm that follows a convolution or a
    transposed convolution in a Sequential folded into it (the exporter folds only plain Conv + BN), and
    each InstanceNorm3d with running statistics (STVEN's) turned into the BatchNorm3d it equals at inference
    (the same per-channel affine on the running statistics; the exporter knows instance norm only with
    batch statistics) and folded likewise. `net` itself is not changed."""
    import copy

    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    for parent in list(net.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.InstanceNorm3d) and child.track_running_stats:
                bn = nn.BatchNorm3d(child.num_features, eps=child.eps, affine=child.affine)
                state = {k: v for k, v in child.state_dict().items() if k != "num_batches_tracked"}
                bn.load_state_dict(state, strict=False)
                setattr(parent, child_name, bn.eval())
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.modules.conv._ConvNd) and isinstance(bn, nn.modules.batchnorm._BatchNorm):
                if not bn.track_running_stats:
                    continue
                transpose = isinstance(conv, nn.modules.conv._ConvTransposeNd)
                seq[i] = fuse_conv_bn_eval(conv, bn, transpose=transpose)
                seq[i + 1] = nn.Identity()
    return net


def exportable(module, name: str, batch: int = 1, seed: int = 0) -> Exportable:
    """The network of a built method to export, the module predict runs (`reference`), example inputs of
    its chunk shape and the file's metadata."""
    import torch

    from benchmark.methods.base import MethodModule
    from benchmark.methods.optimize import optimize_for_inference
    from benchmark.methods.stven import NUM_LEVELS, EnhancedRPPGNet

    spec = module.input_spec
    if spec.inputs == "rgb_mean" or module.kind not in LEARNED_KINDS:
        raise NotExportableError(f"method {name!r} has no network to export")
    if spec.frames is None:
        raise NotExportableError(f"method {name!r} takes whole recordings, not fixed chunks")
    gen = torch.Generator().manual_seed(seed)
    frames = torch.rand((batch, spec.channels, spec.frames, spec.size, spec.size), generator=gen)
    if spec.inputs == "raw":
        frames = frames * 255.0
    metadata = {
        "method": name,
        "chunk_frames": str(spec.frames),
        "size": str(spec.size),
        "channels": str(spec.channels),
        "inputs": spec.inputs,
        "input_layout": INPUT_LAYOUTS.get(spec.inputs, spec.inputs),
        "output": spec.output,
        "fps": "30",
        "torch": torch.__version__,
    }
    module = module.eval()
    if isinstance(module.net, EnhancedRPPGNet):
        level = torch.zeros(batch, NUM_LEVELS)
        level[:, 0] = 1.0
        metadata["level_input"] = "one-hot compression label [B, 5] of the input video (0 = uncompressed)"
        metadata["graph"] = "STVEN enhancer + rPPGNet, one graph"
        reference = _stven_with_level(module.net).eval()
        net = portable_eval_copy(reference).requires_grad_(False)
        inputs, names = (frames, level), ["frames", "level"]
        return Exportable(net, inputs, names, metadata=metadata, reference=reference.requires_grad_(False))
    if type(module).forward is not MethodModule.forward:
        raise NotExportableError(f"method {name!r}: its module has its own forward, not a plain network")
    reference = optimize_for_inference(module)
    reference = module.net if reference is module else reference
    return Exportable(
        portable_eval_copy(module.net).requires_grad_(False), (frames,), ["frames"], metadata=metadata,
        reference=reference.eval().requires_grad_(False),
    )  # fmt: skip


def export_onnx(item: Exportable, path: Path, opset: int = OPSET) -> Path:
    """Write `item` as ONNX (TorchScript-based exporter, constant folding, dynamic batch)."""
    import warnings

    import torch

    if opset < 17:
        raise ConfigError(f"--opset {opset}: the export needs opset 17 or newer")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shapes turned into constants: T, S are fixed
        torch.onnx.export(
            item.net,
            item.inputs,
            str(path),
            input_names=item.input_names,
            output_names=item.output_names,
            dynamic_axes=item.dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    import onnx

    model = onnx.load(str(path))
    for key, value in item.metadata.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, str(path))
    return path


def export_torchscript(item: Exportable, path: Path) -> Path:
    """Write `item` as a traced TorchScript file, the metadata as extra file `metadata.json`."""
    import warnings

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(item.net, item.inputs, check_trace=False)
    traced.save(str(path), _extra_files={"metadata.json": json.dumps(item.metadata, sort_keys=True)})
    return path


def onnx_session(path: Path, threads: int = 1, providers: list | None = None):
    """An onnxruntime session on `path` with `threads` intra-op threads (CPU unless providers say else)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


def reference_output(item: Exportable, inputs: tuple | None = None):
    """PyTorch's output, as predict computes it (the CPU inference form), as numpy."""
    import torch

    with torch.inference_mode():
        return (item.reference or item.net)(*(inputs or item.inputs)).float().numpy()


def parity_inputs(item: Exportable, batch: int = 2, seed: int = 1) -> tuple:
    """A random chunk at `batch` shaped like a video, not white noise: a static texture, a per-frame colour
    change and pixel noise (on white noise the spatial means of an untrained network barely move in time,
    and a network that standardises its output per chunk, rPPGNet's, then only amplifies float rounding).
    Raw inputs are scaled to 0-255; STVEN's `level` gets a real one-hot label per clip."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    inputs = []
    for name, x in zip(item.input_names, item.inputs):
        if name == "level":
            labels = torch.randint(0, x.shape[1], (batch,), generator=gen)
            inputs.append(torch.nn.functional.one_hot(labels, x.shape[1]).float())
            continue
        _, c, t, h, w = x.shape
        video = (
            0.6 * torch.rand((batch, c, 1, h, w), generator=gen)
            + 0.3 * torch.rand((batch, c, t, 1, 1), generator=gen)
            + 0.1 * torch.rand((batch, c, t, h, w), generator=gen)
        )
        inputs.append(video * (255.0 if item.metadata.get("inputs") == "raw" else 1.0))
    return tuple(inputs)


def onnx_parity(item: Exportable, path: Path, batch: int = 2, seed: int = 1) -> float:
    """Max |onnxruntime - PyTorch (the CPU inference form predict runs)| on a random chunk at `batch` (a batch
    other than the traced one also checks the dynamic axis)."""
    import numpy as np

    inputs = parity_inputs(item, batch, seed)
    expected = reference_output(item, inputs)
    got = onnx_session(path).run(None, {n: v.numpy() for n, v in zip(item.input_names, inputs)})[0]
    if got.shape != expected.shape:
        return float("inf")
    return float(np.max(np.abs(got - expected)))


def torchscript_parity(item: Exportable, path: Path, batch: int = 2, seed: int = 1) -> float:
    """Max |loaded TorchScript - PyTorch (the CPU inference form)| on a random chunk at `batch`."""
    import torch

    inputs = parity_inputs(item, batch, seed)
    expected = reference_output(item, inputs)
    with torch.inference_mode():
        got = torch.jit.load(str(path))(*inputs).float().numpy()
    if got.shape != expected.shape:
        return float("inf")
    return float(abs(got - expected).max())


def export_method(
    method: str,
    out: Path,
    fmt: str = "onnx",
    weights: Path | None = None,
    random_weights: bool = False,
    opset: int = OPSET,
    overrides: dict | None = None,
) -> tuple[Path, Exportable]:
    """Build, export and return (path, what was exported); `overrides` go to the method's factory (a recipe's
    input size, a smaller chunk)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    module = build_module(method, weights, random_weights, overrides)
    item = exportable(module, method)
    item.metadata["weights"] = str(weights) if weights is not None else "RANDOM (latency measurement only)"
    path = export_onnx(item, out, opset) if fmt == "onnx" else export_torchscript(item, out)
    return path, item


def main(args: argparse.Namespace) -> int:
    path, item = export_method(
        args.method, args.out, args.format, args.weights, args.random_weights, args.opset
    )
    shapes = ", ".join(f"{n} {['B', *x.shape[1:]]}" for n, x in zip(item.input_names, item.inputs))
    print(f"wrote {path} ({args.format}, {shapes} -> bvp [B, {item.inputs[0].shape[2]}])")
    if args.no_check:
        return 0
    check = onnx_parity if args.format == "onnx" else torchscript_parity
    diff = check(item, path)
    runtime = "onnxruntime" if args.format == "onnx" else "TorchScript"
    print(f"{runtime} vs PyTorch (predict's inference form) at batch 2: max abs diff {diff:.2e}")
    if diff <= PARITY_TOLERANCE:
        return 0
    if args.random_weights:  # an untrained network can be ill-conditioned (rPPGNet standardises a ~0 signal)
        print(
            f"warning: above {PARITY_TOLERANCE:g}; with random weights this can be float rounding amplified"
        )
        return 0
    print(f"error: {path}: {runtime} output differs from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE:g})")
    return 1
