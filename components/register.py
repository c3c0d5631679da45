"""Component: register a trained Model artifact as a version (once per artifact), with the run and data as lineage."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.image import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model],
    dataset: Input[Dataset],
    registry_root: str,
    model_name: str,
    registered_model: Output[Model],
    pipeline_run: str = "",
    description: str = "",
    tags: list = [],  # noqa: B006 - KFP parameters take literal defaults
    registered_by: str = "",
    data_profile: Input[Artifact] = None,
    data_validation: Input[Artifact] = None,
    trigger_reason: str = "",
    trigger_report: str = "",
) -> str:
    """Register `model` under `model_name` and return the version's label.

    The trained artifact's URI is the registration's idempotency key: a retry of this task, or a later run whose
    training came from the cache, gets the version already registered for that artifact instead of a new one.
    `registered_model` is the registered version for Vertex ML Metadata: its URI is the registered artifact folder
    and its metadata names the registry, model, version and digest; validate and deploy take it as input.

    A single output parameter rather than a NamedTuple: kfp's local runner cannot resolve NamedTuple fields used in
    conditions or inside condition branches. The config is re-validated because integers in artifact metadata
    come back as floats after a task boundary.

    `data_profile` (validate_data's `profile`) is stored with the version under ``data_profile/``;
    `data_validation` (validate_data's `summary`) puts the validation's status and report into the lineage.
    `trigger_reason` and `trigger_report` say why the version was trained when a monitor started the run: they go
    into the lineage as ``trained_because`` and ``monitoring_report`` (empty ones are left out).
    """
    from eyewear_model import EyewearModelConfig
    from registry_core.integration import register_trained_model
    from registry_core.monitoring.retraining import trigger_lineage
    from registry_core.tasks import (
        clean_actor,
        open_task_registry,
        registered_model_metadata,
        runtime_value,
        whole_numbers,
    )

    registry = open_task_registry(registry_root)
    data_uris = [path.replace(dataset.path, dataset.uri, 1) for path in dataset.metadata["train"]]
    config = EyewearModelConfig.from_dict(whole_numbers(model.metadata.get("config", {})))
    profile = None
    if data_profile is not None:
        from registry_core.monitoring.stored import load_profile

        profile = load_profile(data_profile.path)
    extra = {}
    if data_validation is not None:
        extra = {"data_validation": str(data_validation.metadata.get("status", "")),
                 "data_validation_report": str(data_validation.metadata.get("report", ""))}  # fmt: skip
    extra |= trigger_lineage(trigger_reason, trigger_report)
    metadata = register_trained_model(
        model.path, model_name, metrics=model.metadata.get("metrics"), config=config,
        training_data_uris=data_uris, pipeline_run=runtime_value(pipeline_run) or None, description=description,
        tags=tags, registered_by=clean_actor(registered_by), registry=registry, idempotency_key=model.uri,
        data_profile=profile, lineage_extra=extra,
    )  # fmt: skip
    registered_model.uri = metadata.artifact_uri
    registered_model.metadata.update(registered_model_metadata(registry, metadata))
    print(f"registered {metadata.model_name} {metadata.version} at {metadata.artifact_uri}")
    return metadata.version
