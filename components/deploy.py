"""Component: deploy a registered version to an endpoint through the registry's deployment layer."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl

from components.image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def deploy_model(registry_root: str, model_name: str, version: str, endpoint_name: str) -> str:
    """Deploy `version` to `endpoint_name`; return the endpoint's name."""
    from registry_core import ModelRegistry

    registry = ModelRegistry.from_uri(registry_root or None)
    registry.deploy_model(model_name, version=version, endpoint_name=endpoint_name)
    return endpoint_name
