# The two commands of the README: `make run` (the main job) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test lint typecheck clean browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

run: export TF_CPP_MIN_LOG_LEVEL = 2
run: $(STAMP)
	$(VENV)/bin/model-registry pipeline run-local --approved-by ml-lead --deploy
	@echo "Browse and approve in the web UI: $(VENV)/bin/model-registry ui   (then open http://127.0.0.1:8080)"

# The browser tests drive Debian's Chromium (never a downloaded browser); CI runs as root with apt.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy registry_core
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy registry_core

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# `make bench`: the benchmarks of issue 5 (README "Performance"). MLflow gets a virtual environment of its own.
.PHONY: bench
MLFLOW_VENV := benchmarks/.mlflow-venv
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed

$(MLFLOW_STAMP):
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install --quiet 'mlflow>=3,<4'
	touch $(MLFLOW_STAMP)

# The local pipeline end to end against its steps called in-process, and kfp.local's per-task overhead.
.PHONY: bench-pipeline
bench-pipeline: $(STAMP)
	$(PY) -m benchmarks.pipeline

bench: $(STAMP) $(MLFLOW_STAMP)
	BENCH_MLFLOW_PYTHON=$(MLFLOW_VENV)/bin/python $(PY) -m benchmarks
