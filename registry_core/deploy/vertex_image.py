"""The image Vertex AI serves with by default: the project's serving image where cloudbuild.yaml pushes it, checked.

``cloudbuild.yaml`` pushes the Dockerfile's ``serving`` stage to
``<region>-docker.pkg.dev/<project>/<repository>/model-registry-serving:<tag>``, the tag being the package version
(``_TAG``, 0.1.0), the repository ``ml`` unless told otherwise. A Vertex deploy that names no image serves with that
image of its own project and region, tagged with the installed ``registry_core`` version, so that serving runs the
TensorFlow that trained the model (and that the registry's deploy task, in the same image, installed).

Before a model is uploaded with it, `check_published` asks Artifact Registry for the image's tag
(``GET https://artifactregistry.googleapis.com/v1/projects/P/locations/L/repositories/R/packages/PKG/tags/TAG``):
it needs only ``artifactregistry.tags.get`` (metadata, in ``roles/artifactregistry.reader``) and the read-only
scope, where asking the Docker registry (``<region>-docker.pkg.dev/v2/.../manifests/TAG``) would need
``artifactregistry.repositories.downloadArtifacts``, the right to pull the image itself. A user who never built the
image then gets one line saying what to run, instead of a Vertex deployment that fails 20 minutes later when its
replicas cannot pull it. An image named explicitly is not checked: it may live in any registry.

``google-auth`` is imported inside `check_published` only.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from registry_core.errors import DeploymentError, InvalidInputError, ServingImageMissingError
from registry_core.text import one_line, shown
from registry_core.version import __version__

__all__ = [
    "ARTIFACT_REGISTRY_API",
    "DEFAULT_IMAGE_REPOSITORY",
    "IMAGE_REPOSITORY_VARIABLE",
    "PREBUILT_SERVING_IMAGE",
    "SERVING_PACKAGE",
    "ProjectImage",
    "check_published",
    "installed_tag",
    "resolve_repository",
]

_LOG = logging.getLogger(__name__)

PREBUILT_SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"  # Vertex's, for --prebuilt-image
IMAGE_REPOSITORY_VARIABLE = "REGISTRY_IMAGE_REPOSITORY"  # the Artifact Registry repository of the default image
DEFAULT_IMAGE_REPOSITORY = "ml"  # cloudbuild.yaml's _REPOSITORY
SERVING_PACKAGE = "model-registry-serving"  # cloudbuild.yaml's _SERVING_IMAGE_NAME
ARTIFACT_REGISTRY_API = "https://artifactregistry.googleapis.com"
_READ_ONLY_SCOPE = "https://www.googleapis.com/auth/cloud-platform.read-only"
_REPOSITORY = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # Artifact Registry's repository ids
_TIMEOUT = 30.0  # seconds; one small metadata read


def resolve_repository(value: str | None = None) -> str:
    """Return the repository of the default serving image: `value`, else $REGISTRY_IMAGE_REPOSITORY, else ``ml``.

    Raises:
        InvalidInputError: not an Artifact Registry repository id.
    """
    repository = (value if value is not None else os.environ.get(IMAGE_REPOSITORY_VARIABLE, "")).strip()
    repository = repository or DEFAULT_IMAGE_REPOSITORY
    if not _REPOSITORY.match(repository):
        where = "the image repository" if value is not None else f"${IMAGE_REPOSITORY_VARIABLE}"
        msg = (
            f"{where} must be an Artifact Registry repository id (lower-case letters, digits and '-', "
            f"at most 63), got {shown(repository)}"
        )
        raise InvalidInputError(msg)
    return repository


def installed_tag() -> str:
    """Return the installed registry_core version as a Docker tag (``0.1.0``; no ``+``, which tags do not allow)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", __version__)[:128]


