"""The model zoo: resumable fits, entries written with provenance and checked by sha256, loaded by sweeps
instead of training, ignored by --retrain. Real (tiny) SynthPulse manifests and real training, no mocks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from sweep_data import smoke_training_sweep
from test_training import TinyDataModule, tiny_method

from benchmark import zoo
from benchmark.cli import main
from benchmark.errors import DataError
from benchmark.methods.training import TrainingInterrupted, fit_method, load_state_dict_file
from benchmark.paths import PROJECT_ROOT


def test_a_fit_stopped_by_its_time_limit_resumes_where_it_stopped(tmp_path):
    """--max-minutes: the fit stops at the first epoch end, keeps last.ckpt, and the next run goes on from
    there to the recipe's epochs (the curve then covers every epoch once)."""
    torch.manual_seed(0)
    module = tiny_method()
    dm = TinyDataModule(module.input_spec)
    with pytest.raises(TrainingInterrupted, match="epoch 1/4"):
        fit_method(module, dm, max_epochs=4, out_dir=tmp_path, patience=10, resume=True, max_time_s=1e-6)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    best = fit_method(tiny_method(), dm, max_epochs=4, out_dir=tmp_path, patience=10, resume=True)
    assert best is not None and best.is_file()
    assert [c["epoch"] for c in zoo.curve_summary(tmp_path)] == [1, 2, 3, 4]
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 3


def test_entries_are_checked_by_sha256_and_stored_in_fp16_when_exact_enough(tmp_path):
    torch.manual_seed(0)
    module = tiny_method().eval()
    batch = {"x": torch.randn(2, *module_input_shape(module))}
    entry = zoo.save_entry("tiny-test", module, {"training_key": "k1"}, [batch], root=tmp_path)
    assert entry.meta["dtype"] == "float16" and entry.meta["fp16_error"] <= zoo.store.FP16_TOLERANCE
    assert zoo.find("k1", tmp_path) == entry and zoo.find("other", tmp_path) is None
    state = load_state_dict_file(entry.verified())
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    module.load_state_dict(state)  # fp16 tensors load into the fp32 network

    twin = zoo.save_entry(
        "tiny-twin", None, {"training_key": "k2"}, [], root=tmp_path, share_with="tiny-test"
    )
    assert twin.weights == entry.weights and twin.meta["sha256"] == entry.meta["sha256"]

    damaged = bytearray(entry.weights.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    entry.weights.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="tiny-test.pt.*sha256"):
        entry.verified()
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match="broken.json"):
        zoo.entries(tmp_path)


def module_input_shape(module) -> tuple[int, ...]:
    spec = module.input_spec
    return (3, spec.frames, spec.size, spec.size)


