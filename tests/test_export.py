"""Export (issue 23): every network of the registry exports to ONNX (and TorchScript) in its inference form,
with a dynamic batch axis and opset >= 17, and onnxruntime gives PyTorch's output (predict's CPU inference
form) to 1e-4 on a random chunk. Classic methods and learned methods without weights are named errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.cli import main as cli_main
from benchmark.export import (
    LEARNED_KINDS,
    PARITY_TOLERANCE,
    MissingWeightsError,
    NotExportableError,
    build_module,
    export_method,
    exportable,
    onnx_parity,
    parity_inputs,
    torchscript_parity,
)
from benchmark.methods import METHODS

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

# Networks checked at a smaller chunk than their default, only to keep the suite fast on 2 CPU cores; the
# layers, and so what is exported, are the same (the CLI exports the default shapes).
SMALLER = {
    "tscan": {"frames": 40},
    "deepphys": {"frames": 40},
    "efficientphys": {"frames": 40},
    "physnet": {"frames": 32},
    "kd-teacher": {"frames": 32},
    "rppgnet": {"frames": 32, "size": 64},
    "stven-rppgnet": {"frames": 16, "size": 32, "stven_width": 8},
    "sspd": {"frames": 32},  # 128 x 128 is SSPD's smallest frame (unpadded convs down to a 1 x 1 map)
}
# learned methods that are NOT exported, each with its reason (none today)
OPT_OUT: dict[str, str] = {}


def learned_methods() -> list[str]:
    return [n for n in METHODS.names() if METHODS.get(n).kind in LEARNED_KINDS]


def calibrate_norms(module, item, chunks: int = 3) -> None:
    """Running statistics of every BatchNorm / tracked InstanceNorm from a few random chunks, as training
    would leave them. At their initial values (mean 0, var 1) rPPGNet's per-chunk standardised output is a
    ~1e-7 signal blown up, and fp32 rounding alone (PyTorch fp32 vs fp64) differs by ~3e-3."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    module.train()
    with torch.no_grad():
        for seed in range(chunks):
            inputs = parity_inputs(item, batch=2, seed=100 + seed)
            if "level" in item.input_names:
                module.net.stven(module.net.rppgnet.normalize(inputs[0]), inputs[1])
                module.net.rppgnet(inputs[0])
            else:
                module.net(*inputs)
    module.eval()


def export_checked(name: str, tmp_path, fmt: str = "onnx"):
    module = build_module(name, random_weights=True, overrides=SMALLER.get(name))
    calibrate_norms(module, exportable(module, name))
    item = exportable(module, name)  # rebuilt: the inference form folds the calibrated statistics
    from benchmark.export import export_onnx, export_torchscript

    path = tmp_path / f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}"
    (export_onnx if fmt == "onnx" else export_torchscript)(item, path)
    return item, path


def test_every_learned_method_is_covered_or_opted_out_with_a_reason():
    names = learned_methods()
    assert len(names) >= 10
    assert set(OPT_OUT) <= set(names) and all(OPT_OUT.values())
    assert set(SMALLER) <= set(names)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in METHODS.names()])
def test_onnx_export_matches_pytorch(name, tmp_path):
    entry = METHODS.get(name)
    if entry.kind not in LEARNED_KINDS:
        with pytest.raises(NotExportableError, match="no network to export"):
            build_module(name, random_weights=True)
        return
    if name in OPT_OUT:
        pytest.skip(OPT_OUT[name])
    item, path = export_checked(name, tmp_path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    for graph_input in model.graph.input:
        batch = graph_input.type.tensor_type.shape.dim[0]
        assert batch.dim_param and not batch.HasField("dim_value"), f"{graph_input.name}: fixed batch"
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["method"] == name and int(meta["chunk_frames"]) == item.inputs[0].shape[2]
    # every BatchNorm after a convolution folded into it (STVEN's running-stat InstanceNorms included); a
    # BatchNorm on an input or a sum (EfficientPhys's, SSPD's, rPPGNet's stem) stays, an affine op
    producer = {out: n.op_type for n in model.graph.node for out in n.output}
    norms = [n for n in model.graph.node if n.op_type in ("BatchNormalization", "InstanceNormalization")]
    assert not [n.name for n in norms if producer.get(n.input[0]) in ("Conv", "ConvTranspose")]
    for batch in (1, 2):
        diff = onnx_parity(item, path, batch=batch)
        assert diff <= PARITY_TOLERANCE, (
            f"{name}: onnxruntime vs PyTorch max abs diff {diff:.2e} at batch {batch}"
        )


@pytest.mark.parametrize("name", ["tscan", "efficientphys", "physnet", "tdm", "stven-rppgnet"])
def test_torchscript_export_matches_pytorch(name, tmp_path):
    item, path = export_checked(name, tmp_path, fmt="torchscript")
    assert torchscript_parity(item, path, batch=2) <= PARITY_TOLERANCE
    extra = {"metadata.json": ""}
    torch.jit.load(str(path), _extra_files=extra)
    assert f'"method": "{name}"' in extra["metadata.json"].decode()


def test_stven_rppgnet_is_one_graph_with_frames_and_level(tmp_path):
    item, path = export_checked("stven-rppgnet", tmp_path)
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["frames", "level"]
    assert [d.dim_value for d in model.graph.input[1].type.tensor_type.shape.dim[1:]] == [5]
    # the level changes the output (the enhancer is in the graph) once STVEN is not the identity
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[1].name == "level"


def test_classic_method_is_a_named_error(capsys, tmp_path):
    assert cli_main(["export", "--method", "pos", "--random-weights", "--out", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err
    assert "classic method" in err and "no network to export" in err
    assert not (tmp_path / "p.onnx").exists()


def test_learned_method_without_weights_is_a_named_error(capsys, tmp_path):
    with pytest.raises(MissingWeightsError, match="--random-weights"):
        build_module("physnet")
    assert cli_main(["export", "--method", "physnet", "--out", str(tmp_path / "p.onnx")]) == 2
    assert "needs trained weights" in capsys.readouterr().err
    assert not (tmp_path / "p.onnx").exists()


def test_cli_exports_with_weights_and_checks_parity(capsys, tmp_path):
    from benchmark.methods import create_method

    module = create_method("kd-student-nokd")
    weights = tmp_path / "student.pt"
    torch.save(module.state_dict(), weights)
    out = tmp_path / "student.onnx"
    assert (
        cli_main(["export", "--method", "kd-student-nokd", "--weights", str(weights), "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "max abs diff" in printed and out.is_file()
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["weights"] == str(weights)
    path, _ = export_method("kd-student-nokd", tmp_path / "r.onnx", random_weights=True)
    assert "RANDOM" in {p.key: p.value for p in onnx.load(str(path)).metadata_props}["weights"]
