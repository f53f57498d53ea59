# The two entry points of the README: `make demo` and `make test`. Both create .venv if absent.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lossbench-installed

.PHONY: demo test lint venv clean

venv: $(STAMP)

# Re-install when the dependency list changes; pip takes torch/torchvision from local wheels
# when the machine has them (see README).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/study run search_spaces/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check study analysis tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf runs mlflow.db mlartifacts
