"""Component: deploy a registered version to an endpoint through the registry's deployment layer."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from google_cloud_pipeline_components.types.artifact_types import VertexEndpoint, VertexModel
from kfp import dsl
from kfp.dsl import Output

from components.image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def deploy_model(
    registry_root: str,
    model_name: str,
    version: str,
    endpoint_name: str,
    vertex_model: Output[VertexModel],
    vertex_endpoint: Output[VertexEndpoint],
    target: str = "local",
    traffic_percent: int = 100,
    target_settings: dict = {},  # noqa: B006 - KFP parameters take literal defaults
) -> str:
    """Deploy `version` to `endpoint_name` and return the deployed model's id.

    On Vertex AI, `vertex_model` and `vertex_endpoint` name the uploaded model version and the endpoint, so that
    Google's first-party components can follow this one; on the local target they stay empty.
    """
    from registry_core import ModelRegistry

    registry = ModelRegistry.from_uri(registry_root or None)
    deployment, endpoint, _ = registry.deploy_model(
        model_name, version, endpoint_name=endpoint_name, target=target, traffic_percent=traffic_percent,
        reason="deployed by pipeline", **target_settings,
    )  # fmt: skip
    if endpoint.target == "vertex":
        location = endpoint.target_settings.get("location", "us-central1")
        api = f"https://{location}-aiplatform.googleapis.com/v1"
        vertex_model.uri = f"{api}/{deployment.target_ref}"
        vertex_model.metadata["resourceName"] = deployment.target_ref
        vertex_endpoint.uri = f"{api}/{endpoint.target_ref}"
        vertex_endpoint.metadata["resourceName"] = endpoint.target_ref
    print(f"deployed {model_name} {version} to {endpoint_name} as {deployment.id}: {endpoint.traffic}")
    return deployment.id
