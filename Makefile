# The two commands: `make demo` runs the embedded default, `make test` passes the suite.
# The interpreter the virtualenv is built on: the system's CPython where it is 3.11 or later
# and can make a virtualenv, else the first python3 on PATH (`make PYTHON=…` picks another).
# Distribution builds (Debian's) are compiled with profile-guided and link-time optimisation,
# pyenv's default build is not: pure Python (a bill run's drafting, the outbox dispatcher)
# runs about a third faster on the former (`wattdesk bench bill-run`: 19,500 -> 21,600
# bills/s on the same machine).
PYTHON ?= $(shell for candidate in /usr/bin/python3 python3; do \
	$$candidate -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' \
	>/dev/null 2>&1 && { command -v $$candidate; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint unit install install-dev clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "wattdesk needs Python 3.11 or later, with venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/wattdesk demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers: the suite runs each database test on SQLite and PostgreSQL.
PYTEST_ARGS ?= -n 2

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(VENV)/.installed-dev
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var/*.sqlite3* .mypy_cache .pytest_cache .ruff_cache
