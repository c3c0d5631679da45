"""Publish a compiled pipeline on Google Cloud: upload it to Artifact Registry, schedule it on Vertex AI Pipelines.

Artifact Registry keeps Kubeflow Pipelines templates in repositories of the ``KFP`` format, at
``https://{location}-kfp.pkg.dev/{project}/{repository}``: uploading a template makes a package named after the
pipeline with a version ``sha256:<digest of the file>``, and tags name versions. kfp's `RegistryClient` does the
upload (Application Default Credentials, or the `auth` given). A Vertex AI schedule runs the pipeline on a cron:
``aiplatform.PipelineJob(...).create_schedule(cron=..., display_name=...)``.

``kfp``, ``google-cloud-aiplatform`` and ``google-cloud-storage`` are imported inside the functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.vertex import InvalidPipelineSubmissionError, PipelineSubmissionError, build_pipeline_job
from registry_core.deploy.vertex import is_local_endpoint
from registry_core.errors import DependencyMissingError, DeploymentError, InvalidInputError
from registry_core.google_errors import api_message
from registry_core.text import one_line

__all__ = ["TemplateUploadError", "UploadedTemplate", "schedule_pipeline", "upload_template"]

_AR_HOST = re.compile(
    r"^https://(?P<location>[a-z][-a-z0-9]*)-kfp\.pkg\.dev/(?P<project>[^/\s]+)/(?P<repository>[^/\s]+)/?$"
)
_TAG = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9_.]{0,127}$")
_CRON_TIME_ZONE = re.compile(r"^(?:CRON_TZ|TZ)=[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)*$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?LW#-]+$")
_INSTALL_HINT = "publishing pipelines needs the kfp extra: pip install 'registry-core[kfp]'"


class TemplateUploadError(DeploymentError):
    """Artifact Registry refused or failed the upload of a pipeline template."""


@dataclass(frozen=True)
class UploadedTemplate:
    """A pipeline template version in an Artifact Registry repository.

    Attributes:
        host: The repository, ``https://{location}-kfp.pkg.dev/{project}/{repository}``.
        package: The package (the pipeline's name).
        version: The version, ``sha256:<digest>``.
        tags: The tags given to it.
    """

    host: str
    package: str
    version: str
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def template_url(self) -> str:
        """The URL of this version, for ``pipeline submit/schedule --template`` (or PipelineJob's template_path)."""
        return f"{self.host}/{self.package}/{self.version}"

    def tag_url(self, tag: str) -> str:
        """The URL that follows `tag` (it names whichever version was tagged last)."""
        return f"{self.host}/{self.package}/{tag}"

    def as_dict(self) -> dict[str, Any]:
        """Return the upload as plain JSON values."""
        return {
            "host": self.host,
            "package": self.package,
            "version": self.version,
            "tags": list(self.tags),
            "template_url": self.template_url,
            "tag_urls": {tag: self.tag_url(tag) for tag in self.tags},
        }


def upload_template(
    template_path: str | Path,
    *,
    host: str,
    tags: Sequence[str] = (),
    api_endpoint: str | None = None,
    auth: Any = None,
) -> UploadedTemplate:
    """Upload a compiled pipeline to an Artifact Registry KFP repository as a new template version.

    Args:
        template_path: The compiled pipeline YAML.
        host: The repository, ``https://{location}-kfp.pkg.dev/{project}/{repository}``.
        tags: Tags for the version (e.g. "latest", "v3"); a tag moves to the version uploaded last.
        api_endpoint: Another address for the template host (``http://127.0.0.1:PORT`` of a local stand-in, which
            serves the repository at ``/{location}-kfp.pkg.dev/{project}/{repository}`` and takes no credentials).
        auth: ``google.auth`` credentials or a ``requests`` auth; None: Application Default Credentials.

    Returns:
        The package, version and tags, with the URLs to run it from.

    Raises:
        InvalidInputError: the host, a tag or the template is malformed or missing.
        TemplateUploadError: Artifact Registry refused or failed (e.g. no such repository, no permission).
        DependencyMissingError: kfp is not installed.
    """
    match = _AR_HOST.match(host.strip())
    if match is None:
        msg = one_line(f"the template host must be https://LOCATION-kfp.pkg.dev/PROJECT/REPOSITORY, got {host!r}")
        raise InvalidInputError(msg)
    repository = host.strip().rstrip("/")
    for tag in tags:
        if not _TAG.match(tag) or tag.startswith("sha256:"):
            msg = one_line(f"a tag is letters, digits, '-', '_' and '.' (and not a sha256: version), got {tag!r}")
            raise InvalidInputError(msg)
    path = Path(template_path)
    if not path.is_file():
        msg = f"the pipeline template {path} does not exist (compile the pipeline first)"
        raise InvalidInputError(msg)
    try:
        import requests
        from google.auth import exceptions as auth_exceptions
        from kfp.registry import RegistryClient
    except ImportError as exc:
        raise DependencyMissingError(_INSTALL_HINT) from exc

    url = repository
    if api_endpoint:
        url = f"{api_endpoint.rstrip('/')}/{match['location']}-kfp.pkg.dev/{match['project']}/{match['repository']}"
        if auth is None and is_local_endpoint(api_endpoint):
            auth = _NoAuth()  # a local stand-in takes no Google credentials
    try:
        client = RegistryClient(host=url, auth=auth)
        package, version = client.upload_pipeline(file_name=str(path), tags=list(tags) or None)
    except requests.HTTPError as exc:
        msg = one_line(f"Artifact Registry refused the upload to {repository}: {_http_message(exc.response)}")
        raise TemplateUploadError(msg) from exc
    except (requests.RequestException, auth_exceptions.GoogleAuthError) as exc:
        msg = one_line(f"cannot upload the pipeline template to {repository}: {exc}")
        raise TemplateUploadError(msg) from exc
    except ValueError as exc:  # an answer that is not "package/version"
        msg = one_line(f"unexpected answer from {repository} to the upload: {exc}")
        raise TemplateUploadError(msg) from exc
    return UploadedTemplate(host=repository, package=package, version=version, tags=tuple(tags))


def schedule_pipeline(
    template_path: str | Path,
    *,
    project: str,
    region: str,
    pipeline_root: str,
    cron: str,
    display_name: str | None = None,
    parameter_values: dict[str, Any] | None = None,
    service_account: str | None = None,
    max_concurrent_runs: int = 1,
    max_runs: int | None = None,
    api_endpoint: str | None = None,
    credentials: Any = None,
) -> str:
    """Create a Vertex AI schedule that runs a compiled pipeline on a cron, and return its resource name.

    Checks first that `pipeline_root` is a ``gs://`` URI whose bucket exists (as `submit_pipeline` does).

    Args:
        template_path: The compiled pipeline: a local YAML file, a ``gs://`` URI or an Artifact Registry URL.
        project: The Google Cloud project.
        region: The Vertex AI region, e.g. ``us-central1``.
        pipeline_root: ``gs://bucket[/prefix]`` where the runs write their artifacts.
        cron: When to run: five cron fields, optionally after ``TZ=<IANA zone> `` (e.g. ``TZ=Europe/Paris 0 3 * * *``).
        display_name: The schedule's name; by default the pipeline's name.
        parameter_values: Values for the pipeline's input parameters.
        service_account: The service account the runs use.
        max_concurrent_runs: How many runs may go at once.
        max_runs: Stop after this many runs (None: never).
        api_endpoint: Another Vertex AI API endpoint (e.g. ``http://127.0.0.1:PORT`` of a local stand-in, which gets
            anonymous credentials), spoken to over REST; it stays in the SDK's global configuration.
        credentials: ``google.auth`` credentials; None uses Application Default Credentials.

    Returns:
        ``projects/{project}/locations/{region}/schedules/{id}``.

    Raises:
        InvalidPipelineSubmissionError: a malformed argument (cron, pipeline root, template, parameters, counts).
        PipelineSubmissionError: the bucket does not exist, or Vertex AI refused the schedule.
        DependencyMissingError: google-cloud-aiplatform is not installed.
    """
    _check_cron(cron)
    if max_concurrent_runs < 1 or (max_runs is not None and max_runs < 1):
        msg = f"run counts must be at least 1, got max_concurrent_runs={max_concurrent_runs}, max_runs={max_runs}"
        raise InvalidPipelineSubmissionError(msg)
    built = build_pipeline_job(
        template_path, project=project, region=region, pipeline_root=pipeline_root,
        parameter_values=parameter_values, display_name=display_name, api_endpoint=api_endpoint,
        credentials=credentials, fresh_job_id=False,
    )  # fmt: skip
    job, name, sdk_errors = built.job, built.name, built.errors
    try:
        schedule = job.create_schedule(
            cron=cron,
            display_name=name,
            max_concurrent_run_count=max_concurrent_runs,
            max_run_count=max_runs,
            service_account=service_account,
        )
    except ValueError as exc:  # the SDK's checks of the display name
        msg = one_line(f"cannot schedule {name}: {exc}")
        raise InvalidPipelineSubmissionError(msg) from exc
    except sdk_errors as exc:
        msg = one_line(f"Vertex AI refused the schedule {name}: {api_message(exc)}")
        raise PipelineSubmissionError(msg) from exc
    return str(schedule.resource_name)


def _check_cron(cron: str) -> None:
    """Refuse what Vertex AI's scheduler refuses: five fields, optionally after ``TZ=`` or ``CRON_TZ=``."""
    fields = cron.split()
    if fields and _CRON_TIME_ZONE.match(fields[0]):
        fields = fields[1:]
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        msg = one_line(f'a cron schedule is five fields, optionally after TZ=<zone>, e.g. "0 3 * * 1"; got {cron!r}')
        raise InvalidPipelineSubmissionError(msg)


def _http_message(response: Any) -> str:
    """Return "<status> <message>" of an HTTP error answer (a Google error body's message, else its text)."""
    status = getattr(response, "status_code", "")
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError, AttributeError):
        message = getattr(response, "text", "") or getattr(response, "reason", "")
    return f"{status} {message}".strip()


class _NoAuth:
    """A ``requests`` auth that adds nothing: a local stand-in of the template host takes no credentials."""

    def __call__(self, request: Any) -> Any:
        return request
