# The two commands a new user needs (see README):
#   make run   - install, migrate, load the demo data once, serve on http://127.0.0.1:8000
#   make test  - install, then run the whole test suite
# Everything else here is a step those two use, or a benchmark.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
INSTALLED := $(VENV)/.installed
ASSETS := web/static/govuk/.built

.PHONY: run test install assets setup-db clean

run: install setup-db
	GUNICORN_BIND=$(HOST):$(PORT) GUNICORN_WORKERS=$(WORKERS) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(INSTALLED) $(ASSETS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip >= 25.1 understands [dependency-groups]; the venv's own pip may be older.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . --group test
	touch $@

assets: $(ASSETS)

$(ASSETS): package.json package-lock.json $(wildcard web/assets/*)
	npm ci --no-audit --no-fund --loglevel=error
	npm run build
	touch $@

# Migrate, compile the postcode directory (first run only) and load the demo data once.
setup-db: install
	$(BIN)/flask db upgrade
	$(BIN)/flask postcodes build --if-missing
	$(BIN)/flask demo load --once

clean:
	rm -rf $(VENV) node_modules web/static/govuk
