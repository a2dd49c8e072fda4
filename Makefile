# CarePortal: `make run` and `make test` are all a newcomer needs (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
PY := $(UV) run --frozen python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv
PYTEST_ARGS ?= -n 2
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/careportal

.PHONY: help setup run test test-sqlite test-postgres lint bench browser clean

help:
	@echo "make run    set everything up on first use, load the demo trust, serve http://127.0.0.1:8000"
	@echo "make test   run the whole test suite on SQLite and on PostgreSQL"
	@echo "make lint   ruff, mypy and the access-layer lint"
	@echo "make bench  run the benchmarks under bench/"

$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# Everything `make run` and `make test` need that a fresh machine lacks: the locked Python environment and the
# NHS.UK frontend assets from npm (exact versions from package-lock.json).
setup: $(UV)
	@mkdir -p var/static
	$(UV) sync --frozen --quiet
	@if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
		npm ci --no-audit --no-fund --loglevel=error; fi

run: setup
	$(PY) manage.py migrate --no-input
	$(PY) manage.py hl7_apply_stored
	$(PY) manage.py load_demo
	@echo ""
	@echo "CarePortal is starting at http://127.0.0.1:8000  (demo accounts: see README.md; Ctrl+C stops it)"
	@echo ""
	$(UV) run --frozen honcho --no-prefix start -f Procfile

browser:
	@scripts/ensure-chromium

test: setup browser
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite:
	@echo "== Test suite on SQLite =="
	DATABASE_URL=sqlite:///:memory: $(UV) run --frozen pytest $(PYTEST_ARGS)

test-postgres:
	@echo "== Test suite on PostgreSQL =="
	@if scripts/postgres-ready "$(POSTGRES_URL)"; then \
		DATABASE_URL=$(POSTGRES_URL) $(UV) run --frozen pytest $(PYTEST_ARGS); \
	elif [ -n "$$CI" ]; then \
		echo "PostgreSQL is not reachable at $(POSTGRES_URL): CI needs it (see .ci/run)"; exit 1; \
	else \
		echo "SKIPPED: PostgreSQL is not reachable at $(POSTGRES_URL)."; \
		echo "Start PostgreSQL (user postgres, trust auth) or set POSTGRES_URL to run this half of the suite."; \
	fi

lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(PY) scripts/lint_model_usage_in_views.py

bench: setup
	ONLY=$(ONLY) $(PY) bench/run.py

clean:
	rm -rf .venv $(TOOLS) node_modules var careportal.sqlite3*
