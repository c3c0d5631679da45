"""Component: put PRODUCTION back on the previous (or a given) version."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def rollback_model(
    registry_root: str,
    model_name: str,
    to_version: str = "",
    reason: str = "",
    endpoint_name: str = "",
    actor: str = "",
) -> str:
    """Roll PRODUCTION back and return the version now serving as PRODUCTION.

    Unlike the other registry tasks it is not safe to retry (each attempt steps back once more): give it none.
    """
    from registry_core.tasks import clean_actor, open_task_registry

    registry = open_task_registry(registry_root)
    metadata = registry.rollback(
        model_name, to_version or None, reason=reason or "rollback from pipeline",
        endpoint_name=endpoint_name or None, actor=clean_actor(actor),
    )  # fmt: skip
    return metadata.version
