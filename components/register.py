"""Component: register a trained Model artifact as a new version, with the run and data as lineage."""

# no `from __future__ import annotations`: KFP reads the real annotation objects
from kfp import dsl
from kfp.dsl import Dataset, Input, Model

from components.image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model],
    dataset: Input[Dataset],
    registry_root: str,
    model_name: str,
    pipeline_run: str,
    description: str = "",
    tags: list = [],  # noqa: B006 - KFP parameters take literal defaults
    registered_by: str = "",
) -> str:
    """Register `model` under `model_name` and return the new version's label.

    A single output rather than a NamedTuple: kfp's local runner cannot resolve NamedTuple fields used in
    conditions or inside condition branches. The config is re-validated because integers in artifact metadata
    come back as floats after a task boundary.
    """
    from eyewear_model import EyewearModelConfig
    from registry_core import ModelRegistry
    from registry_core.integration import register_trained_model

    data_uris = [path.replace(dataset.path, dataset.uri, 1) for path in dataset.metadata["train"]]
    config = EyewearModelConfig.from_dict(model.metadata.get("config", {}))
    metadata = register_trained_model(
        model.path, model_name, metrics=model.metadata.get("metrics"), config=config,
        training_data_uris=data_uris, pipeline_run=pipeline_run, description=description, tags=tags,
        registered_by=registered_by or None, registry=ModelRegistry.from_uri(registry_root or None),
    )  # fmt: skip
    print(f"registered {metadata.model_name} {metadata.version} at {metadata.artifact_uri}")
    return metadata.version
