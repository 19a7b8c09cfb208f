# `make run`: install into .venv and start a demo server on http://127.0.0.1:8000
# `make test`: install into .venv and run lint, types and the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint types unit bench clean

$(STAMP): pyproject.toml $(wildcard protocol/*.c protocol/*.h store/*.c)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/courtroom serve --demo

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types: install
	$(PY) -m mypy

test: lint types
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

bench: install
	$(PY) bench/bench_append.py --quick
	$(PY) bench/bench_verify.py --quick
	$(PY) bench/bench_schedule.py

clean:
	rm -rf $(VENV) .courtroom .pytest_cache .mypy_cache .ruff_cache
