# Tally: the two commands of the quick start are `make demo` and `make test`.
# Both create .venv and install everything they need on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out
PYTEST_ARGS ?=

.PHONY: install test lint format demo clean kafka-start kafka-stop

$(STAMP): pyproject.toml setup.py $(wildcard core/*.pyx core/*/*.pyx tally/*.pyx)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The broker is started for the integration tests and stopped again even when tests fail.
test: install lint
	ops/kafka-local start
	@status=0; $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; ops/kafka-local stop; exit $$status

# The main job on the embedded default: simulate a project, aggregate it, summarise.
demo: install
	VENV=$(VENV) DEMO_DIR=$(DEMO_DIR) ops/demo.sh

kafka-start:
	ops/kafka-local start

kafka-stop:
	ops/kafka-local stop

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
