# Every target installs what it needs first; re-running `make install` when nothing changed does nothing.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# MediaPipe 1.x ships no models: the face detector's model is taken from this pinned wheel (Apache-2.0).
MEDIAPIPE_WHEEL ?= mediapipe==0.10.21
FACE_MODEL := $(VENV)/share/rppg-benchmark/face_detection_short_range.tflite

.PHONY: install test test-fast lint format bench-all bench-ladder bench-retrain bench-smoke seed-claims zoo gate readme clean-cache

install: $(STAMP) $(FACE_MODEL)

# TORCH_SPEC is recorded in $(TORCH_STAMP), rewritten only when it differs from the last install's, so
# `make install TORCH_SPEC=...` on an existing .venv reinstalls torch (the stamp depends on it).
TORCH_STAMP := $(VENV)/.torch-spec
ifneq ($(shell cat $(TORCH_STAMP) 2>/dev/null),$(strip $(TORCH_SPEC)))
$(shell mkdir -p $(VENV) && printf '%s\n' '$(strip $(TORCH_SPEC))' > $(TORCH_STAMP))
endif

# Optional extras (`make install EXTRAS=ray`, comma-separated) are recorded in $(EXTRAS_STAMP) when given and
# different from the last install's, so adding one to an existing .venv reinstalls the package with it; a
# later target without EXTRAS (`make test`) keeps what is installed, and reinstalls with the recorded ones.
EXTRAS ?=
EXTRAS_STAMP := $(VENV)/.extras
ifneq ($(strip $(EXTRAS)),)
ifneq ($(shell cat $(EXTRAS_STAMP) 2>/dev/null),$(strip $(EXTRAS)))
$(shell mkdir -p $(VENV) && printf '%s\n' '$(strip $(EXTRAS))' > $(EXTRAS_STAMP))
endif
endif
comma := ,
PACKAGE_EXTRAS := dev$(addprefix $(comma),$(shell cat $(EXTRAS_STAMP) 2>/dev/null))

# TORCH_SPEC may hold pip options (`torch==2.13.0 --index-url URL`): it is split into words by a command
# substitution, which does not parse shell operators, so a spec such as `torch>=2.1` is no redirection.
$(STAMP): pyproject.toml $(TORCH_STAMP) $(wildcard $(EXTRAS_STAMP))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	set -f; $(PY) -m pip install --quiet $$(echo '$(strip $(TORCH_SPEC))')
	$(PY) -m pip install --quiet -e ".[$(PACKAGE_EXTRAS)]"
	touch $(STAMP)

# Only the .tflite is kept (checked against its sha256 in benchmark/data/face.py); the wheel is deleted.
$(FACE_MODEL): | $(STAMP)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
		--python-version 3.11 --implementation cp --abi cp311 -d "$$tmp" "$(MEDIAPIPE_WHEEL)" && \
	$(PY) -c 'import sys; from benchmark.data.face import extract_mediapipe_model as x; x(*sys.argv[1:])' \
		"$$tmp" "$@"

## make test: the whole suite (about how long is printed at the end by pytest --durations)
test: $(STAMP) $(FACE_MODEL)
	$(PY) -m pytest $(PYTEST_ARGS)

## make test-fast: skips tests marked slow
test-fast: $(STAMP) $(FACE_MODEL)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check benchmark tests bench
	$(BIN)/ruff format --check benchmark tests bench

format: $(STAMP)
	$(BIN)/ruff format benchmark tests bench
	$(BIN)/ruff check --fix benchmark tests bench

## make bench-all: SynthPulse `quick`, every method x default compression levels, leaderboards/ rewritten;
## learned methods load their zoo/ checkpoints (a method the zoo lacks is trained at its zoo budget)
bench-all: $(STAMP)
	$(PY) -m benchmark run --sweep configs/sweeps/quick.yaml

## make bench-ladder: the nuisance ladder (SynthPulse seed 2, 20 steps x 4 subjects, raw, the zoo's models),
## leaderboards/ladder; apart from bench-all to keep that within 30 minutes
bench-ladder: $(STAMP)
	$(PY) -m benchmark run --sweep configs/sweeps/ladder.yaml

## make bench-retrain: the same sweep, every learned method trained from scratch with its `quick` recipe
## (zoo/ ignored; an ad-hoc run: tables under runs/quick-adhoc/leaderboards)
bench-retrain: $(STAMP)
	$(PY) -m benchmark run --sweep configs/sweeps/quick.yaml --retrain

## make zoo: train what zoo/ lacks at each method's zoo budget (hours on CPU; resumable, ZOO_MINUTES per run)
ZOO_MINUTES ?= 60
zoo: $(STAMP)
	$(PY) -m benchmark zoo train --max-minutes $(ZOO_MINUTES)

## make seed-claims: the source papers' claims (KD gain, STVEN gain per codec, TALOS) at the zoo budget,
## paired by training seed (many CPU-hours; each claim's results are committed as they finish, so a rerun
## resumes), then leaderboards/seed-claims.md. A claim whose run fails does not stop the others.
seed-claims: $(STAMP)
	-$(PY) -m benchmark run --sweep configs/sweeps/stven-gain.yaml --no-progress
	-$(PY) bench/talos_gain.py
	-$(PY) -m benchmark run --sweep configs/sweeps/kd-gain.yaml --no-progress
	$(PY) bench/seed_claims.py

## make bench-smoke: the small deterministic sweep the CI gate uses
bench-smoke: $(STAMP)
	$(PY) -m benchmark run --sweep configs/sweeps/smoke.yaml

gate: $(STAMP)
	$(PY) -m benchmark gate --baseline leaderboards/baseline/smoke.csv

## make readme: regenerate the README's registry tables from the registries
readme: $(STAMP)
	$(PY) -m benchmark list --write-readme README.md

clean-cache:
	rm -rf .rppg_cache
