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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache calf-cds.sqlite3*
