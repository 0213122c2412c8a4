# Détente: `make run` serves the bundled example; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The main job on its embedded default: serve the example of two parties on a SQLite store.
run: $(STAMP)
	$(BIN)/detente demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	bash benchmarks/setup_postgis.sh
	$(BIN)/python -m benchmarks.strategic --flights 1000 10000 100000 --seed 1

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
