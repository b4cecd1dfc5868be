# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test install install-test services migrate seed bench clean

# `make run` installs only what the web server and the workers import (requirements/base.txt: no
# torch); `make test` adds the test tools and, for the local-model adapter tests, the gpu set.
$(VENV)/.installed-base: requirements/base.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-base requirements/dev.txt requirements/gpu.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt -r requirements/gpu.txt
	touch $@

install: $(VENV)/.installed-base

install-test: $(VENV)/.installed-test

# The arena at http://127.0.0.1:$(PORT)/ — embedded (SQLite, in-process) unless DATABASE_URL / REDIS_URL are set.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py arena_seed_demo
	bash scripts/run.sh

# The whole suite against real Postgres and Redis on their usual local ports.
test: install-test
	bash scripts/services.sh
	bash scripts/test.sh $(ARGS)

clean:
	rm -rf $(VENV) var db.sqlite3 test-artifacts
