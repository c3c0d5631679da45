"""The retraining runners that `registry_core.monitoring.retraining.start_retraining` finds: local and Vertex AI.

Declared in the ``registry_core.retrainers`` entry point group. Each starts the train-and-register pipeline the way
``model-registry pipeline run-local`` / ``pipeline submit`` do, with the request's trigger (reason and report) as
pipeline parameters, which the register task writes into the new version's lineage.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

from registry_core.errors import DependencyMissingError, InvalidInputError
from registry_core.monitoring.retraining import RetrainOutcome, RetrainRequest
from registry_core.text import one_line

_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_LABEL = re.compile(r"[^a-z0-9_-]+")
_SEED_BOUND = 2**31  # the pipeline's data_seed is an integer parameter; numpy seeds take any non-negative one


def run_local_retraining(request: RetrainRequest) -> RetrainOutcome:
    """Run the train-and-register pipeline on this machine with kfp's local runner; return once it has finished.

    As ``pipeline run-local``: the registry is the request's (or this machine's default), the run's folder is made
    under `request.pipeline_root` (or `pipelines.local.default_pipeline_root()`), and a passing version is promoted
    to staging (the usual validation gate decides). The synthetic data gets a new seed unless the request's
    parameters give one. Progress lines go to stderr, so that a caller's stdout (e.g. ``monitor --json``) stays its
    own.

    Returns:
        ``RetrainOutcome("local", <the run's folder>, <the registered version>)``.

    Raises:
        InvalidInputError: `request.pipeline_root` is not a local folder.
        DependencyMissingError: kfp is not installed.
        PipelineRunError: a task of the run failed.
    """
    _require("kfp", "running the pipeline locally")
    from pipelines.local import default_pipeline_root, run_local
    from registry_core.config import RegistryConfig
    from registry_core.registry import ModelRegistry

    if _REMOTE.match(request.pipeline_root):
        msg = one_line(f"the local retraining runner keeps its runs in a local folder, not {request.pipeline_root}")
        raise InvalidInputError(msg)
    pipeline_root = Path(request.pipeline_root) if request.pipeline_root else default_pipeline_root()
    registry = ModelRegistry(RegistryConfig(root=request.registry_root or None))
    values = {"data_seed": new_seed(), "promote_to_staging": True} | request.pipeline_parameters()
    values["registry_root"] = registry.storage.uri  # resolved once, so that every task and this function agree
    with contextlib.redirect_stdout(sys.stderr):
        version = run_local(pipeline_root=pipeline_root, **values)
    run_name = registry.get_model_metadata(request.model_name, version).lineage.pipeline_run or ""
    folder = pipeline_root / run_name if run_name else pipeline_root
    return RetrainOutcome(runner="local", run=str(folder), version=version)


def submit_retraining(request: RetrainRequest) -> RetrainOutcome:
    """Submit the train-and-register pipeline to Vertex AI Pipelines; return once the job is accepted.

    As ``pipeline submit``: the registry must be ``gs://`` (the request's, else $MODEL_REGISTRY_ROOT), the pipeline
    is compiled for `request.image` (else $REGISTRY_IMAGE; never the unpublished default) unless a template is
    given. The synthetic data gets a new seed unless the request's parameters give one, and task caching is off:
    a retraining run is about fresh data, and a cached data or training task would hand back the old model. The job
    is labelled ``trigger=monitoring`` and with the monitored endpoint.

    Returns:
        ``RetrainOutcome("vertex", <the job's resource name>, None)``.

    Raises:
        InvalidInputError: no gs:// registry, a missing project, region or gs:// pipeline root, an unpublished or
            malformed image, an unreadable template.
        PipelineSubmissionError: the pipeline-root bucket does not exist or Vertex AI refused the job.
        DependencyMissingError: kfp or google-cloud-aiplatform is not installed.
    """
    _require("kfp", "submitting the pipeline to Vertex AI")
    from pipelines.submission import prepare_submission
    from pipelines.vertex import quiet_sdk_logging, submit_pipeline

    quiet_sdk_logging()
    values = {"data_seed": new_seed()} | request.pipeline_parameters()
    with tempfile.TemporaryDirectory(prefix="retrain-") as scratch:
        template, values = prepare_submission(
            values, registry=request.registry_root or None, image=request.image or None,
            template=request.template or None, scratch=Path(scratch),
        )  # fmt: skip
        job = submit_pipeline(
            template, project=request.project, region=request.region, pipeline_root=request.pipeline_root,
            parameter_values=values, service_account=request.service_account or None,
            labels=_labels(request), enable_caching=False, api_endpoint=request.api_endpoint or None,
        )  # fmt: skip
    return RetrainOutcome(runner="vertex", run=job, version=None)


def new_seed() -> int:
    """Return a data seed for a new run: random, so that no two retraining runs train on the same synthetic data."""
    return secrets.randbelow(_SEED_BOUND)


def _labels(request: RetrainRequest) -> dict[str, str]:
    """Return the job's labels (Google's rules: lowercase letters, digits, ``_`` and ``-``, at most 63 characters)."""
    labels = {"trigger": "monitoring"}
    endpoint = _LABEL.sub("-", request.endpoint.lower()).strip("-")[:63]
    if endpoint:
        labels["endpoint"] = endpoint
    return labels


def _require(module: str, doing: str) -> None:
    """Fail with a one-line error, rather than a traceback deep in a run, when `module` is not installed."""
    if find_spec(module) is None:
        msg = f"{doing} needs {module}: pip install 'registry-core[kfp]'"
        raise DependencyMissingError(msg)
