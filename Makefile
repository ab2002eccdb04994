# Two commands on a fresh machine (see README.md):
#   make run    install into .venv and start the dashboard on the embedded default store
#   make test   install into .venv (with test tools) and run the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# The local package mirror's extra indexes answer "not here" for most names;
# those warnings are noise, real errors still fail the pipe.
PIP := $(PY) -m pip install --disable-pip-version-check -q
QUIET := { grep -v '^WARNING: Location' || true; }
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: help install install-dev system-deps run test test-fast lint bench

help:
	@echo "make run    install into .venv and start the dashboard (data folder: \$$FACS_DATA_DIR or ./data)"
	@echo "make test   install into .venv with test tools and run the whole test suite"
	@echo "make test-fast  the suite without tests marked slow or browser (the inner loop)"
	@echo "make lint   ruff check and ruff format --check over the code base"
	@echo "make bench  run every benchmark and update docs/benchmarks.md"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when a requirements file changes.
$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PIP) -r requirements.txt 2>&1 | $(QUIET)
	$(PIP) --no-deps -e . 2>&1 | $(QUIET)
	$(PY) -m facs_core models install
	$(PY) -m pip check
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) -r requirements-dev.txt 2>&1 | $(QUIET)
	$(PY) -m pip check
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian packages the browser and deployment tests drive (Chromium, fonts, nginx, openssl).
system-deps:
	@bash scripts/install_system_deps.sh

# umask 077: the store, its temporaries and backups are owner-only (docs/security.md).
run: install
	umask 077 && $(PY) -m facs_core init
	umask 077 && $(PY) -m streamlit run dashboard.py --server.port $(PORT)

test: install-dev system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: no Chromium, no tests marked slow (over ~20 s) or browser.
test-fast: install-dev
	$(PY) -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install-dev system-deps
	for script in bench/[a-z]*.py; do $(PY) $$script || exit 1; done
