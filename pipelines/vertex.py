"""Submit a compiled pipeline (KFP v2 YAML) to Vertex AI Pipelines.

``google-cloud-aiplatform`` and ``google-cloud-storage`` are imported inside `submit_pipeline`, so importing this
module stays fast and works without the ``[kfp]`` extra.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry_core.deploy.vertex import is_local_endpoint
from registry_core.errors import DependencyMissingError, DeploymentError, InvalidInputError
from registry_core.google_errors import api_message
from registry_core.text import one_line

__all__ = ["InvalidPipelineSubmissionError", "PipelineSubmissionError", "submit_pipeline"]

_LOG = logging.getLogger(__name__)
_GCS_URI = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/.*)?$")
_JOB_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
_REMOTE_TEMPLATE = re.compile(r"^(?:gs|https)://", re.IGNORECASE)
_INSTALL_HINT = "submitting to Vertex AI needs the kfp extra: pip install 'registry-core[kfp]'"


class PipelineSubmissionError(DeploymentError):
    """Vertex AI refused or failed a pipeline job, or its pipeline root cannot be used (e.g. the bucket is missing)."""


class InvalidPipelineSubmissionError(InvalidInputError, PipelineSubmissionError):
    """An argument of `submit_pipeline` is malformed: pipeline root, template, labels, parameters, job name.

    It is both an `InvalidInputError` (exit code 2) and a `PipelineSubmissionError`.
    """


def _pipeline_name(template: str) -> str | None:
    """Return ``pipelineInfo.name`` of a local compiled pipeline (or PipelineJob) file, None if it has none."""
    import yaml

    try:
        document = yaml.safe_load(Path(template).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        msg = one_line(f"cannot read the pipeline template {template}: {exc}")
        raise InvalidPipelineSubmissionError(msg) from exc
    if not isinstance(document, dict):
        msg = f"the pipeline template {template} is not a compiled pipeline (expected a YAML or JSON mapping)"
        raise InvalidPipelineSubmissionError(msg)
    spec = document.get("pipelineSpec", document)
    name = (spec.get("pipelineInfo") or {}).get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else None


def _job_id(name: str | None) -> str:
    """Return a job id that is unique (timestamp plus random suffix) and valid for Vertex: ``^[a-z][-a-z0-9]*$``."""
    slug = re.sub(r"[^-0-9a-z]+", "-", (name or "pipeline").lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"pipeline-{slug}".rstrip("-")
    suffix = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
    job_id = f"{slug[: 127 - len(suffix)].rstrip('-')}-{suffix}"
    assert _JOB_ID.match(job_id), job_id
    return job_id


def _check_bucket(
    storage: Any, bucket: str, project: str, credentials: Any, errors: tuple[type[BaseException], ...]
) -> None:
    """Fail if the pipeline-root bucket does not exist (the SDK would otherwise create it, with its own settings)."""
    from google.api_core import exceptions as api_exceptions

    client = storage.Client(project=project, credentials=credentials)
    try:
        exists = client.bucket(bucket).exists()
    except api_exceptions.Forbidden:
        # We may write objects without being allowed to read the bucket's metadata: let Vertex judge.
        _LOG.warning("cannot check that the pipeline root bucket gs://%s exists (permission denied)", bucket)
        return
    except errors as exc:
        msg = one_line(f"cannot check the pipeline root bucket gs://{bucket}: {api_message(exc)}")
        raise PipelineSubmissionError(msg) from exc
    finally:
        client.close()
    if not exists:
        msg = f"the pipeline root bucket gs://{bucket} does not exist; create it (in the pipeline's region) first"
        raise PipelineSubmissionError(msg)


@dataclass(frozen=True)
class BuiltJob:
    """A pipeline job ready to submit or schedule, and the SDK errors its calls may raise."""

    job: Any
    name: str
    errors: tuple[type[BaseException], ...]


def build_pipeline_job(
    template_path: str | Path,
    *,
    project: str,
    region: str,
    pipeline_root: str,
    parameter_values: dict[str, Any] | None = None,
    display_name: str | None = None,
    labels: dict[str, str] | None = None,
    enable_caching: bool | None = None,
    api_endpoint: str | None = None,
    credentials: Any = None,
    fresh_job_id: bool = True,
) -> BuiltJob:
    """Check a run's arguments and the pipeline-root bucket, then build its ``aiplatform.PipelineJob`` (not sent).

    With `fresh_job_id` the job gets the id ``<pipeline name>-<UTC timestamp>-<random>`` (a schedule's runs get
    theirs from Vertex AI); the other arguments are as `submit_pipeline`'s.

    Raises:
        InvalidPipelineSubmissionError: a malformed argument, a missing template, parameters the pipeline lacks.
        PipelineSubmissionError: the bucket does not exist, or a remote template cannot be read.
        DependencyMissingError: google-cloud-aiplatform is not installed.
    """
    root_match = _GCS_URI.match(pipeline_root or "")
    if root_match is None:
        msg = one_line(f"pipeline_root must be a gs://bucket[/prefix] URI, got {pipeline_root!r}")
        raise InvalidPipelineSubmissionError(msg)
    if not project or not region:
        msg = "project and region are required to run a pipeline on Vertex AI"
        raise InvalidPipelineSubmissionError(msg)
    template = str(template_path)
    remote_template = bool(_REMOTE_TEMPLATE.match(template))
    if not remote_template and not Path(template).is_file():
        msg = f"the pipeline template {template} does not exist (compile the pipeline first)"
        raise InvalidPipelineSubmissionError(msg)

    try:
        import requests
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions
        from google.cloud import aiplatform, storage
    except ImportError as exc:
        raise DependencyMissingError(_INSTALL_HINT) from exc
    sdk_errors: tuple[type[BaseException], ...] = (
        api_exceptions.GoogleAPIError,  # HTTP/gRPC errors and retry timeouts
        auth_exceptions.GoogleAuthError,  # no or unusable credentials
        requests.exceptions.RequestException,  # unreachable endpoint
    )

    pipeline_name = None if remote_template else _pipeline_name(template)
    name = display_name or pipeline_name or "pipeline"
    if credentials is None and is_local_endpoint(api_endpoint):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()  # a local stand-in of Vertex AI takes no Google credentials
    if api_endpoint:
        # REST, always: an http(s):// endpoint only works over REST, and init() without a project would switch to
        # REST anyway. Project, location and credentials stay per job rather than global.
        aiplatform.init(api_endpoint=api_endpoint, api_transport="rest")

    _check_bucket(storage, root_match["bucket"], project, credentials, sdk_errors)

    try:
        job = aiplatform.PipelineJob(
            display_name=name,
            template_path=template,
            job_id=_job_id(pipeline_name or display_name) if fresh_job_id else None,
            pipeline_root=pipeline_root,
            parameter_values=parameter_values,
            enable_caching=enable_caching,
            labels=labels,
            credentials=credentials,
            project=project,
            location=region,
        )
    except (ValueError, TypeError, KeyError) as exc:  # the SDK's own checks: labels, parameters, display name
        msg = one_line(f"cannot build the pipeline job from {template}: {exc}")
        raise InvalidPipelineSubmissionError(msg) from exc
    except sdk_errors as exc:  # reading a remote template
        msg = one_line(f"cannot read the pipeline template {template}: {api_message(exc)}")
        raise PipelineSubmissionError(msg) from exc
    return BuiltJob(job=job, name=name, errors=sdk_errors)


def quiet_sdk_logging() -> None:
    """Silence the SDK's progress lines: it logs them at INFO on stdout, where a command's output (--json) goes.

    Each of its loggers sets its own level, so every one of them is raised (they exist once the SDK is imported).

    Raises:
        DependencyMissingError: google-cloud-aiplatform is not installed.
    """
    try:
        import google.cloud.aiplatform  # noqa: F401 - creates the SDK's loggers
    except ImportError as exc:
        raise DependencyMissingError(_INSTALL_HINT) from exc

    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("google.cloud.aiplatform"):
            logging.getLogger(name).setLevel(logging.WARNING)


def submit_pipeline(
    template_path: str | Path,
    *,
    project: str,
    region: str,
    pipeline_root: str,
    parameter_values: dict[str, Any] | None = None,
    service_account: str | None = None,
    display_name: str | None = None,
    labels: dict[str, str] | None = None,
    enable_caching: bool | None = None,
    api_endpoint: str | None = None,
    credentials: Any = None,
    wait: bool = False,
) -> str:
    """Submit a compiled pipeline to Vertex AI Pipelines and return the job's resource name.

    Checks first that `pipeline_root` is a ``gs://`` URI whose bucket exists (otherwise the SDK would create a bucket
    on its own), then creates the job with ``aiplatform.PipelineJob(...).submit()`` under a fresh job id
    ``<pipeline name>-<UTC timestamp>-<random>``.

    Args:
        template_path: The compiled pipeline: a local YAML/JSON file, a ``gs://`` URI or an Artifact Registry URL.
        project: The Google Cloud project to run in.
        region: The Vertex AI region, e.g. ``us-central1``.
        pipeline_root: ``gs://bucket[/prefix]`` where the job writes its artifacts; the bucket must exist.
        parameter_values: Values for the pipeline's input parameters.
        service_account: The service account the job runs as (None: the project's default compute account).
        display_name: The job's display name; by default the pipeline's name from the template.
        labels: Labels on the job (Google label rules: lowercase keys and values).
        enable_caching: Force task caching on or off for every task; None keeps what the template says.
        api_endpoint: Another Vertex AI API endpoint (a regional or Private Service Connect host, or
            ``http://host:port`` of a local stand-in), spoken to over REST. The SDK has no per-call option for
            this, so it goes into the SDK's global configuration (``aiplatform.init(api_endpoint=...,
            api_transport="rest")``) and stays there for later SDK calls in this process.
        credentials: ``google.auth`` credentials; None uses Application Default Credentials.
        wait: Block until the job finishes; a job that fails raises `PipelineSubmissionError`.

    Returns:
        The job's resource name, ``projects/{project}/locations/{region}/pipelineJobs/{job_id}``.

    Raises:
        InvalidPipelineSubmissionError: an argument is malformed (e.g. `pipeline_root` is not ``gs://``, the template
            is missing or unreadable, a parameter is unknown, labels break Google's rules).
        PipelineSubmissionError: the bucket does not exist, Vertex AI refused the job, or the job failed (`wait`).
        DependencyMissingError: google-cloud-aiplatform is not installed.
    """
    built = build_pipeline_job(
        template_path, project=project, region=region, pipeline_root=pipeline_root,
        parameter_values=parameter_values, display_name=display_name, labels=labels, enable_caching=enable_caching,
        api_endpoint=api_endpoint, credentials=credentials,
    )  # fmt: skip
    job, sdk_errors = built.job, built.errors
    try:
        job.submit(service_account=service_account)
    except sdk_errors as exc:
        msg = one_line(f"Vertex AI refused the pipeline job {job.job_id}: {api_message(exc)}")
        raise PipelineSubmissionError(msg) from exc
    resource_name: str = job.resource_name

    if wait:
        try:
            job.wait()  # type: ignore[no-untyped-call]
        except RuntimeError as exc:  # the SDK's way to say the job failed
            msg = one_line(f"pipeline job {resource_name} failed: {exc}")
            raise PipelineSubmissionError(msg) from exc
        except sdk_errors as exc:
            msg = one_line(f"cannot follow pipeline job {resource_name}: {api_message(exc)}")
            raise PipelineSubmissionError(msg) from exc
    return resource_name
