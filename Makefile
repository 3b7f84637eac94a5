# workflow-logs: the two commands are `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install dev test test-sql test-py bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[bridge,dev]'
	touch $(STAMP)

## make dev: embedded Postgres (or $$DATABASE_URL), migrated, demo data; Ctrl-C stops it.
dev: install
	$(VENV)/bin/workflow-logs dev

## make test: pgTAP suite (when the server has pgTAP) and the pytest suite.
test: install test-sql test-py

test-sql: install
	$(PY) scripts/run_pgtap.py

test-py: install
	$(PY) -m pytest

## make bench: benchmarks (print a table, write bench/results/*.json). Not part of make test.
bench: install
	$(PY) bench/bench_sql_api.py
	$(PY) bench/bench_bridge.py
	$(PY) bench/bench_sdk.py

clean:
	rm -rf $(VENV) .dev .pytest_cache
