"""The eyewear recommender as a registry trainer: train, export and evaluate, with paths in and dicts out.

`TRAINER` has the shape of `registry_core.trainers.Trainer` without importing it (the model knows nothing of the
registry); the package declares it in the ``registry_core.trainers`` entry point group, so that
`train_and_register_model(..., config=EyewearModelConfig())` finds it. TensorFlow loads on the first call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eyewear_model.config import EyewearModelConfig

if TYPE_CHECKING:
    import keras


class EyewearTrainer:
    """Trains the eyewear recommender on TFRecords, exports it as a SavedModel and evaluates SavedModels."""

    config_type = EyewearModelConfig

    def train(
        self, train_paths: Sequence[str], validation_paths: Sequence[str], config: EyewearModelConfig
    ) -> tuple[keras.Model, dict[str, float]]:
        """Train a new model; its metrics are measured on `validation_paths` (on `train_paths` when empty)."""
        from eyewear_model.training import evaluate, train

        result = train(list(train_paths), list(validation_paths) or None, config)
        metrics = evaluate(result.model, list(validation_paths) or list(train_paths)).summary()
        return result.model, metrics

    def export(self, model: keras.Model, folder: str | os.PathLike[str]) -> Path:
        """Export `model` as a SavedModel with the serving signatures into `folder`; return the folder."""
        from eyewear_model.serving import export_saved_model

        return export_saved_model(model, folder)

    def evaluate(self, folder: str | os.PathLike[str], paths: Sequence[str]) -> dict[str, float]:
        """Return the metrics of the SavedModel in `folder` on the labelled TFRecords `paths`.

        Raises:
            ValueError: `folder` is not an eyewear SavedModel.
        """
        from eyewear_model.serving import load_serving_model
        from eyewear_model.training import evaluate

        return evaluate(load_serving_model(folder), list(paths)).summary()


TRAINER = EyewearTrainer()
