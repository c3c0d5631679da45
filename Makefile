# The two commands of the README: `make run` (the main job) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test lint typecheck clean browser strace image lock specs

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

# The durability tests trace the local backend's system calls with Debian's strace.
strace:
	@command -v strace >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq strace)

test: $(STAMP) browser strace
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy registry_core
	$(PY) -m pytest
	$(MAKE) test-py313

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy registry_core

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -rf $(VENV313)

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

# `make bench-scale`: one model grown to 100, 200, 1,000 and 10,000 versions, measured at each beside MLflow (issue 12;
# README "Performance"). BENCH_SCALE_SIZES=100,1000 for a quick run; a system whose growth to the next size would take
# longer than BENCH_SCALE_MAX_GROW_MINUTES (20) stops there, and the report says so.
.PHONY: bench-scale
bench-scale: $(STAMP) $(MLFLOW_STAMP)
	BENCH_MLFLOW_PYTHON=$(MLFLOW_VENV)/bin/python $(PY) -m benchmarks.scale

# Issue 12's 32 processes x 20 registrations at once, on both backends: nothing may be lost (minutes on the emulator).
.PHONY: bench-concurrency
bench-concurrency: $(STAMP)
	$(PY) -m benchmarks.storm

# `make bench-serve`: the local endpoint (`model-registry serve`) against a bare SavedModel call in a minimal ASGI app,
# under the same load from a third process (issue 13; README "Performance"). BENCH_SERVE_CLIENTS (8),
# BENCH_SERVE_SECONDS (20), BENCH_SERVE_INSTANCES (1), BENCH_SERVE_ROUNDS (3), BENCH_SERVE_WARMUP (3).
.PHONY: bench-serve
bench-serve: $(STAMP)
	$(PY) -m benchmarks.serve

# `make image`: the image every pipeline task runs in (Dockerfile), for linux/amd64, with a Docker engine where
# there is one (PUSH=1 pushes it too; then `docker login` or `gcloud auth configure-docker REGION-docker.pkg.dev`).
# Without an engine, Cloud Build does the same: gcloud builds submit --config cloudbuild.yaml
# TARGET=serving builds the serving image instead (`model-registry serve-container` for Vertex AI, KServe, SageMaker).
IMAGE ?= model-registry-python:dev
PLATFORM ?= linux/amd64
TARGET ?=
image:
	@docker info >/dev/null 2>&1 || { echo "make image needs a Docker engine, and the docker client finds none here;" \
		"build with Cloud Build instead: gcloud builds submit --config cloudbuild.yaml" \
		"--substitutions _REGION=us-central1,_REPOSITORY=ml,_TAG=0.1.0" >&2; exit 2; }
	docker build --platform $(PLATFORM) $(if $(TARGET),--target $(TARGET)) --tag $(IMAGE) .
	@if [ -n "$(PUSH)" ]; then docker push $(IMAGE) && \
		echo "pushed $$(docker inspect --format '{{index .RepoDigests 0}}' $(IMAGE)) (pin it with --image)"; \
	else echo "built $(IMAGE) (PUSH=1 pushes it)"; fi

# The image's dependency lock (exact versions and hashes of pyproject's [all] extra, for Linux and Python 3.11).
lock: $(STAMP)
	$(PY) -m pip install --dry-run --ignore-installed --quiet --report requirements/.report.json \
		'.[all]' 'setuptools>=68' wheel
	$(PY) requirements/lock_image.py requirements/.report.json requirements/image.txt
	rm -f requirements/.report.json

# The published component specs (components/specs/*.yaml), generated from the code.
specs: $(STAMP)
	$(PY) -m pipelines.specs

# `make test-py313` (run by `make test` after the main suite): the library, the CLI and the web UI on Python 3.13, in
# .venv-3.13 with the ui and dev extras. TensorFlow, kfp and Vertex AI are not installed there, so the tests that need
# them are left out, by path (tests/model, kfp_components, pipeline_tests, deploy, deploy_vertex) or by the marker
# needs_tensorflow, and so are the reliability runs and the 1000-example fuzzing (2+ minutes, nothing in it depends on
# the Python version): `make test` runs all of those on 3.11 (README "Python versions").
PYTHON313 ?= $(firstword \
	$(shell PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -m1 '^3\.13') python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null) \
	$(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
VENV313 := .venv-3.13
STAMP313 := $(VENV313)/.installed
PY313_TESTS := tests/unit tests/contract tests/cli tests/fuzz/test_bad_input.py tests/web tests/test_public_api.py \
	tests/test_examples.py

.PHONY: test-py313
$(STAMP313): pyproject.toml
	@test -n "$(PYTHON313)" || (echo "make test-py313 needs Python 3.13: pyenv's 3.13 or python3.13 on PATH" >&2; exit 1)
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --upgrade pip
	$(VENV313)/bin/python -m pip install --quiet -e '.[ui,dev]'
	touch $(STAMP313)

test-py313: $(STAMP313) browser
	$(VENV313)/bin/python -m pytest -m "not needs_tensorflow" $(PY313_TESTS)
