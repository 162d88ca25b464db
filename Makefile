# The two commands a fresh clone needs: `make run` and `make test` (README.md).
# Every install is locked: uv.lock pins each runtime and dev dependency with its hashes, and
# uv itself is pinned with hashes in scripts/uv-requirements.txt (installed into .venv-tools/
# by scripts/bootstrap-uv.sh with nothing but python3). After changing the dependencies in
# pyproject.toml, run `make lock` and commit uv.lock.
PYTHON ?= python3
VENV ?= .venv
TOOLS ?= .venv-tools
BIN := $(VENV)/bin
UV := $(TOOLS)/bin/uv
# `make run PORT=8090`, or CDS_PORT=8090 in the environment.
PORT ?= $(or $(CDS_PORT),8080)

# uv installs into $(VENV) with the machine's python3, never a downloaded interpreter, and
# compiles the bytecode as it installs (as pip does): a first start then costs ~1 s, not ~3 s.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1

# One stamp per install flavour, newer than uv.lock once synced: a second `make run` or
# `make test` installs nothing. `make run` syncs the runtime dependencies only (and drops the
# dev stamp, as uv removes the dev tools); `make test` syncs runtime + the `dev` extra.
RUN_STAMP := $(VENV)/.synced-runtime
DEV_STAMP := $(VENV)/.synced-dev

.PHONY: install install-runtime run test lint format lock messages bench fuzz soak clean

$(UV): scripts/uv-requirements.txt
	@bash scripts/bootstrap-uv.sh "$(PYTHON)" "$(TOOLS)"

$(RUN_STAMP): uv.lock pyproject.toml | $(UV)
	@rm -f $(DEV_STAMP)
	$(UV) sync --locked --quiet
	@touch $@

$(DEV_STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --quiet --extra dev
	@touch $@ $(RUN_STAMP)

install-runtime: $(RUN_STAMP)

install: $(DEV_STAMP)

# Re-resolve after a dependency change in pyproject.toml (then commit uv.lock).
lock: | $(UV)
	$(UV) lock

# Re-extract the message ids into messages.pot and merge them into every catalog
# (cds/translations/<lang>/LC_MESSAGES/messages.po); then translate the new or fuzzy entries.
# The service reads the .po files themselves (cds/i18n.py), so nothing is compiled for `run`.
EXTRACT := $(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 \
	--add-location=file --sort-output --no-wrap --project=calf-cds --omit-header
messages: install
	$(EXTRACT) -o messages.pot .
	$(BIN)/pybabel update -i messages.pot -d cds/translations --no-wrap --ignore-obsolete \
	  --ignore-pot-creation-date

# The project itself is installed editable, so its bytecode is refreshed here (a no-op when
# current; Python would not write it where PYTHONDONTWRITEBYTECODE is set).
# Beside the service runs the development EHR (`calf-cds dev-ehr`, loopback, port PORT+1) with
# the red-flag check app enabled against it, so a card's "Complete the red-flag check" link can
# be followed offline (README "The red-flag check app"). DEV_EHR=off runs the service alone.
DEV_EHR ?= on
DEV_EHR_PORT ?= $(shell echo $$(($(PORT) + 1)))
DEV_EHR_URL := http://127.0.0.1:$(DEV_EHR_PORT)
run: $(RUN_STAMP)
	@$(BIN)/python -m compileall -q cds
ifeq ($(DEV_EHR),on)
	@$(BIN)/python -c "import socket; socket.socket().bind(('127.0.0.1', $(DEV_EHR_PORT)))" \
	  2>/dev/null || { echo "make run: port $(DEV_EHR_PORT) (the development EHR, PORT+1) is in use;" \
	  "choose free ports with make run PORT=..., or DEV_EHR=off" >&2; exit 1; }
	@$(BIN)/calf-cds dev-ehr --port $(DEV_EHR_PORT) --app http://127.0.0.1:$(PORT) & dev=$$!; \
	trap 'kill $$dev 2>/dev/null' EXIT INT TERM; \
	CDS_AUTH_MODE=$${CDS_AUTH_MODE:-off} CDS_SMART_CLIENT_ID=$${CDS_SMART_CLIENT_ID:-calf-cds-dev} \
	CDS_SMART_DEV_EHR_URL=$(DEV_EHR_URL) \
	CDS_FHIR_SERVER_ALLOWLIST=$${CDS_FHIR_SERVER_ALLOWLIST:+$$CDS_FHIR_SERVER_ALLOWLIST,}$(DEV_EHR_URL) \
	$(BIN)/calf-cds serve --port $(PORT)
else
	CDS_AUTH_MODE=$${CDS_AUTH_MODE:-off} $(BIN)/calf-cds serve --port $(PORT)
endif

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
	@for po in cds/translations/*/LC_MESSAGES/messages.po; do \
	  $(BIN)/pybabel compile --statistics -i $$po -o /dev/null || exit 1; done
	$(BIN)/pytest

# Engine, HTTP (wrk, Debian package), memory and startup figures in one table, with the speed
# targets; the HTTP rows put calf-cds beside a bare Flask app and a minimal HealthChain 0.16
# service, which runs from its own venv (.venv-healthchain/, built by the bench with this uv
# from bench/healthchain-requirements.txt; its row says "skipped" when that cannot be built).
# BENCH_ARGS=--duration 5 for a quicker look, --variants to compare gunicorn worker classes.
bench: install
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
	  else echo "bench needs wrk: sudo apt-get install -y wrk (or run make bench as root)"; exit 1; fi; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The long fuzz run (random seeds, FUZZ_EXAMPLES cases per test, default 2000; a
# failure is saved under .hypothesis/ and replayed first next time). `make test` runs the same
# tests derandomised with small counts.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -m fuzz -q $(FUZZ_ARGS)

# 60 s of mixed traffic at 32 connections against `calf-cds serve` on its own
# PostgreSQL; exits non-zero on any 5xx or lost feedback. Not part of CI.
# SOAK_ARGS="--duration 10 --connections 8" for a quick look.
soak: install
	@bash scripts/test-prerequisites.sh
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .venv-healthchain .pytest_cache .ruff_cache .mypy_cache calf-cds.sqlite3*
