# The two commands: `make run` serves the users service, `make test` checks it.
USERS := services/users
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
PYTHON ?= python3
DATABASE_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/users_test
export DATABASE_TEST_URL

.PHONY: install run test lint cov

$(VENV)/.installed: $(USERS)/requirements.txt $(USERS)/requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(USERS)/requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# PostgreSQL when DATABASE_URL is set, otherwise an SQLite file in services/users/instance.
run: install
	mkdir -p $(USERS)/instance
	cd $(USERS) && $(PY) manage.py db upgrade
	cd $(USERS) && FLASK_DEBUG=1 $(PY) manage.py run --host 127.0.0.1 --port 5001

lint: install
	cd $(USERS) && $(VENV)/bin/flake8

test: lint
	$(PY) scripts/ensure_database.py "$(DATABASE_TEST_URL)"
	cd $(USERS) && $(PY) manage.py test

cov: install
	$(PY) scripts/ensure_database.py "$(DATABASE_TEST_URL)"
	cd $(USERS) && $(PY) manage.py cov

# What the benchmark adds to the venv (granian).
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

.PHONY: install-bench
install-bench: $(VENV)/.bench-installed

# The service against a Flask floor and a raw WSGI floor, under gunicorn and granian, with
# wrk (about 20 minutes); writes docs/benchmarks.md. Needs wrk (apt-get install wrk).
# BENCH_ARGS passes options: see `python bench/run.py -h`.
BENCH_ARGS ?=
.PHONY: bench
bench: install-bench
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
	BENCH_COMMAND="make bench$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" \
	  $(PY) bench/run.py --out docs/benchmarks.md $(BENCH_ARGS)
