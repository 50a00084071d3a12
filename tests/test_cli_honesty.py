"""What a new user trips on (issue 20) and a sweep checked before any work (issue 25): exit codes, typos,
ad-hoc runs kept out of the committed leaderboards, rows of other protocol versions never pooled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import build_parser, main
from benchmark.errors import ConfigError
from benchmark.paths import PROJECT_ROOT, config_dir
from benchmark.results.fingerprint import code_fingerprint
from benchmark.results.store import WHOLE, CellResult, Prediction, ResultStore
from benchmark.runner.cells import load_sweep, sweep_from_dict

PROV = {"git_commit": "c0ffee1", "host": "test-host", "date": "2026-01-02T03:04:05+00:00"}


def cli(*argv: str, timeout: int = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        **kw,
    )


# ----------------------------------------------------------------------------- the command line itself
def test_a_mistyped_command_is_a_usage_error_not_a_sweep(capsys):
    assert main(["lsit"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'lsit'" in err and "did you mean 'list'" in err


def test_version_and_usage_errors_exit_as_documented(capsys):
    assert main(["--version"]) == 0
    assert "0.1" in capsys.readouterr().out
    assert main(["synth", "--preset", "huge"]) == 2  # choices: refused before any generation
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert main(["run", "--device", "gpu"]) == 2
    assert main(["profile", "--device", "tpu"]) == 2
    assert "invalid device 'tpu'" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly():
    out = subprocess.run(
        f"{sys.executable} -m benchmark list --markdown | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert out.stdout.strip() and "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


# ------------------------------------------------------------------------- a sweep checked before work
def write_yaml(path, text: str):
    path.write_text(text)
    return path


def test_every_problem_of_a_sweep_is_listed_at_once_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv("RPPG_MANIFEST", raising=False)
    sweep = write_yaml(
        tmp_path / "bad.yaml",
        "name: bad\n"
        "datasets: {synth: {preset: smoke}, ubfc-rppgx: {}, manifest: {}}\n"
        "compression: [raw, x264-crf99x]\n"
        "methods: [pos, physnett]\n"
        "seeds: [0, -1]\n"
        "evaluation: {bnad: [0.7, 2.5], estimator: fft2}\n",
    )
    db = tmp_path / "r.sqlite"
    result = cli("run", "--sweep", str(sweep), "--db", str(db), "--no-progress")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for expected in (
        "unknown compression level 'x264-crf99x'",
        "unknown dataset 'ubfc-rppgx'; did you mean 'ubfc-rppg'?",
        "unknown method 'physnett'; did you mean 'physnet'?",
        "a seed must be >= 0, got -1",
        "unknown key 'bnad' in evaluation; did you mean 'band'?",
        "unknown estimator 'fft2'",
        "RPPG_MANIFEST",
    ):
        assert expected in result.stderr, expected
    assert "7 problem(s)" in result.stderr
    assert not db.exists()  # nothing ran, nothing was written


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--seeds", "abc"], "a seed must be an integer, got 'abc'"),
        (["--seeds", "-1"], "a seed must be >= 0, got -1"),
        (["--compression", "raw,x264-crf99x"], "unknown compression level 'x264-crf99x'"),
        (["--datasets", "nosuch"], "unknown dataset 'nosuch'"),
        (["--max-epochs", "0"], "max_epochs must be >= 1"),
    ],
)
def test_bad_flags_are_named_errors_without_traceback(flags, expected, tmp_path, capsys):
    rc = main(
        [
            "run",
            "--sweep",
            str(config_dir() / "sweeps" / "smoke.yaml"),
            "--db",
            str(tmp_path / "r.db"),
            *flags,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and expected in err
    assert not (tmp_path / "r.db").exists()


def test_a_missing_dataset_root_and_a_broken_recipe_are_found_before_work(tmp_path, monkeypatch):
    methods = tmp_path / "configs" / "methods"
    methods.mkdir(parents=True)
    (methods / "tscan.yaml").write_text("method: tscan\nrecipe: {lr: 0.1, nosuchkey: 1}\n")
    (tmp_path / "configs" / "compression.yaml").write_bytes((config_dir() / "compression.yaml").read_bytes())
    monkeypatch.setenv("RPPG_CONFIG_DIR", str(tmp_path / "configs"))
    raw = {
        "name": "roots",
        "datasets": {"ubfc-rppg": {"root": str(tmp_path / "absent")}, "synth": {"preset": "smoke"}},
        "methods": ["pos", "tscan"],
    }
    sweep_from_dict(raw)  # names are right: loading alone (e.g. for `leaderboard`) needs no data
    with pytest.raises(ConfigError) as err:
        sweep_from_dict(raw, check_runnable=True)
    text = str(err.value)
    assert "2 problem(s)" in text and "absent is not a directory" in text and "nosuchkey" in text


def test_a_nested_key_typo_in_face_or_split_is_named():
    with pytest.raises(ConfigError, match="unknown key 'detect_evry' in face; did you mean 'detect_every'"):
        sweep_from_dict({"face": {"detect_evry": 10}})
    with pytest.raises(ConfigError, match="unknown key 'fraction' in split"):
        sweep_from_dict({"split": {"fraction": [0.6, 0.2, 0.2]}})


# --------------------------------------------------------------------------------------- ad-hoc runs
def run_args(*argv: str):
    return build_parser().parse_args(["run", *argv])


def test_an_ad_hoc_run_gets_its_own_name_database_and_tables(tmp_path, monkeypatch):
    from benchmark.results.provenance import default_db_path
    from benchmark.runner.cli import sweep_from_args

    monkeypatch.setenv("RPPG_RESULTS_DIR", str(tmp_path / "runs"))
    committed = sweep_from_args(run_args())
    assert committed.name == "quick" and committed.leaderboard_dir() == PROJECT_ROOT / "leaderboards"
    assert committed.db_path() == default_db_path()  # `profile` writes where `leaderboard` reads
    adhoc = sweep_from_args(run_args("--methods", "pos,chrom"))
    assert adhoc.name == "quick-adhoc" and adhoc.methods == ("pos", "chrom")
    assert adhoc.db_path() == tmp_path / "runs" / "quick-adhoc.sqlite"
    assert adhoc.leaderboard_dir() == tmp_path / "runs" / "quick-adhoc" / "leaderboards"
    named = sweep_from_args(run_args("--methods", "pos", "--name", "mine"))
    assert named.name == "mine"
    told = sweep_from_args(run_args("--methods", "pos", "--leaderboard-dir", "leaderboards"))
    assert told.name == "quick" and told.leaderboard_dir() == PROJECT_ROOT / "leaderboards"


def test_an_ad_hoc_run_never_writes_the_sweep_files_committed_database(tmp_path, monkeypatch):
    from benchmark.runner.cli import sweep_from_args

    monkeypatch.setenv("RPPG_RESULTS_DIR", str(tmp_path / "runs"))
    kd = str(PROJECT_ROOT / "configs" / "sweeps" / "kd-gain.yaml")  # names its database under leaderboards/
    committed = sweep_from_args(run_args("--sweep", kd))
    assert committed.db_path() == Path("leaderboards/kd-gain/kd-gain.sqlite")
    adhoc = sweep_from_args(run_args("--sweep", kd, "--methods", "kd-teacher"))
    assert adhoc.name == "kd-gain-adhoc" and adhoc.db_path() == tmp_path / "runs" / "kd-gain-adhoc.sqlite"


def test_some_of_the_sweeps_own_seeds_is_the_same_sweep_spread_over_runs(tmp_path, monkeypatch):
    from benchmark.runner.cli import sweep_from_args

    monkeypatch.setenv("RPPG_RESULTS_DIR", str(tmp_path / "runs"))
    kd = str(PROJECT_ROOT / "configs" / "sweeps" / "kd-gain.yaml")  # seeds 1-6
    part = sweep_from_args(run_args("--sweep", kd, "--seeds", "2,3"))
    assert part.name == "kd-gain" and part.seeds == (2, 3)
    assert part.db_path() == Path("leaderboards/kd-gain/kd-gain.sqlite")
    other = sweep_from_args(run_args("--sweep", kd, "--seeds", "0,1"))  # seed 0 is not the sweep's
    assert other.name == "kd-gain-adhoc" and other.db_path() == tmp_path / "runs" / "kd-gain-adhoc.sqlite"


# ------------------------------------------------------------------- versions and profiles never pooled
def cell(store, method, version, profile, errors, seed=0):
    ident = {
        "method": method, "group": "classic", "train_set": "synth", "test_set": "synth", "level": "raw",
        "seed": seed, "protocol": "intra", "protocol_version": version, "sweep": "t", "profile": profile,
    }  # fmt: skip
    truth = [60.0, 70.0, 80.0, 90.0]
    preds = [
        Prediction(f"synth/r{i}", f"s{i}", WHOLE, 0.0, t + e, t, 1.0)
        for i, (t, e) in enumerate(zip(truth, errors))
    ]
    key = f"{method}-{version}-{profile}-{seed}"
    store.write_cell(
        CellResult(key, "done", ident, {}, {"k": key, "code": code_fingerprint()}, PROV, predictions=preds)
    )


def test_rows_of_other_protocol_versions_or_profiles_are_other_entries_and_boards(tmp_path):
    from benchmark.leaderboard.tables import boards, collect_entries

    with ResultStore(tmp_path / "r.sqlite") as store:
        cell(store, "pos", 1, "quick", [1, -1, 1, -1])
        cell(store, "pos", 2, "quick", [5, -5, 5, -5])
        cell(store, "pos", 2, "smoke", [9, -9, 9, -9])
        entries = collect_entries(store, n_boot=50)
    assert sorted((e["protocol_version"], e["profile"], e["mae"]) for e in entries) == [
        (1, "quick", 1.0),
        (2, "quick", 5.0),
        (2, "smoke", 9.0),
    ]
    assert all(e["seeds"] == "0" for e in entries)  # not pooled as three seeds
    assert sorted(boards(entries)) == ["synth-v1-quick", "synth-v2-quick", "synth-v2-smoke"]


def test_the_gate_keys_rows_by_version_and_profile():
    from benchmark.leaderboard.gate import KEY, compare

    row = {"protocol": "intra", "train_set": "s", "test_set": "s", "method": "pos", "level": "raw"}
    base = {tuple({**row, "protocol_version": "1", "profile": "smoke"}.get(k) for k in KEY): {"mae": "1.0"}}
    current = {
        tuple({**row, "protocol_version": "2", "profile": "smoke"}.get(k) for k in KEY): {"mae": "1.0"}
    }
    regressions, new, _ = compare(base, current, 0.5, 0.05)
    assert [r["why"] for r in regressions] == ["missing"] and len(new) == 1


def test_a_recipe_version_bump_changes_the_training_key():
    from benchmark.methods.config import load_recipe, split_recipe

    recipe = load_recipe("physnet", "quick")
    assert recipe["recipe_version"] >= 1 and "recipe_version" not in split_recipe(recipe)[0]
    sweep = load_sweep(config_dir() / "sweeps" / "smoke.yaml")
    from benchmark.runner.cells import Cell

    def key(r):
        return Cell("physnet", "supervised", True, "synth", "synth", "raw", 0, sweep, r).training_key

    assert key(recipe) != key({**recipe, "recipe_version": recipe["recipe_version"] + 1})


def test_methods_that_share_one_checkpoint_are_named_under_the_table(tmp_path):
    from benchmark.leaderboard.tables import collect_entries, metric_table, shared_checkpoint_notes
    from benchmark.runner.cells import config_hash

    with ResultStore(tmp_path / "r.sqlite") as store:
        for method, training in (("physnet", {"m": "a"}), ("kd-teacher", {"m": "b"}), ("tscan", {"m": "c"})):
            ident = {
                "method": method, "group": "supervised", "train_set": "synth", "test_set": "synth",
                "level": "raw", "seed": 0, "protocol": "intra", "protocol_version": 1, "sweep": "t",
                "profile": "quick",
            }  # fmt: skip
            preds = [Prediction("synth/r0", "s0", WHOLE, 0.0, 71.0, 70.0, 1.0)]
            config = {"training": training, "code": code_fingerprint()}
            store.write_cell(CellResult(method, "done", ident, {}, config, PROV, predictions=preds))
            shared = method in ("physnet", "kd-teacher")
            path = "/ckpt/shared.ckpt" if shared else f"/ckpt/{method}.ckpt"
            store.put_checkpoint(config_hash(training), method, path, "2026-01-01")
        entries = collect_entries(store, n_boot=20)
        notes = shared_checkpoint_notes(store, entries)
    assert len(notes) == 1 and notes[0].startswith("kd-teacher and physnet are one model")
    assert notes[0] in metric_table(entries, "mae", ["raw"], "synth", notes).markdown()


@pytest.mark.slow
def test_a_sweep_with_a_failed_cell_exits_1_names_it_and_still_writes_tables(tmp_path):
    from sweep_data import manifest, sweep_file

    from benchmark.data.datasets import load_dataset

    (rec,) = load_dataset("synth", preset="smoke", subjects=1, scenarios=["still"], duration_s=8.0)
    data = rec.video.read_bytes()
    corrupt = manifest(tmp_path / "corrupt", [(rec, data[: len(data) // 3], rec.ppg)])
    sweep = sweep_file(tmp_path / "s.yaml", "fails", {"corrupt": corrupt}, ["corrupt"], ["raw"], ["pos"])
    db, lb = str(tmp_path / "r.sqlite"), str(tmp_path / "lb")
    args = ["run", "--sweep", str(sweep), "--db", db, "--leaderboard-dir", lb, "--no-progress"]
    result = cli(*args, timeout=300)
    assert result.returncode == 1, result.stderr
    assert (
        "error: 1 cell(s) failed" in result.stderr
        and "pos | corrupt->corrupt | raw | seed 0" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert (tmp_path / "lb" / "corrupt-to-corrupt.md").is_file()


def test_predict_estimator_choices_are_the_registry(capsys):
    from benchmark.evaluation.hr import ESTIMATORS
    from benchmark.evaluation.predict_cli import ESTIMATOR_NAMES

    assert list(ESTIMATOR_NAMES) == ESTIMATORS.names()
    assert main(["predict", "clip.mp4", "--estimator", "fftt"]) == 2
    assert "invalid choice: 'fftt'" in capsys.readouterr().err


def test_a_recipe_key_the_factory_does_not_take_is_an_error_naming_the_file(tmp_path, monkeypatch):
    from benchmark.methods.config import factory_arguments, load_recipe

    path = tmp_path / "methods" / "physnet.yaml"  # load_recipe reads only the method's own file
    path.parent.mkdir()
    recipe = (config_dir() / "methods" / "physnet.yaml").read_text()
    path.write_text(recipe.replace("recipe:\n", "recipe:\n  frame_count: 128\n", 1))
    monkeypatch.setenv("RPPG_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"physnet\.yaml: keys \['frame_count'\] are neither training keys"):
        load_recipe("physnet", "quick")
    assert factory_arguments(lambda size=36, **rest: None) is None  # any keyword: nothing to check
    assert factory_arguments(lambda size=36, frames=128: None) == {"size", "frames"}
