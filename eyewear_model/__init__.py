"""eyewear_model: an example TensorFlow recommender of eyewear frame styles from face measurements and preferences.

Quick start::

    from eyewear_model import EyewearModelConfig, evaluate, export_saved_model, generate_dataset, train
    paths = generate_dataset("data/eyewear", num_train=2000, num_validation=500, num_test=500)
    result = train(paths.train, paths.validation, EyewearModelConfig(epochs=3))
    print(evaluate(result.model, paths.test).summary())
    export_saved_model(result.model, "export/saved_model")

The schema and config import without TensorFlow; the names that need it load their module (and TensorFlow)
on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eyewear_model.config import EyewearModelConfig
from eyewear_model.metrics import ClassMetrics, EvaluationResult
from eyewear_model.schema import (
    CATEGORICAL_FEATURES,
    FACE_SHAPES,
    FEATURE_NAMES,
    FEATURES,
    FRAME_STYLES,
    LABEL_KEY,
    NUMERIC_FEATURES,
    PREFERRED_STYLES,
    FeatureDef,
    decode_example,
    encode_example,
    feature_spec,
    validate_record,
)
from eyewear_model.trainer import TRAINER, EyewearTrainer

if TYPE_CHECKING:
    from eyewear_model.data import DatasetPaths, count_examples, find_dataset, generate_dataset, read_dataset
    from eyewear_model.model import NormalizationStats, build_model, compute_normalization_stats
    from eyewear_model.serving import ServingModel, export_saved_model, load_serving_model
    from eyewear_model.training import TrainResult, evaluate, train

# name -> module that defines it; these modules import TensorFlow, which takes seconds
_LAZY = {
    "DatasetPaths": "eyewear_model.data",
    "count_examples": "eyewear_model.data",
    "find_dataset": "eyewear_model.data",
    "generate_dataset": "eyewear_model.data",
    "read_dataset": "eyewear_model.data",
    "NormalizationStats": "eyewear_model.model",
    "build_model": "eyewear_model.model",
    "compute_normalization_stats": "eyewear_model.model",
    "ServingModel": "eyewear_model.serving",
    "export_saved_model": "eyewear_model.serving",
    "load_serving_model": "eyewear_model.serving",
    "TrainResult": "eyewear_model.training",
    "evaluate": "eyewear_model.training",
    "train": "eyewear_model.training",
}


def __getattr__(name: str) -> Any:
    """Import the TensorFlow-backed public names on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'eyewear_model' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    """List the public names, the lazy ones included."""
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "CATEGORICAL_FEATURES",
    "ClassMetrics",
    "DatasetPaths",
    "EvaluationResult",
    "EyewearModelConfig",
    "EyewearTrainer",
    "FACE_SHAPES",
    "FEATURES",
    "FEATURE_NAMES",
    "FRAME_STYLES",
    "FeatureDef",
    "LABEL_KEY",
    "NUMERIC_FEATURES",
    "NormalizationStats",
    "PREFERRED_STYLES",
    "ServingModel",
    "TRAINER",
    "TrainResult",
    "build_model",
    "compute_normalization_stats",
    "count_examples",
    "decode_example",
    "encode_example",
    "evaluate",
    "export_saved_model",
    "feature_spec",
    "find_dataset",
    "generate_dataset",
    "load_serving_model",
    "read_dataset",
    "train",
    "validate_record",
]
