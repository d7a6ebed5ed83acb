# Set-up is part of every target: each works on a fresh clone and is cheap to repeat.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench package clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/reslens-gui

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
	$(BIN)/ruff check engine gui tests bench packaging
	$(BIN)/lint-imports

lint: $(STAMP)
	$(BIN)/ruff check engine gui tests bench packaging
	$(BIN)/ruff format --check engine gui tests bench packaging
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The bundle is built from pinned versions where a constraints file exists for this platform.
CONSTRAINTS := $(wildcard packaging/constraints/$(shell uname -s | tr A-Z a-z)-$(shell uname -m).txt)

package: $(STAMP)
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev,package]'
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m packaging

clean:
	rm -rf build dist bench/out
