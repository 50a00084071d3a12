# Every target installs what it needs first; re-running `make install` when nothing changed does nothing.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-fast lint format bench-all bench-smoke gate readme clean-cache

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## make test: the whole suite (about how long is printed at the end by pytest --durations)
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## make test-fast: skips tests marked slow
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check benchmark tests bench
	$(BIN)/ruff format --check benchmark tests bench

format: $(STAMP)
	$(BIN)/ruff format benchmark tests bench
	$(BIN)/ruff check --fix benchmark tests bench

## make bench-all: SynthPulse `quick`, every method x default compression levels, leaderboards/ rewritten
bench-all: $(STAMP)
	$(PY) -m benchmark run --sweep configs/sweeps/quick.yaml

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
