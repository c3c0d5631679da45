"""The Keras model: raw named features in, a softmax over frame styles out."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from pydantic import BaseModel, ConfigDict, model_validator

from eyewear_model.config import EyewearModelConfig
from eyewear_model.schema import FEATURES, FRAME_STYLES, NUMERIC_FEATURES

MODEL_NAME = "eyewear_recommender"
OUTPUT_NAME = "probabilities"

_INPUT_DTYPES = {"float": "float32", "int": "int64", "string": "string"}


class NormalizationStats(BaseModel):
    """Mean and variance of each numeric feature over the training data, as baked into the model.

    Attributes:
        mean: Feature name to mean, for every name in `NUMERIC_FEATURES`.
        variance: Feature name to (population) variance, same keys.
        count: Examples the statistics were computed from.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: dict[str, float]
    variance: dict[str, float]
    count: int

    @model_validator(mode="after")
    def _covers_numeric_features(self) -> NormalizationStats:
        for field in (self.mean, self.variance):
            if set(field) != set(NUMERIC_FEATURES):
                msg = f"statistics must cover exactly {', '.join(NUMERIC_FEATURES)}"
                raise ValueError(msg)
        return self


def compute_normalization_stats(dataset: tf.data.Dataset) -> NormalizationStats:
    """Compute `NormalizationStats` in one pass over a dataset from `read_dataset`.

    Args:
        dataset: Batches of ``(features, labels)`` or of features alone.

    Returns:
        The statistics of every numeric feature.

    Raises:
        ValueError: the dataset is empty.
    """
    # float64 sums: float32 would lose precision on large datasets of values around 150
    total = np.zeros(len(NUMERIC_FEATURES))
    total_sq = np.zeros(len(NUMERIC_FEATURES))
    count = 0
    for batch in dataset:
        features = batch[0] if isinstance(batch, tuple) else batch
        columns = np.stack([features[name].numpy().astype(np.float64) for name in NUMERIC_FEATURES], axis=1)
        total += columns.sum(axis=0)
        total_sq += (columns**2).sum(axis=0)
        count += columns.shape[0]
    if count == 0:
        msg = "cannot compute normalization statistics of an empty dataset"
        raise ValueError(msg)
    mean = total / count
    variance = np.maximum(total_sq / count - mean**2, 0.0)  # rounding can push a constant column below zero
    return NormalizationStats(
        mean={name: float(m) for name, m in zip(NUMERIC_FEATURES, mean, strict=True)},
        variance={name: float(v) for name, v in zip(NUMERIC_FEATURES, variance, strict=True)},
        count=count,
    )


def build_model(config: EyewearModelConfig, stats: NormalizationStats) -> keras.Model:
    """Build the (uncompiled) recommender.

    Inputs are one rank-1 tensor per feature, named as in the schema: numeric features are stacked and
    normalized with `stats`; each categorical feature goes through a StringLookup (unknown values share one
    out-of-vocabulary index) and an Embedding. Hidden ReLU layers with dropout lead to a softmax over
    `FRAME_STYLES`.

    Args:
        config: Layer sizes, dropout and embedding size.
        stats: Normalization statistics of the training data.

    Returns:
        A functional Keras model named ``eyewear_recommender`` taking a dict of named inputs.

    Raises:
        RuntimeError: Keras does not run on the TensorFlow backend (the export needs it).
    """
    if keras.backend.backend() != "tensorflow":
        msg = f"the eyewear model needs the TensorFlow Keras backend, not {keras.backend.backend()!r}"
        raise RuntimeError(msg)
    # one scalar per example: the inputs match what parse_example yields and what the serving signature takes
    inputs = {f.name: keras.Input(shape=(), dtype=_INPUT_DTYPES[f.kind], name=f.name) for f in FEATURES}

    numeric = keras.layers.Concatenate(name="numeric_features")(
        [keras.ops.expand_dims(keras.ops.cast(inputs[name], "float32"), -1) for name in NUMERIC_FEATURES]
    )
    normalized = keras.layers.Normalization(
        mean=[stats.mean[name] for name in NUMERIC_FEATURES],
        variance=[stats.variance[name] for name in NUMERIC_FEATURES],
        name="normalize",
    )(numeric)

    parts = [normalized]
    for feature in FEATURES:
        if feature.vocabulary is None:
            continue
        indices = keras.layers.StringLookup(
            vocabulary=list(feature.vocabulary), num_oov_indices=1, name=f"{feature.name}_lookup"
        )(inputs[feature.name])
        parts.append(
            keras.layers.Embedding(
                input_dim=len(feature.vocabulary) + 1, output_dim=config.embedding_dim, name=f"{feature.name}_embedding"
            )(indices)
        )

    hidden = keras.layers.Concatenate(name="all_features")(parts)
    for index, units in enumerate(config.hidden_units):
        hidden = keras.layers.Dense(units, activation="relu", name=f"hidden_{index}")(hidden)
        if config.dropout > 0:
            hidden = keras.layers.Dropout(config.dropout, seed=config.seed + index, name=f"dropout_{index}")(hidden)
    outputs = keras.layers.Dense(len(FRAME_STYLES), activation="softmax", name=OUTPUT_NAME)(hidden)
    return keras.Model(inputs=inputs, outputs=outputs, name=MODEL_NAME)
