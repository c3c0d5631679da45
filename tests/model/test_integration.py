"""registry_core.integration: train, register and validate the eyewear model in one call, on a real registry.

The core finds the eyewear trainer by the type of `EyewearModelConfig`, through the `registry_core.trainers` entry
point that pyproject.toml declares (active once the package is installed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eyewear_model import TRAINER, DatasetPaths, EyewearModelConfig, TrainResult, export_saved_model
from registry_core import InvalidInputError, ModelRegistry, ModelStage
from registry_core.integration import register_trained_model, resolve_splits, train_and_register_model
from registry_core.quality import ValidationPolicy
from registry_core.trainers import find_trainer

FAST = EyewearModelConfig(epochs=1)


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry.from_uri(str(tmp_path / "registry"))


def test_the_eyewear_trainer_is_found_by_the_type_of_its_config() -> None:
    assert find_trainer(EyewearModelConfig()) is TRAINER


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


def test_register_trained_model_exports_a_keras_model_with_the_trainer_of_its_config(
    registry: ModelRegistry, trained: TrainResult
) -> None:
    metadata = register_trained_model(trained.model, "eyewear", config=trained.config, registry=registry)

    assert metadata.params["epochs"] == trained.config.epochs
    loaded, _ = registry.load_model("eyewear", metadata.version)
    assert "serving_default" in loaded.signatures


# The brief's example, as written but for the local training file in place of gs://bucket/data/training.tfrecord.
BRIEF_EXAMPLE = """
from registry_core.integration import train_and_register_model
from eyewear_model import EyewearModelConfig

# Train and register a model in one step
model, metadata = train_and_register_model(
    tfrecord_paths=["gs://bucket/data/training.tfrecord"],
    model_name="eyewear_recommender",
    config=EyewearModelConfig(),
    description="Eyewear recommendation model",
    tags=["recommendation", "eyewear"],
    promote_to_staging=True  # Automatically promote to staging
)

print(f"Model registered with ID: {metadata.model_id}")
print(f"Model version: {metadata.version}")
"""


def test_the_briefs_example_trains_registers_and_stages_on_the_default_registry(
    dataset: DatasetPaths, tmp_path: Path
) -> None:
    training_file = dataset.train[0]
    script = BRIEF_EXAMPLE.replace("gs://bucket/data/training.tfrecord", training_file)
    env = {k: v for k, v in os.environ.items() if k != "MODEL_REGISTRY_ROOT"} | {"XDG_DATA_HOME": str(tmp_path)}

    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)

    assert result.returncode == 0, result.stderr
    registry = ModelRegistry.from_uri(str(tmp_path / "model-registry"))  # the local default under XDG_DATA_HOME
    metadata = registry.get_model_metadata("eyewear_recommender", stage=ModelStage.STAGING)
    assert result.stdout.splitlines() == [
        f"Model registered with ID: {metadata.model_id}",
        f"Model version: {metadata.version}",
    ]
    assert metadata.version == "v1"
    assert metadata.description == "Eyewear recommendation model"
    assert set(metadata.tags) == {"recommendation", "eyewear"}
    assert metadata.params["epochs"] == EyewearModelConfig().epochs
    assert metadata.lineage.training_data_uris == (training_file,)
    assert metadata.annotations["validation"] == "passed"


def test_split_resolution_accepts_lists_mappings_and_dataset_paths(dataset: DatasetPaths) -> None:
    assert resolve_splits(dataset)["test"] == dataset.test
    assert resolve_splits({"train": ["a"], "test": ["b"]}) == {"train": ["a"], "test": ["b"]}
    assert resolve_splits(["a", "b"]) == {"train": ["a", "b"]}
    with pytest.raises(InvalidInputError):
        resolve_splits([])
