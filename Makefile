# The README's two commands: `make run` (install, demo registry, serve) and `make test`.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_HOUSEHOLDS ?= 2000
BIN := $(VENV)/bin

.PHONY: run test install lint catalogs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/spsr db upgrade
	$(BIN)/spsr seed --if-empty --households $(DEMO_HOUSEHOLDS) --seed 1140
	$(BIN)/spsr serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m locales.catalogs compile
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var build *.egg-info
