# Two commands on a fresh machine: `make demo` (set up, generate the embedded data, build and publish
# customer_segments.duckdb, write the report and the campaign exports) and `make test` (set up, lint and
# run the whole test suite). `make test-fast` runs ruff and only the tests that run no dbt (under a
# minute). Everything runs offline.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The oldest DuckDB that reads the file's storage format (v1.3.0, profiles.yml); the tests open the file with it.
DUCKDB1_VERSION := 1.3.2
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo demo-publish setup data build publish report exports browser lint test test-fast bench clean distclean

demo: setup data demo-publish report exports

setup: $(VENV)/.installed

# pip prints one line per package it collects and installs (-q would sit silent for a minute or two).
$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	@echo "setup 1/4: virtualenv $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "setup 2/4: pip itself"
	$(BIN)/python -m pip install --progress-bar off --upgrade pip
	@echo "setup 3/4: the pinned packages of requirements.lock (about 1-2 minutes, ~950 MB)"
	$(BIN)/python -m pip install --progress-bar off -c requirements.lock -e ".[test]"
	@echo "setup 4/4: a DuckDB $(DUCKDB1_VERSION) reader in $(VENV)/duckdb1 (to prove older BI drivers open the file)"
	$(BIN)/python -m pip install --progress-bar off --no-deps --upgrade --target $(VENV)/duckdb1 duckdb==$(DUCKDB1_VERSION)
	touch $@
	@echo "setup done"

data: setup
	$(BIN)/python -m synthetic_shop.generate --out data/generated

# dbt writes the working file customer_segments.build.duckdb; readers never see it.
build: setup
	$(BIN)/dbt build

# dbt build into the working file, then, only if every model, seed and test passed, a fresh file of that
# build atomically replaces the published customer_segments.duckdb (SEGMENTS_PUBLISHED) that BI tools
# hold open, keeping its mode and owner (docs/publishing.md).
publish: setup
	$(BIN)/python -m customer_segments.delivery.publish

# The demo's publish leaves a published file built from another input (your own data) as it is, and says
# so (exit 3); `make demo FORCE=1` replaces it.
demo-publish: setup
	$(BIN)/python -m customer_segments.delivery.publish $(if $(FORCE),,--keep-other-input)

report: setup
	$(BIN)/python -m customer_segments.delivery.report

exports: setup
	$(BIN)/python -m customer_segments.delivery.exports

# The report's test drives a real headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "browser: installing Debian's chromium for the report's browser test (about a minute)"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else \
	    echo "chromium is missing: install Debian's package (sudo apt-get install chromium); the report test needs it" >&2; exit 1; \
	  fi; }

# The house style, checked (nothing is reformatted): ruff on the Python (pyproject.toml, [tool.ruff]) and
# sqlfluff on the SQL of models/ and macros/ (.sqlfluff).
lint: setup
	$(BIN)/ruff check
	$(BIN)/sqlfluff lint models macros

# The suite as two pytest processes side by side, one per core (tests/python/run_shards.py), sharing the
# session's builds; each prints its output when it ends. `$(BIN)/python -m pytest` alone runs it in one.
test: setup browser lint
	$(BIN)/python tests/python/run_shards.py

# ruff, then the tests that run no dbt (the tests marked dbt run the real dbt CLI): under a minute.
# sqlfluff (about 10 s) is left to `make lint` and `make test`.
test-fast: setup
	$(BIN)/ruff check
	$(BIN)/python -m pytest -m "not dbt"

# Scale benchmark (not part of the tests): dbt build and plain pandas at 1x, 10x and 100x the real
# data (inputs written under data/bench/), figures to BENCHMARKS.md. Takes a while; needs ~8 GiB free disk.
bench: setup
	$(BIN)/python -m benchmarks.benchmark

# What `make data`, the build, the report and the exports wrote; the virtualenv stays (distclean removes it too).
clean:
	rm -rf target logs data/generated customer_segments.duckdb customer_segments.duckdb.lock customer_segments.build.duckdb reports exports

distclean: clean
	rm -rf $(VENV)
