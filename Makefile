# YBB Export Studio — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
WEB_CONCURRENCY ?= 2
export HOST PORT WEB_CONCURRENCY

.PHONY: run dev test lint typecheck pytest system-deps fuzz bench clean native

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The server runs with PYTHONOPTIMIZE=2 (Procfile, `make run`, deploy/): its bytecode (*.opt-2.pyc)
# is compiled here, for the packages once and for the project's code on every run (only what
# changed), so that no worker compiles from source (docs/PERFORMANCE.md, fourteenth round).
# Test directories are left out: some packages ship files there that are not Python 3 on purpose.
COMPILE_OO := $(BIN)/python -OO -m compileall -q -j 0 -x '/(tests?|idle_test)/'

# pip leaves polars' runtime in the page cache in large folios, which a process then maps whole
# (the CLI peaked ~30 MB higher): dropped once installed (app/library_cache.py).
$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/python app/library_cache.py
	$(COMPILE_OO) $(VENV)/lib
	$(BIN)/python export_core/_build.py
	touch $@

## native: the C extensions export_core/_jsoncols.c and _sheetrows.c, built in place (each when
## older than its source), and the project's -OO bytecode
native: $(VENV)/.installed
	$(BIN)/python export_core/_build.py
	$(COMPILE_OO) app components export_core pages

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## run: install runtime deps and serve UI + API with gunicorn on $(HOST):$(PORT)
run: $(VENV)/.installed native
	PYTHONOPTIMIZE=$${PYTHONOPTIMIZE:-2} $(BIN)/gunicorn --config app/gunicorn_conf.py \
		--bind $(HOST):$(PORT) app.wsgi:server

## dev: Flask/Dash debug server (single process, auto-reload)
dev: $(VENV)/.installed native
	$(BIN)/python -m app

## system-deps: Debian packages the browser, PHP, Redis, PostgreSQL and nginx tests need (installed
## only when missing); nginx, systemd-analyze and openssl also check deploy/ (tests/deploy)
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v php >/dev/null 2>&1 || missing="$$missing php-cli"; \
	php -m 2>/dev/null | grep -qi '^curl$$' || missing="$$missing php-curl"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict export_core

pytest: $(VENV)/.installed-dev system-deps native
	$(BIN)/python -m pytest

## test: install everything, then ruff, mypy --strict export_core and pytest
test: lint typecheck pytest

## fuzz: long schemathesis run against a live server
fuzz: $(VENV)/.installed-dev
	YBB_FUZZ_EXAMPLES=$${YBB_FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest tests/api/test_fuzz.py -p no:cacheprovider

## bench: performance figures (printed and written to benchmarks/results/)
bench: $(VENV)/.installed-dev native
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache export_core/_jsoncols*.so \
		export_core/_sheetrows*.so
