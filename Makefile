# The two commands a fresh clone needs: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Docker installs the same way, without the dev tools and not editable: INSTALL_SPEC=.
INSTALL_SPEC ?= -e ".[dev]"
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench fuzz soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(INSTALL_SPEC)
	touch $(STAMP)

install: $(STAMP)

run: install
	CDS_AUTH_MODE=$${CDS_AUTH_MODE:-off} $(BIN)/calf-cds serve

lint: install
	$(BIN)/ruff check cds tests bench scripts
	$(BIN)/ruff format --check cds tests bench scripts

format: install
	$(BIN)/ruff check --fix cds tests bench scripts
	$(BIN)/ruff format cds tests bench scripts

test: install
	@bash scripts/test-prerequisites.sh
	$(BIN)/ruff check cds tests bench scripts
	$(BIN)/ruff format --check cds tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest

# Issue 8: engine, HTTP (wrk, Debian package), memory and startup figures in one table.
# BENCH_ARGS=--duration 5 for a quicker look, --variants to compare gunicorn worker classes.
bench: install
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
	  else echo "bench needs wrk: sudo apt-get install -y wrk (or run make bench as root)"; exit 1; fi; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Issue 7: the long fuzz run (random seeds, FUZZ_EXAMPLES cases per test, default 2000; a
# failure is saved under .hypothesis/ and replayed first next time). `make test` runs the same
# tests derandomised with small counts.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -m fuzz -q $(FUZZ_ARGS)

# Issue 7: 60 s of mixed traffic at 32 connections against `calf-cds serve` on its own
# PostgreSQL; exits non-zero on any 5xx or lost feedback. Not part of CI.
# SOAK_ARGS="--duration 10 --connections 8" for a quick look.
soak: install
	@bash scripts/test-prerequisites.sh
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache calf-cds.sqlite3*
