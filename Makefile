# workflow-logs: the two commands are `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Edge functions: Deno pinned in package.json; their npm: imports pinned in deno.json + deno.lock.
DENO := node_modules/.bin/deno
FUNCTIONS := supabase/functions
FUNCTIONS_CONFIG := $(FUNCTIONS)/ingest-logs/deno.json
DENO_STAMP := node_modules/.deno-deps
NPM_STAMP := node_modules/.package-lock.json

.PHONY: install install-deno dev test test-sql test-deno test-py bench clean

install: $(STAMP)

## make install-deno: Deno (npm ci) and the functions' npm packages, fetched once, checked against deno.lock.
install-deno: $(DENO_STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(DENO_STAMP): $(NPM_STAMP) $(FUNCTIONS_CONFIG) $(FUNCTIONS)/ingest-logs/deno.lock
	$(DENO) install --quiet --frozen --config $(FUNCTIONS_CONFIG) \
		--entrypoint $(FUNCTIONS)/ingest-logs/index.ts $(FUNCTIONS)/ingest-logs/handler.test.ts
	touch $(DENO_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[bridge,supabase,dev]'
	touch $(STAMP)

## make dev: embedded Postgres (or $$DATABASE_URL), migrated, demo data; Ctrl-C stops it.
dev: install
	$(VENV)/bin/workflow-logs dev

## make test: pgTAP suite (when the server has pgTAP), the edge functions' deno tests, the pytest suite.
test: install test-sql test-deno test-py

test-sql: install
	$(PY) scripts/run_pgtap.py

test-deno: install-deno
	$(DENO) test --quiet --frozen --config $(FUNCTIONS_CONFIG) --allow-env --allow-net=127.0.0.1 $(FUNCTIONS)

test-py: install install-deno
	$(PY) -m pytest

## make bench: benchmarks (print a table, write bench/results/*.json; bench_scale loads 10M logs,
## ~15 min). Not part of make test.
bench: install
	$(PY) bench/bench_sql_api.py
	$(PY) bench/bench_bridge.py
	$(PY) bench/bench_sdk.py
	$(PY) bench/bench_scale.py

clean:
	rm -rf $(VENV) .dev .pytest_cache
