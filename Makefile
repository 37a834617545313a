# Two entry points for a fresh machine with Python 3.11+ and make:
#   make run   - install into .venv and start the service under gunicorn on embedded defaults, with the fixture
#                FHIR server (fhir-fixtures/) beside it on FHIR_PORT
#   make test  - install with the dev extras into .venv and run the whole test suite
#   make bench - the speed targets of docs/performance.md, measured here (BENCH_ARGS=--quick / --strict)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint schemas icd10cm clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Local development: no client authentication (a warning says so at start-up); production sets CDS_AUTH=required.
# `cpt64640 dev` starts `serve` and the fixture FHIR server, prints both URLs and stops both on Ctrl-C or SIGTERM.
FHIR_PORT ?= 8090
run: $(VENV)/.installed-run
	CDS_AUTH=$${CDS_AUTH:-off} $(BIN)/cpt64640 dev fhir-fixtures --fhir-port $(FHIR_PORT)

# As root with apt-get, scripts/system-deps first says what it will do to the machine, then installs Chromium,
# PostgreSQL, nginx and a Java runtime (for Spark) where missing and starts a PostgreSQL cluster on 127.0.0.1:5432
# (role cpt64640, database cpt64640_test). CPT64640_SYSTEM_DEPS=0 make test opts out; the tests that need them then skip and say why.
test: $(VENV)/.installed-dev
	scripts/system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# HealthChain (the Python CDS Hooks SDK) for the benchmark's comparison, in its own venv: it pins an older
# fhir.resources than the service's. BENCH_HEALTHCHAIN=0 skips it; when it cannot be installed the bench says so.
BENCH_HEALTHCHAIN ?= 1
HEALTHCHAIN_VENV := .venv-healthchain

$(HEALTHCHAIN_VENV)/.installed:
	$(PYTHON) -m venv $(HEALTHCHAIN_VENV)
	$(HEALTHCHAIN_VENV)/bin/python -m pip install --quiet healthchain gunicorn && touch $@ \
		|| echo "make bench: HealthChain could not be installed; the bench goes on without it"

bench: $(VENV)/.installed-run $(if $(filter 0,$(BENCH_HEALTHCHAIN)),,$(HEALTHCHAIN_VENV)/.installed)
	BENCH_HEALTHCHAIN=$(BENCH_HEALTHCHAIN) $(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# The knowledge base's JSON Schemas, generated from its models (a test fails when they are stale).
schemas: $(VENV)/.installed-run
	$(BIN)/python -c "from cpt64640_cds.knowledge.loader import write_schemas; write_schemas()"

# The ICD-10-CM codes and titles the knowledge base uses, from indications.json and the simple-icd-10-cm
# package's tables, so the service never loads the package (a test fails when the file is stale).
icd10cm: $(VENV)/.installed-dev
	$(BIN)/python -c "from cpt64640_cds.knowledge.loader import write_icd10cm; write_icd10cm()"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(HEALTHCHAIN_VENV) var build .pytest_cache .ruff_cache .mypy_cache service/*.egg-info
