"""Component: put PRODUCTION back on the previous (or a given) version."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl

from components.image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def rollback_model(
    registry_root: str, model_name: str, to_version: str = "", reason: str = "", endpoint_name: str = ""
) -> str:
    """Roll PRODUCTION back and return the version now serving as PRODUCTION."""
    from registry_core import ModelRegistry

    registry = ModelRegistry.from_uri(registry_root or None)
    metadata = registry.rollback(
        model_name, to_version or None, reason=reason or "rollback from pipeline", endpoint_name=endpoint_name or None
    )
    return metadata.version
