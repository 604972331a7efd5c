# The two quickstart commands (README): `make demo` and `make test`. Each creates .venv when missing,
# installs the CPU build of torch first (a plain `torch` would pull a multi-GB CUDA build), then this
# project with its dev extras. Both are safe to run again: the install runs only when pyproject.toml changed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
TORCH_PIN := torch==2.13.0
PYTEST_ARGS ?=
TEST_WORKERS ?= 2  # pytest-xdist workers for `make test`; a whole file goes to one worker (its fixtures are per module)

.PHONY: demo test test-fast lint format bench clean-venv

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/swarmtrust demo

test: $(INSTALLED)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The fast tier: pure logic, no process, server or database started (about a minute); `make test` runs all.
test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not processes and not postgres and not slow" $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(INSTALLED)
	$(PY) -m bench.run

clean-venv:
	rm -rf $(VENV)
