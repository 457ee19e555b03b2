# Thin aliases: the commands themselves live in the `revcycle` CLI and pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test lint format bench db-upgrade seed check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/revcycle db upgrade
	$(BIN)/revcycle demo seed --if-empty
	$(BIN)/revcycle serve --host 127.0.0.1 --port 8000

test: install lint
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	$(BIN)/python -m bench

db-upgrade: install
	$(BIN)/revcycle db upgrade

seed: install
	$(BIN)/revcycle demo seed

check: install
	$(BIN)/revcycle check

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
