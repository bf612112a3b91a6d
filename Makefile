# Two commands on a fresh machine: `make demo` (set up, generate the embedded data, dbt build) and
# `make test` (set up and run the whole test suite). Everything runs offline.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DUCKDB1_VERSION := 1.5.6
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo setup data build test bench clean

demo: setup data build

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	# A DuckDB 1.x reader, kept apart, to prove BI tools' older drivers can open the file.
	$(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/duckdb1 duckdb==$(DUCKDB1_VERSION)
	touch $@

data: setup
	$(BIN)/python -m customer_segments.generate --out data/generated

build: setup
	$(BIN)/dbt build

test: setup
	$(BIN)/python -m pytest

# Scale benchmark (not part of the tests): dbt build and plain pandas at 1x, 10x and 100x the real
# data (inputs written under data/bench/), figures to BENCHMARKS.md. Takes a while; needs ~8 GiB free disk.
bench: setup
	$(BIN)/python -m customer_segments.benchmark

clean:
	rm -rf target logs data/generated customer_segments.duckdb $(VENV)
