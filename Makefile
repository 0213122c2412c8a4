# Détente: `make run` checks the bundled example plans; `make test` runs the whole suite.
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

# The main job on its embedded default: check the example plans of two parties.
run: $(STAMP)
	$(BIN)/detente check --format table src/detente/examples/coalition.geojson src/detente/examples/russia.geojson; \
	status=$$?; [ $$status -le 1 ] || exit $$status

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	bash benchmarks/setup_postgis.sh
	$(BIN)/python -m benchmarks.strategic --flights 1000 10000 100000 --seed 1

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
