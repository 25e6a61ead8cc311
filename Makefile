# Two commands matter on a fresh machine with only Python 3 and make:
#   make demo  - create .venv, install vfiocompat and the reference plugins, run a real check and explain
#   make test  - the same set-up, then ruff, mypy --strict and the whole test suite
PYTHON ?= python3
PYTHON_OLDEST ?= python3.9
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet
STAMP  := $(VENV)/.installed
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
EXAMPLE_PLUGINS := examples/acme-plugin
# Each plugin is its own distribution, installed as users install it (not editable).
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGINS)) $(EXAMPLE_PLUGINS)
SOURCES := pyproject.toml $(shell find vfiocompat plugins examples -name '*.py' -o -name '*.toml' -o -name '*.json' 2>/dev/null)

.PHONY: all venv demo test test-oldest lint unit bench fuzz clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(STAMP): $(BIN)/python $(SOURCES)
	@# setuptools warns about every editable install in a box of asterisks; the install is meant.
	PYTHONWARNINGS=ignore $(PIP) install -e '.[dev]'
	$(PIP) install --force-reinstall --no-deps $(PLUGIN_DIRS)
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	@sh examples/demo.sh $(BIN)/vfiocompat

lint: $(STAMP)
	$(BIN)/ruff check vfiocompat tests plugins examples benchmarks
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint unit

# The same suite on the oldest Python we support (RHEL 9's 3.9), in its own virtual environment.
test-oldest:
	$(MAKE) unit PYTHON=$(PYTHON_OLDEST) VENV=.venv-oldest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

fuzz: $(STAMP)
	$(PIP) install 'atheris>=2.3'
	$(BIN)/python tests/fuzz/run_fuzz.py --seconds $${FUZZ_SECONDS:-60}

clean:
	rm -rf $(VENV) .venv-oldest build *.egg-info .mypy_cache .ruff_cache .hypothesis
