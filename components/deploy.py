"""Component: deploy a registered version to an endpoint through the registry's deployment layer."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from google_cloud_pipeline_components.types.artifact_types import VertexEndpoint, VertexModel
from kfp import dsl
from kfp.dsl import Input, Model, Output

from components.image import DEFAULT_IMAGE

PROJECT_ID_PLACEHOLDER = "{{$.pipeline_google_cloud_project_id}}"  # google_cloud_pipeline_components._placeholders
LOCATION_PLACEHOLDER = "{{$.pipeline_google_cloud_location}}"


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def deploy_model(
    registry_root: str,
    model: Input[Model],
    endpoint_name: str,
    vertex_model: Output[VertexModel],
    vertex_endpoint: Output[VertexEndpoint],
    target: str = "local",
    traffic_percent: int = 100,
    target_settings: dict = {},  # noqa: B006 - KFP parameters take literal defaults
    actor: str = "",
    project: str = "",
    location: str = "",
) -> str:
    """Deploy the registered version `model` to `endpoint_name` and return the deployed model's id.

    `model` is register_model's `registered_model`. If the version already serves there with this share of the
    traffic, nothing changes (a retried task). On Vertex AI, `project` and `location` default to the pipeline run's
    own (Vertex fills these placeholders in) unless `target_settings` names them; `vertex_model` and
    `vertex_endpoint` then name the uploaded model version and the endpoint, so that Google's first-party
    components can follow this one. On the local target they stay empty. Under kfp's local runner give `project`
    and `location` (or leave them in `target_settings`): it cannot fill in Vertex AI's placeholders.
    """
    from registry_core.tasks import (
        clean_actor,
        deploy_once,
        open_task_registry,
        registered_version,
        runtime_value,
        whole_numbers,
    )

    registry = open_task_registry(registry_root)
    model_name, version = registered_version(registry, model.metadata)
    settings = whole_numbers(target_settings)
    if target == "vertex":
        for key, value in (("project", runtime_value(project)), ("location", runtime_value(location))):
            if value:
                settings.setdefault(key, value)
    deployment, endpoint = deploy_once(
        registry, model_name, version, endpoint_name=endpoint_name, target=target, traffic_percent=traffic_percent,
        actor=clean_actor(actor), reason="deployed by pipeline", settings=settings,
    )  # fmt: skip
    if endpoint.target == "vertex":
        api = f"https://{endpoint.target_settings['location']}-aiplatform.googleapis.com/v1"
        vertex_model.uri = f"{api}/{deployment.target_ref}"
        vertex_model.metadata["resourceName"] = deployment.target_ref
        vertex_endpoint.uri = f"{api}/{endpoint.target_ref}"
        vertex_endpoint.metadata["resourceName"] = endpoint.target_ref
    print(f"deployed {model_name} {version} to {endpoint_name} as {deployment.id}: {endpoint.traffic}")
    return deployment.id


# Vertex AI fills these in with the run's own project and region, as it does for Google's components. They are set
# on the spec rather than in the function's source: kfp's local runner fails on every placeholder it meets in a
# task's command, and the source is part of it.
deploy_model.component_spec.inputs["project"].default = PROJECT_ID_PLACEHOLDER
deploy_model.component_spec.inputs["location"].default = LOCATION_PLACEHOLDER
