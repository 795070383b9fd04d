# The few commands a newcomer needs. `make run` and `make test` work on a fresh machine
# with Python 3.11+ (they create .venv and install imgpro into it on first use).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
PORT ?= 8000

$(VENV)/.installed: pyproject.toml sdk/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' -e ./sdk
	touch $@

.PHONY: install run demo test test-fast coverage lint bench
install: $(VENV)/.installed

# the base URLs follow the port unless the environment (or .env) sets them
run: $(VENV)/.installed  ## start imgpro on http://127.0.0.1:$(PORT) (SQLite + files in ./data)
	IMGPRO_WEB_URL=$${IMGPRO_WEB_URL:-http://127.0.0.1:$(PORT)} \
	IMGPRO_API_URL=$${IMGPRO_API_URL:-http://127.0.0.1:$(PORT)} \
	IMGPRO_CDN_URL=$${IMGPRO_CDN_URL:-http://127.0.0.1:$(PORT)/src} \
	$(VENV)/bin/imgpro serve --port $(PORT)

demo: $(VENV)/.installed  ## imgpro and the example Photo App, provisioned; prints the URL to open
	$(PY) examples/photo_app/demo.py

test: $(VENV)/.installed  ## the whole suite, on SQLite and on PostgreSQL + Redis
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(VENV)/.installed  ## the quick loop: SQLite only, no browser
	$(PY) -m pytest -q -m "not browser" -k "not postgresql" $(PYTEST_ARGS)

coverage: $(VENV)/.installed  ## line coverage of src/imgpro on the quick loop (pytest-cov)
	$(PY) -m pytest -q -m "not browser" -k "not postgresql" --cov=imgpro \
		--cov-report=term:skip-covered $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench sdk/src examples
	$(VENV)/bin/ruff format --check src tests bench sdk/src examples
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports
	cd sdk && ../$(VENV)/bin/mypy src

bench: $(VENV)/.installed
	$(PY) bench/upload.py
