"""registry_core.integration: train, register and validate the eyewear model in one call, on a real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from eyewear_model import DatasetPaths, EyewearModelConfig, export_saved_model
from registry_core import InvalidInputError, ModelRegistry, ModelStage
from registry_core.integration import register_trained_model, resolve_splits, train_and_register_model
from registry_core.quality import ValidationPolicy

FAST = EyewearModelConfig(epochs=1)


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry.from_uri(str(tmp_path / "registry"))


def test_train_and_register_records_metrics_params_and_lineage(registry: ModelRegistry, dataset: DatasetPaths) -> None:
    model, metadata = train_and_register_model(
        dataset, "eyewear", config=FAST, description="nightly", tags=["ci"], registry=registry, registered_by="alice"
    )

    assert model is not None
    assert metadata.version == "v1"
    assert metadata.stage is ModelStage.DEVELOPMENT
    assert metadata.framework == "tensorflow"
    assert 0.0 < metadata.metrics.accuracy <= 1.0  # type: ignore[operator]
    assert metadata.params["epochs"] == 1
    assert metadata.lineage.training_data_uris == tuple(dataset.train)
    assert metadata.tags == ("ci",)
    loaded, _ = registry.load_model("eyewear", "v1")
    assert "serving_default" in loaded.signatures


def test_promote_to_staging_validates_on_holdout_and_stages_a_passing_version(
    registry: ModelRegistry, dataset: DatasetPaths
) -> None:
    _, metadata = train_and_register_model(
        dataset, "eyewear", config=FAST, promote_to_staging=True, registry=registry,
        policy=ValidationPolicy(thresholds={"accuracy": 0.05}),
    )  # fmt: skip

    assert metadata.stage is ModelStage.STAGING
    assert metadata.annotations["validation"] == "passed"
    assert "holdout_accuracy" in metadata.metrics.extra


def test_a_version_failing_validation_stays_in_validation_marked_failed(
    registry: ModelRegistry, dataset: DatasetPaths
) -> None:
    _, metadata = train_and_register_model(
        dataset, "eyewear", config=FAST, promote_to_staging=True, registry=registry,
        policy=ValidationPolicy(thresholds={"accuracy": 0.999}),
    )  # fmt: skip

    assert metadata.stage is ModelStage.VALIDATION
    assert metadata.annotations["validation"] == "failed"
    assert "accuracy" in metadata.annotations["validation_reason"]


def test_register_trained_model_takes_an_exported_folder(
    registry: ModelRegistry, trained: object, tmp_path: Path
) -> None:
    folder = export_saved_model(trained.model, tmp_path / "export")  # type: ignore[attr-defined]

    metadata = register_trained_model(folder, "eyewear", metrics={"accuracy": 0.5}, registry=registry)

    assert metadata.metrics.accuracy == 0.5
    assert metadata.lineage.code_version


def test_split_resolution_accepts_lists_mappings_and_dataset_paths(dataset: DatasetPaths) -> None:
    assert resolve_splits(dataset)["test"] == dataset.test
    assert resolve_splits({"train": ["a"], "test": ["b"]}) == {"train": ["a"], "test": ["b"]}
    assert resolve_splits(["a", "b"]) == {"train": ["a", "b"]}
    with pytest.raises(InvalidInputError):
        resolve_splits([])
