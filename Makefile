# The two commands of the README: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

# Served-mode services for the test suite (started by .ci/services if they are not answering).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/suitehealth
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# Tests run a second time on SQLite, the database of embedded mode (`make run`).
EMBEDDED_TESTS ?= tests/dashboard/test_views.py tests/ingest/test_deleting.py tests/dashboard/test_demo.py \
	tests/reports/test_ranking.py
PORT ?= 8000

.PHONY: run test lint install services browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed as $(PYTHON)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# Embedded mode: SQLite under var/, tasks in-process, a demo project with data and a login.
run: install
	$(PY) manage.py migrate --noinput
	SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(PY) manage.py demo
	SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The whole suite against real PostgreSQL, Redis and Celery worker processes.
test: install lint services browser
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)
	@if [ -z "$(PYTEST_ARGS)" ]; then \
		echo "--- the pages, deletes and rankings again on SQLite (embedded mode's database)"; \
		env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -q -p no:cacheprovider $(EMBEDDED_TESTS); \
	fi

# ruff for lint and formatting, mypy for types (the settings of both are in pyproject.toml); part
# of `make test`. mypy's cache (.mypy_cache) makes a run after a small change take seconds.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

services:
	@bash .ci/services

# Headless Chromium, chromedriver and poppler-utils (Debian packages) for the browser and PDF tests.
browser:
	@bash .ci/browser

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
