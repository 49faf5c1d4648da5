# Two commands matter: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/seen

# The first Python >= 3.12 that actually runs (pyenv shims exist for versions that are
# not active, so `command -v` alone is not enough).
PYTHON ?= $(shell for p in python3.13 python3.12 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo $$p; break; }; done)

.PHONY: run test bench clean

$(VENV)/.runtime: requirements.txt
	@test -n "$(PYTHON)" || { echo "Seen needs Python 3.12 or newer (python3.13 or python3.12)."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

run: $(VENV)/.runtime
	tools/test-setup msgfmt
	DEBUG=$${DEBUG:-true} $(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver 127.0.0.1:8000

# Lint (ruff, import-linter), the whole suite on PostgreSQL (S3 mocked by moto), then the
# concurrency tests again on SQLite.
# tools/test-setup installs the system tools and npm packages the tests need when missing.
test: export SECRET_KEY ?= test-only-secret-key-not-for-production-use-0123456789
test: export DEBUG = false
test: $(VENV)/.test
	tools/test-setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules
	$(VENV)/bin/lint-imports
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(VENV)/bin/pytest
	DATABASE_URL=sqlite:///$(CURDIR)/data/test-run.sqlite3 $(VENV)/bin/pytest -m sqlite_too
	$(VENV)/bin/hadolint Dockerfile && echo "Dockerfile: no findings"

# Every benchmark under bench/, one table at the end, also written to bench/RESULTS.md.
bench: $(VENV)/.test
	$(PY) bench/all.py --write

clean:
	rm -rf $(VENV) staticfiles
