"""Deployment: endpoint records, the DeploymentTarget interface and its targets (local, Vertex, SageMaker, KServe)."""

from __future__ import annotations

from typing import Any

from registry_core.deploy.base import DeploymentTarget, DeployResult, Prediction
from registry_core.deploy.records import DeployedModel, EndpointEvent, EndpointList, EndpointRecord
from registry_core.errors import InvalidInputError
from registry_core.storage.base import StorageBackend
from registry_core.text import shown

TARGETS = ("local", "vertex", "sagemaker", "kserve")

__all__ = [
    "TARGETS",
    "DeployResult",
    "DeployedModel",
    "DeploymentTarget",
    "EndpointEvent",
    "EndpointList",
    "EndpointRecord",
    "Prediction",
    "open_target",
]


def open_target(kind: str, settings: dict[str, Any], storage: StorageBackend) -> DeploymentTarget:
    """Return the target `kind` ("local", "vertex", "sagemaker" or "kserve") configured with `settings`.

    Raises:
        InvalidInputError: unknown kind or settings.
    """
    if kind == "local":
        from registry_core.deploy.local import LocalTarget

        if settings:
            msg = f"the local target takes no settings, got {shown(sorted(settings))}"
            raise InvalidInputError(msg)
        return LocalTarget(storage)
    if kind == "vertex":
        from registry_core.deploy.vertex import VertexTarget

        try:
            vertex: DeploymentTarget = VertexTarget(**settings)
        except TypeError as exc:  # an unknown or missing setting
            msg = f"bad Vertex AI target settings {shown(sorted(settings))}: {exc}"
            raise InvalidInputError(msg) from exc
        return vertex
    if kind == "sagemaker":
        from registry_core.deploy.sagemaker import SageMakerTarget

        try:
            sagemaker: DeploymentTarget = SageMakerTarget(**settings)
        except TypeError as exc:  # an unknown or missing setting
            msg = f"bad SageMaker target settings {shown(sorted(settings))}: {exc}"
            raise InvalidInputError(msg) from exc
        return sagemaker
    if kind == "kserve":
        from registry_core.deploy.kserve import KServeTarget

        try:
            kserve: DeploymentTarget = KServeTarget(**settings)
        except TypeError as exc:  # an unknown or missing setting
            msg = f"bad KServe target settings {shown(sorted(settings))}: {exc}"
            raise InvalidInputError(msg) from exc
        return kserve
    msg = f"unknown deployment target {shown(kind)}; expected one of: {', '.join(TARGETS)}"
    raise InvalidInputError(msg)
