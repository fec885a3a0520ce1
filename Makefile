# Two commands on a fresh machine (Python 3.11, Node 20, make): `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORTAL_PORT ?= 8000
export PORTAL_PORT

.PHONY: install run test lint format stack bench soak migrate clean

install: $(VENV)/.installed node_modules/.installed static/dist/.built

$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The build renders frontend/src/generated/engine-constants.js from the Python engine
# (uploads/dicom/constants.py) with .venv/bin/python, so the venv comes first.
static/dist/.built: node_modules/.installed $(wildcard frontend/src/*.js frontend/src/*/*.js) \
		frontend/build.mjs uploads/dicom/constants.py | $(VENV)/.installed
	npm run --silent build
	touch $@

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py seed_demo
	@echo "Portal on http://127.0.0.1:$(PORTAL_PORT)/ (Ctrl-C stops the web server and the worker)"
	$(PY) scripts/procs.py Procfile.dev

# The suite runs on TEST_WORKERS processes at once (pytest-xdist; each has its own test
# database, cache and Celery keys: tests/conftest.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: install lint
	$(PY) scripts/fetch_testdata.py
	$(PY) scripts/testenv.py -- $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	npm run --silent lint

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The production processes, natively: gunicorn + celery worker + beat on PostgreSQL/Redis.
stack: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
stack: export REDIS_URL ?= redis://127.0.0.1:6379/0
stack: install
	$(PY) scripts/ensure_db.py
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) scripts/procs.py Procfile

# Every bench/bench_*.py on processes, databases and temp folders of its own (PostgreSQL on
# 127.0.0.1:5432 and /usr/bin/redis-server needed; Orthanc compared when installed), then
# one table of the figures they wrote to BENCH_RESULTS (docs/benchmarks.md).
BENCH_RESULTS ?= $(CURDIR)/data/bench
bench: export BENCH_RESULTS := $(BENCH_RESULTS)
bench: install
	@start=$$(date +%s); failed=""; mkdir -p "$$BENCH_RESULTS"; rm -f "$$BENCH_RESULTS"/*.json; \
	for script in bench/bench_*.py; do \
		echo "== $$script"; $(PY) $$script || failed="$$failed $$script"; \
	done; \
	$(PY) bench/summary.py; \
	echo "make bench: $$(( $$(date +%s) - start )) s"; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) node_modules static/dist data/cache data/celery-queue
