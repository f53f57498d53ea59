# The two entry points of the README: `make demo` and `make test`. Both create .venv if absent.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lossbench-installed

.PHONY: demo test lint venv lock clean

venv: $(STAMP)

# Exactly the lock (every package pinned, with its hashes), then the project itself without
# dependencies; re-installed when the lock changes. pip takes torch/torchvision from local
# wheels when the machine has them (see README).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The lock from pyproject.toml (pip-tools): after changing a dependency, `make lock`, then
# commit both files; tests/test_lock.py fails while they disagree.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

demo: $(STAMP)
	$(BIN)/study run search_spaces/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check study analysis tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -n auto --dist loadgroup tests

clean:
	rm -rf runs mlflow.db mlartifacts
