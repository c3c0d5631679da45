"""Fixtures of the eyewear model tests: one small dataset, one trained model and one export per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.examples import EYEWEAR_INSTANCE

# quiet TensorFlow's C++ logging; set here, before any test module imports TensorFlow, and never in the library
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from eyewear_model import (  # noqa: E402
    DatasetPaths,
    EvaluationResult,
    EyewearModelConfig,
    TrainResult,
    evaluate,
    export_saved_model,
    generate_dataset,
    train,
)

NUM_TRAIN = 2000
NUM_VALIDATION = 300
NUM_TEST = 500


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetPaths:
    """The default-sized synthetic dataset, two shards per split."""
    return generate_dataset(
        str(tmp_path_factory.mktemp("eyewear-data")),
        num_train=NUM_TRAIN,
        num_validation=NUM_VALIDATION,
        num_test=NUM_TEST,
        shards=2,
        seed=0,
    )


@pytest.fixture(scope="session")
def trained(dataset: DatasetPaths) -> TrainResult:
    """A model trained with the default config (3 epochs)."""
    return train(dataset.train, dataset.validation, EyewearModelConfig())


@pytest.fixture(scope="session")
def evaluation(trained: TrainResult, dataset: DatasetPaths) -> EvaluationResult:
    """The trained model's metrics on the test split."""
    return evaluate(trained.model, dataset.test)


@pytest.fixture(scope="session")
def export_dir(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model exported as a SavedModel."""
    return export_saved_model(trained.model, tmp_path_factory.mktemp("eyewear-export") / "saved_model")


@pytest.fixture
def instance() -> dict[str, object]:
    """One valid raw example without its label, as a JSON client would send it."""
    return dict(EYEWEAR_INSTANCE)
