"""Train the recommender on TFRecord shards and evaluate it on held-out ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from eyewear_model.config import EyewearModelConfig
from eyewear_model.data import count_examples, read_dataset
from eyewear_model.metrics import EvaluationResult, classification_metrics
from eyewear_model.model import NormalizationStats, build_model, compute_normalization_stats
from eyewear_model.schema import FRAME_STYLES
from eyewear_model.serving import ServingModel


@dataclass(frozen=True)
class TrainResult:
    """What `train` produced.

    Attributes:
        model: The trained Keras model (input: dict of raw features, output: class probabilities).
        history: Metric name (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``) to its value per epoch.
        normalization: The statistics of the numeric features the model normalizes with.
        config: The configuration it was trained with.
    """

    model: keras.Model
    history: dict[str, list[float]]
    normalization: NormalizationStats
    config: EyewearModelConfig


def train(
    train_paths: Sequence[str],
    validation_paths: Sequence[str] | None = None,
    config: EyewearModelConfig | None = None,
) -> TrainResult:
    """Fit a new model on TFRecord shards.

    Seeds Keras (Python, NumPy and TensorFlow generators) from `config.seed`, so a rerun on the same data
    starts from the same weights and sees the same shuffles.

    Args:
        train_paths: Training TFRecord files, local or ``gs://``.
        validation_paths: Validation files, evaluated after every epoch; None or empty to skip.
        config: Hyperparameters; the defaults when None.

    Returns:
        The model, its per-epoch history and its normalization statistics.
    """
    config = config or EyewearModelConfig()
    keras.utils.set_random_seed(config.seed)
    # a separate unshuffled pass: the statistics must not depend on the shuffle or on batch boundaries
    stats = compute_normalization_stats(read_dataset(train_paths, batch_size=1024, with_labels=False))
    model = build_model(config, stats)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        # StringLookup cannot be XLA-compiled; saying so up front skips Keras's failed attempt at "auto"
        jit_compile=False,
    )
    # declared lengths: with unknown ones Keras 3 warns "Your input ran out of data" after the first epoch
    train_data = read_dataset(train_paths, config.batch_size, shuffle=True, seed=config.seed, num_examples=stats.count)
    validation_data = (
        read_dataset(validation_paths, config.batch_size, num_examples=count_examples(validation_paths))
        if validation_paths
        else None
    )
    fitted = model.fit(train_data, validation_data=validation_data, epochs=config.epochs, shuffle=False, verbose=0)
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    return TrainResult(model=model, history=history, normalization=stats, config=config)


def evaluate(model: keras.Model | ServingModel, test_paths: Sequence[str], batch_size: int = 256) -> EvaluationResult:
    """Evaluate a model on labelled TFRecord shards.

    Args:
        model: A model from `train` (or any model mapping the raw features to `FRAME_STYLES` probabilities),
            or an exported one loaded with `load_serving_model`.
        test_paths: Labelled TFRecord files, local or ``gs://``.
        batch_size: Examples per prediction batch (does not change the metrics).

    Returns:
        Accuracy, macro one-vs-rest AUC, loss, macro precision/recall/F1, per-class metrics and the confusion
        matrix.
    """
    labels: list[np.ndarray] = []
    probabilities: list[np.ndarray] = []
    for features, batch_labels in read_dataset(test_paths, batch_size):
        if isinstance(model, ServingModel):
            probabilities.append(model.probabilities(features))
        else:
            # calling the model directly avoids predict()'s per-call graph setup and keeps labels aligned
            probabilities.append(np.asarray(model(features, training=False)))
        labels.append(batch_labels.numpy())
    if not labels:
        msg = "the test files hold no examples"
        raise ValueError(msg)
    return classification_metrics(np.concatenate(labels), np.concatenate(probabilities), FRAME_STYLES)
