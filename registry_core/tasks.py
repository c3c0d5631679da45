"""Registry operations as pipeline tasks make them: on a registry that outlives the task, safe to retry or re-run.

A pipeline task may run again with the same inputs: a retry after a failure (which may have happened after the
change was written) or a later run whose earlier steps came from the cache. Each operation here leaves the registry
as one run would, so the pipeline can give its state-changing tasks retries. Nothing here imports kfp.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from registry_core.errors import EndpointNotFoundError, InvalidInputError
from registry_core.metadata import ModelMetadata, ModelStage
from registry_core.registry import ModelRegistry

if TYPE_CHECKING:
    from registry_core.deploy import DeployedModel, EndpointRecord

CONTAINER_ENV = "MODEL_REGISTRY_CONTAINER"
"""Set to 1 in the project's image: this process runs in a container that is thrown away after the task."""

_PLACEHOLDER = re.compile(r"^\{\{\$\.[^{}]*\}\}$")
_GCS_FUSE = re.compile(r"^/gcs/(?P<path>[^/].*)$")


def in_container() -> bool:
    """True when this process runs in the project's image (it sets ``MODEL_REGISTRY_CONTAINER=1``)."""
    return os.environ.get(CONTAINER_ENV, "").strip().lower() in {"1", "true", "yes"}


def open_task_registry(registry_root: str) -> ModelRegistry:
    """Open the registry a pipeline task works on, never a default one.

    A task has no registry of its own: outside a container an empty root would be this machine's default folder,
    and in a container a folder that disappears with it (register would write into it and validate, in another
    container, would not find the version). So the root is required, and in a container it must be ``gs://``.

    Args:
        registry_root: The pipeline's ``registry_root`` parameter.

    Raises:
        InvalidInputError: the root is empty, or local while running in a container.
    """
    root = (registry_root or "").strip()
    if not root:
        msg = "registry_root is required: a pipeline task never falls back to a default registry"
        raise InvalidInputError(msg)
    if in_container() and not root.startswith("gs://"):
        fuse = _GCS_FUSE.match(root)
        hint = f" (use gs://{fuse['path']} rather than its /gcs/ mount)" if fuse else ""
        msg = (
            f"registry_root {root!r} is a folder inside this task's container, which is thrown away when the task "
            f"ends: give the pipeline a gs:// registry_root{hint}"
        )
        raise InvalidInputError(msg)
    return ModelRegistry.from_uri(root)


def registered_model_metadata(registry: ModelRegistry, metadata: ModelMetadata) -> dict[str, str]:
    """Return the metadata of the Model artifact a registration task outputs (what `registered_version` reads).

    Vertex ML Metadata shows it with the artifact: which registry, model, version and artifact digest it is.
    """
    return {
        "registry": registry.storage.uri,
        "model_name": metadata.model_name,
        "version": metadata.version,
        "artifact_digest": metadata.artifact_digest,
        "registered_by": metadata.registered_by,
    }


def registered_version(registry: ModelRegistry, artifact_metadata: Mapping[str, Any]) -> tuple[str, str]:
    """Return (model name, version) of a registered Model artifact, checking that it belongs to `registry`.

    Raises:
        InvalidInputError: the artifact is not a registered version, or one of another registry.
    """
    names = [artifact_metadata.get(key) for key in ("registry", "model_name", "version")]
    if not all(isinstance(name, str) and name for name in names):
        msg = "the model artifact is not a registered version (it needs registry, model_name and version metadata)"
        raise InvalidInputError(msg)
    root, model_name, version = names
    if root != registry.storage.uri:
        msg = f"the model artifact is {model_name} {version} of registry {root}, not of {registry.storage.uri}"
        raise InvalidInputError(msg)
    return str(model_name), str(version)


def whole_numbers(value: Any) -> Any:
    """Return `value` with every float that is a whole number made an int, inside dicts and lists too.

    Dict and list parameters of a pipeline travel as protobuf Structs, whose only number is a double:
    ``{"min_replica_count": 2}`` reaches the task as ``{"min_replica_count": 2.0}``, which an integer setting refuses.
    A float setting takes the int just as well.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [whole_numbers(item) for item in value]
    return value


def runtime_value(value: str) -> str:
    """Return `value`, or "" if it is a runtime placeholder (``{{$.…}}``) that the orchestrator left unresolved.

    Vertex AI replaces ``{{$.pipeline_google_cloud_project_id}}`` and the like with the run's own values; other
    orchestrators may pass them through as they are.
    """
    return "" if _PLACEHOLDER.match(value or "") else value


def promote_once(
    registry: ModelRegistry,
    model_name: str,
    version: str,
    stage: str,
    *,
    approved_by: str | None = None,
    reason: str = "",
    actor: str | None = None,
) -> ModelMetadata:
    """Move `version` to `stage`, or leave it if it is there already (a retried task, or a re-run on a cached model).

    Raises:
        The errors of `ModelRegistry.promote_model` (transition table, approvals, four-eyes).
    """
    target = ModelStage.parse(stage)
    current = registry.get_model_metadata(model_name, version)
    if current.stage is target:
        return current
    return registry.promote_model(model_name, version, target, approved_by=approved_by, reason=reason, actor=actor)


def deploy_once(
    registry: ModelRegistry,
    model_name: str,
    version: str,
    *,
    endpoint_name: str,
    target: str = "local",
    traffic_percent: int = 100,
    actor: str | None = None,
    reason: str = "",
    settings: Mapping[str, Any] | None = None,
) -> tuple[DeployedModel, EndpointRecord]:
    """Deploy `version` to `endpoint_name`, unless it already serves there with that share of the traffic.

    Returns:
        The deployment (new or already serving) and the endpoint's record.

    Raises:
        The errors of `ModelRegistry.deploy_model`.
    """
    try:
        endpoint = registry.get_endpoint(endpoint_name)
    except EndpointNotFoundError:
        endpoint = None
    if endpoint is not None and endpoint.target == target:
        for deployment in endpoint.active():
            serving = (deployment.model_name, deployment.version) == (model_name, version)
            if serving and endpoint.traffic.get(deployment.id) == traffic_percent:
                return deployment, endpoint
    deployment, endpoint, _ = registry.deploy_model(
        model_name, version, endpoint_name=endpoint_name, target=target, traffic_percent=traffic_percent,
        actor=actor, reason=reason, **dict(settings or {}),
    )  # fmt: skip
    return deployment, endpoint


def clean_actor(value: str) -> str | None:
    """Return a pipeline's actor parameter, or None for "" (then the registry's default: who runs the task)."""
    return runtime_value(value or "").strip() or None