@pytest.mark.slow
def test_zoo_train_writes_an_entry_the_sweep_loads_and_retrain_ignores(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RPPG_ZOO_DIR", str(tmp_path / "zoo"))
    path = smoke_training_sweep(tmp_path / "z.yaml", "z", tmp_path / "manifests", ["physnet", "pos"])

    assert main(["zoo", "train", "--sweep", str(path), "--profile", "smoke"]) == 0
    (entry,) = zoo.entries()
    meta = entry.meta
    assert entry.method == "physnet" and entry.verified() == tmp_path / "zoo" / "physnet.pt"
    assert meta["budget_note"].startswith("smoke") and meta["recipe"]["profile"] == "smoke"
    assert meta["curve"] and meta["best_epoch"] == 1 and meta["train_seconds"] > 0
    assert meta["command"].startswith("python -m benchmark") and "git_commit" in meta
    assert main(["zoo", "train", "--sweep", str(path), "--profile", "smoke"]) == 0
    assert "physnet: in the zoo" in capsys.readouterr().out

    db, lb = tmp_path / "r.sqlite", tmp_path / "lb"
    assert (
        main(["run", "--sweep", str(path), "--db", str(db), "--leaderboard-dir", str(lb), "--no-progress"])
        == 0
    )
    from benchmark.paths import results_dir
    from benchmark.results.store import ResultStore

    assert not (results_dir() / "z" / "train").exists()  # nothing trained: the zoo's model was loaded
    with ResultStore(db) as store:
        assert store.checkpoint(meta["training_key"]) == str(entry.weights)
        assert {r["status"] for r in store.cells()} == {"done"}
    (board,) = [p for p in lb.glob("*.md") if p.name != "README.md" and "efficiency" not in p.name]
    assert f"`physnet`: zoo/physnet.pt (sha256 {meta['sha256'][:12]}" in board.read_text()

    retrain_db = tmp_path / "retrain.sqlite"
    args = [
        "run",
        "--sweep",
        str(path),
        "--db",
        str(retrain_db),
        "--leaderboard-dir",
        str(lb),
        "--no-progress",
    ]
    assert main([*args, "--retrain", "--profile", "smoke"]) == 0
    assert (results_dir() / "z" / "train" / "physnet").is_dir()  # --retrain trained it
    json.loads((tmp_path / "zoo" / "physnet.json").read_text())  # the zoo is left as it was
    assert zoo.find(meta["training_key"]).meta["sha256"] == meta["sha256"]
    assert Path(entry.weights).is_file()


def test_the_committed_zoo_verifies_is_current_and_its_readmes_are_generated():
    """Every committed entry matches its sha256 and the default sweep's current training config (a stale
    entry would make `make bench-all` train that method for hours), and zoo/README.md and the README's zoo
    line are what `zoo list --write` writes."""
    from benchmark.paths import PROJECT_ROOT
    from benchmark.zoo.cli import README_BEGIN, README_END, summary_line, zoo_markdown, zoo_rows, zoo_sweep

    for entry in zoo.entries():
        entry.verified()
    sweep = zoo_sweep(None)
    rows = zoo_rows(sweep)
    stale = [r["method"] for r in rows if r["status"] == "stale"]
    assert not stale, (
        f"zoo entries trained under another config: {stale} (retrain: python -m benchmark zoo train)"
    )
    readme = zoo.zoo_dir() / "README.md"
    assert readme.read_text() == zoo_markdown(rows, sweep.name), "run `python -m benchmark zoo list --write`"
    text = (PROJECT_ROOT / "README.md").read_text()
    assert f"{README_BEGIN}\n{summary_line(rows)}\n{README_END}" in text, (
        "run `python -m benchmark zoo list --write`"
    )


def test_the_ladder_sweep_loads_the_same_zoo_models_as_bench_all():
    """configs/sweeps/ladder.yaml trains on what quick.yaml trains on: every learned method's training key
    is the same, so the zoo serves both and the ladder never trains."""
    from benchmark.zoo.cli import zoo_cells, zoo_sweep

    quick = {c.method: c.training_key for c in zoo_cells(zoo_sweep(None))}
    ladder = {
        c.method: c.training_key
        for c in zoo_cells(zoo_sweep(str(PROJECT_ROOT / "configs/sweeps/ladder.yaml")))
    }
    assert ladder == quick


def test_training_only_state_is_left_out_and_a_part_equal_to_another_entry_is_referenced(
    tmp_path, monkeypatch
):
    """SSPD's EMA target and TS blocks are not stored and their absence loads; stven-rppgnet's frozen rPPGNet
    equal to the rppgnet entry is stored once, assembled on load, and a changed rppgnet entry is refused."""
    from benchmark.methods import create_method
    from benchmark.methods.training import load_trained

    monkeypatch.setenv("RPPG_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    sspd = create_method("sspd", frames=20)
    entry = zoo.save_entry("sspd", sspd, {"training_key": "s"}, [], root=tmp_path)
    stored = load_state_dict_file(entry.verified())
    assert stored and not any(k.startswith(sspd.training_only) for k in stored)
    loaded = load_trained("sspd", entry.verified(), frames=20)
    x = torch.rand(1, 3, 20, 128, 128) * 255
    with torch.no_grad():
        assert torch.equal(loaded(x), sspd.eval()(x))
    stored.pop(next(k for k in stored if k.startswith("net.")))
    torch.save(stored, tmp_path / "cut.pt")
    with pytest.raises(DataError, match="cut.pt.*missing keys"):
        load_trained("sspd", tmp_path / "cut.pt", frames=20)

    kwargs = {"size": 32, "frames": 16, "stven_width": 4}
    rppgnet = create_method("rppgnet", size=32, frames=16)
    zoo.save_entry("rppgnet", rppgnet, {"training_key": "r"}, [], root=tmp_path)
    stven = create_method("stven-rppgnet", **kwargs)
    stven.net.rppgnet.load_state_dict(rppgnet.net.state_dict())
    both = zoo.save_entry("stven-rppgnet", stven, {"training_key": "sr"}, [], root=tmp_path)
    own = load_state_dict_file(both.weights)
    assert own and not any(k.startswith("net.rppgnet.") for k in own)
    assert both.meta["parts"] == [
        {"method": "rppgnet", "sha256": zoo.find("r", tmp_path).meta["sha256"], "prefix": "net.rppgnet.",
         "source_prefix": "net."}
    ]  # fmt: skip
    assert both.loads_from(both.verified()) and both.loads_from(both.weights)
    # a database from another clone names that clone's copy: the same entry when its name and sha256 match
    elsewhere = tmp_path / "clone" / "zoo"
    elsewhere.mkdir(parents=True)
    shutil.copy(both.weights, elsewhere / both.weights.name)
    assert both.loads_from(elsewhere / both.weights.name)
    assert both.loads_from(tmp_path / "gone" / "zoo" / both.weights.name)  # not readable here: by name
    (elsewhere / both.weights.name).write_bytes(b"other weights")
    assert not both.loads_from(elsewhere / both.weights.name)
    assert not both.loads_from(tmp_path / "clone" / both.weights.name)  # not in a zoo folder
    full = load_state_dict_file(both.verified())
    assert full.keys() == stven.state_dict().keys()
    assert all(torch.equal(full[k], v) for k, v in stven.state_dict().items())

    other = create_method("stven-rppgnet", **kwargs)  # its own rPPGNet: stored whole, no part
    assert zoo.save_entry("stven-b", other, {"training_key": "sb"}, [], root=tmp_path).meta["parts"] == []
    torch.manual_seed(1)
    zoo.save_entry(
        "rppgnet", create_method("rppgnet", size=32, frames=16), {"training_key": "r"}, [], root=tmp_path
    )
    with pytest.raises(DataError, match="stven-rppgnet.json.*rppgnet's weights with sha256"):
        zoo.find("sr", tmp_path).verified()
