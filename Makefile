# One toolchain locally and in CI. Every target installs what it needs first (scripts/bootstrap.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast ui bench lint clean

setup:
	@bash scripts/bootstrap.sh

demo: setup  ## run the main job end to end on embedded defaults
	@$(PY) -m orchestration.demo

test: setup  ## the whole test suite (slow tests included)
	@$(PY) -m pytest

test-fast: setup  ## everything but the tests marked slow
	@$(PY) -m pytest -m "not slow"

ui: setup  ## the Dagster UI (webserver + daemon, so sensors run) on http://127.0.0.1:3000
	@$(PY) -m orchestration.cli ui

bench: setup  ## the ingest benchmark (2M and 10M rows) against its floor
	@$(PY) bench/ingest_bench.py --rows 2000000 --rows 10000000

lint: setup
	@$(VENV)/bin/ruff check .

clean:
	rm -rf .maestro dbt_project/target dbt_project/logs
