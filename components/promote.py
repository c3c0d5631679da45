"""Component: move a version to another stage (the transition table and approval rules apply)."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl

from components.image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def promote_model(
    registry_root: str, model_name: str, version: str, stage: str, approved_by: str = "", reason: str = ""
) -> str:
    """Move `version` to `stage` and return the stage it is in afterwards."""
    from registry_core import ModelRegistry

    registry = ModelRegistry.from_uri(registry_root or None)
    metadata = registry.promote_model(model_name, version, stage, approved_by=approved_by or None, reason=reason)
    return metadata.stage.value
