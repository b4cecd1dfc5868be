# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test install services migrate seed bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

# The arena at http://127.0.0.1:$(PORT)/ — embedded (SQLite, in-process) unless DATABASE_URL / REDIS_URL are set.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py arena_seed_demo
	bash scripts/run.sh

# The whole suite against real Postgres and Redis on their usual local ports.
test: install
	bash scripts/services.sh
	bash scripts/test.sh $(ARGS)

clean:
	rm -rf $(VENV) var db.sqlite3 test-artifacts
