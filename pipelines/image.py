"""The image a compiled pipeline runs in: chosen when a command runs (``--image``, $REGISTRY_IMAGE), pinned as given."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from components.image import DEFAULT_IMAGE, IMAGE_ENV
from registry_core.errors import InvalidInputError
from registry_core.text import one_line

__all__ = [
    "BUILD_HINT",
    "DEFAULT_IMAGE",
    "InvalidImageError",
    "UnpublishedImageError",
    "check_published",
    "executor_images",
    "pin_image",
    "resolve_image",
]

# [host[:port]/]path[:tag][@sha256:digest], as Docker and Artifact Registry spell references.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
BUILD_HINT = (
    "build and push the image first (`make image IMAGE=REGION-docker.pkg.dev/PROJECT/REPOSITORY/"
    "model-registry-python:TAG PUSH=1`, or `gcloud builds submit --config cloudbuild.yaml`), then pass it with "
    "--image or REGISTRY_IMAGE"
)


class InvalidImageError(InvalidInputError):
    """An image reference that is not ``[host/]path[:tag][@sha256:digest]``."""


class UnpublishedImageError(InvalidInputError):
    """A pipeline for Vertex AI would run in the project's default image, which nobody publishes."""


def resolve_image(option: str | None = None) -> str:
    """Return the image to pin: `option`, else $REGISTRY_IMAGE (read now), else the default (unpublished) one.

    Raises:
        InvalidImageError: the reference is malformed.
    """
    image = (option if option is not None else os.environ.get(IMAGE_ENV, "")).strip() or DEFAULT_IMAGE
    if not _REFERENCE.match(image):
        msg = one_line(f"invalid image reference {image!r}: expected [HOST/]PATH[:TAG][@sha256:DIGEST]")
        raise InvalidImageError(msg)
    return image


def pin_image(text: str, image: str) -> str:
    """Return compiled pipeline YAML `text` with every executor running `image` instead of the default image.

    The components are defined on `DEFAULT_IMAGE`; the reference is put in as given (tag or digest), so what runs is
    exactly what was named. The text is edited rather than re-dumped, which keeps kfp's layout and header comment.
    """
    return text.replace(f"image: {DEFAULT_IMAGE}\n", f"image: {image}\n")


def executor_images(spec: Mapping[str, Any]) -> set[str]:
    """Return the images of a compiled pipeline's executors (a PipelineSpec or PipelineJob mapping)."""
    spec = spec.get("pipelineSpec", spec)
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    return {e["container"]["image"] for e in executors.values() if isinstance(e, dict) and "container" in e}


def check_published(images: Iterable[str]) -> None:
    """Refuse to send a pipeline whose tasks would run in the default image (nobody can pull it).

    Raises:
        UnpublishedImageError: one of `images` is the default image.
    """
    if DEFAULT_IMAGE in set(images):
        msg = f"the pipeline would run in the unpublished default image {DEFAULT_IMAGE}; {BUILD_HINT}"
        raise UnpublishedImageError(msg)