@dataclass(frozen=True)
class ProjectImage:
    """The project's serving image as cloudbuild.yaml pushes it for one project and region.

    Attributes:
        project: Google Cloud project id.
        location: Artifact Registry region (the Vertex AI region, so that replicas pull from their own region).
        repository: Artifact Registry repository.
        tag: Image tag: the registry_core version.
    """

    project: str
    location: str
    repository: str = DEFAULT_IMAGE_REPOSITORY
    tag: str = field(default_factory=installed_tag)

    @property
    def uri(self) -> str:
        """The image reference Vertex AI pulls."""
        # A domain-scoped project ("example.com:p") is "example.com/p" in image paths.
        path = self.project.replace(":", "/")
        return f"{self.location}-docker.pkg.dev/{path}/{self.repository}/{SERVING_PACKAGE}:{self.tag}"

    @property
    def tag_name(self) -> str:
        """The Artifact Registry resource name of the image's tag."""
        return (
            f"projects/{self.project}/locations/{self.location}/repositories/{self.repository}"
            f"/packages/{SERVING_PACKAGE}/tags/{self.tag}"
        )

    @property
    def build_command(self) -> str:
        """The command that builds and pushes this image (and the pipeline image beside it)."""
        return (
            f"gcloud builds submit --project {self.project} --config cloudbuild.yaml --substitutions "
            f"_REGION={self.location},_REPOSITORY={self.repository},_TAG={self.tag}"
        )


def check_published(image: ProjectImage, api_root: str = ARTIFACT_REGISTRY_API, credentials: Any = None) -> str:
    """Return the version (``sha256:...``) that `image`'s tag names in Artifact Registry; refuse a missing image.

    Args:
        image: The default serving image.
        api_root: Artifact Registry's API root (a local stand-in's URL in tests).
        credentials: google-auth credentials; None: Application Default Credentials, read-only scope.

    Raises:
        ServingImageMissingError: Artifact Registry has no such tag, or does not let the caller see it.
        DeploymentError: Artifact Registry could not be asked (no credentials, unreachable, another error).
    """
    import google.auth
    import requests
    from google.auth import exceptions as auth_exceptions
    from google.auth.transport.requests import AuthorizedSession

    url = f"{api_root.rstrip('/')}/v1/{quote(image.tag_name, safe='/:')}"
    remedy = (
        f"build and push it with `{image.build_command}`, or deploy with --serving-image IMAGE (not checked) or "
        "--prebuilt-image URI"
    )
    try:
        if credentials is None:
            credentials, _ = google.auth.default(scopes=[_READ_ONLY_SCOPE])
        with AuthorizedSession(credentials) as session:  # type: ignore[no-untyped-call]
            answer = session.get(url, timeout=_TIMEOUT)
    except (auth_exceptions.GoogleAuthError, requests.exceptions.RequestException) as exc:
        msg = one_line(f"cannot check that the serving image {image.uri} exists in Artifact Registry: {exc}")
        raise DeploymentError(msg) from exc
    if answer.status_code == 200:
        version = str(_json(answer).get("version", "")).rpartition("/")[2]
        _LOG.info("serving with %s (%s)", image.uri, version or "version unknown")
        return version
    said = _error_message(answer)
    if answer.status_code == 404:
        msg = f"the serving image {image.uri} does not exist (Artifact Registry: {said}); {remedy}"
        raise ServingImageMissingError(one_line(msg))
    if answer.status_code == 403:
        # Artifact Registry answers 403 also for a repository that does not exist ("or it may not exist").
        msg = (
            f"cannot check that the serving image {image.uri} exists (Artifact Registry: {said}); if it does, grant "
            f"roles/artifactregistry.reader on repository {image.repository} or name it with --serving-image; "
            f"else {remedy}"
        )
        raise ServingImageMissingError(one_line(msg))
    msg = f"cannot check that the serving image {image.uri} exists in Artifact Registry: {said}"
    raise DeploymentError(one_line(msg))


def _json(answer: Any) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_message(answer: Any) -> str:
    """Return "<code> <message>" of a Google error answer (or its status line)."""
    error = _json(answer).get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return f"{answer.status_code} {message or answer.reason or 'error'}"
