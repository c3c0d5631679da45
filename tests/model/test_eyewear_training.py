"""Training the small default model: it learns the hidden rule and reports sane metrics."""

from __future__ import annotations

import keras
import numpy as np

from eyewear_model import (
    FRAME_STYLES,
    NUMERIC_FEATURES,
    DatasetPaths,
    EvaluationResult,
    EyewearModelConfig,
    TrainResult,
    train,
)


def test_model_shape(trained: TrainResult) -> None:
    model = trained.model
    assert isinstance(model, keras.Model)
    assert model.name == "eyewear_recommender"
    assert model.output_shape == (None, len(FRAME_STYLES))
    assert model.count_params() < 5_000  # small enough to train in seconds


def test_history_covers_every_epoch(trained: TrainResult) -> None:
    assert set(trained.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == trained.config.epochs for values in trained.history.values())
    assert trained.history["loss"][-1] < trained.history["loss"][0]


def test_normalization_stats(trained: TrainResult) -> None:
    stats = trained.normalization
    assert stats.count == 2000
    assert set(stats.mean) == set(NUMERIC_FEATURES)
    assert 130 < stats.mean["face_width_mm"] < 150
    assert 0 < stats.mean["wears_daily"] < 1
    assert all(v > 0 for v in stats.variance.values())


def test_beats_chance(evaluation: EvaluationResult) -> None:
    # chance is 0.2 on 5 classes (about 0.22 for the most frequent); the hidden rule allows about 0.8
    assert evaluation.accuracy > 0.5
    assert evaluation.auc is not None
    assert evaluation.auc > 0.75


def test_metrics_in_range(evaluation: EvaluationResult) -> None:
    assert evaluation.num_examples == 500
    assert evaluation.class_names == list(FRAME_STYLES)
    for value in (
        evaluation.accuracy,
        evaluation.auc,
        evaluation.precision_macro,
        evaluation.recall_macro,
        evaluation.f1_macro,
    ):
        assert value is not None
        assert 0.0 <= value <= 1.0
    assert 0 < evaluation.loss < np.log(len(FRAME_STYLES))  # better than predicting uniform probabilities
    matrix = np.array(evaluation.confusion_matrix)
    assert matrix.shape == (5, 5)
    assert matrix.sum() == 500
    assert np.trace(matrix) / 500 == evaluation.accuracy
    assert list(evaluation.per_class) == list(FRAME_STYLES)
    assert [m.support for m in evaluation.per_class.values()] == matrix.sum(axis=1).tolist()
    for metrics in evaluation.per_class.values():
        for value in (metrics.precision, metrics.recall, metrics.f1):
            assert 0.0 <= value <= 1.0
        assert metrics.auc is not None
        assert 0.5 < metrics.auc <= 1.0
    assert evaluation.summary()["accuracy"] == evaluation.accuracy


def test_predictions_are_distributions(trained: TrainResult) -> None:
    features = {
        "face_width_mm": [141.5, 150.0],
        "face_height_mm": [186.0, 200.0],
        "bridge_width_mm": [18.0, 20.0],
        "temple_length_mm": [140.0, 145.0],
        "pupillary_distance_mm": [63.0, 66.0],
        "face_shape": ["round", "not-a-shape"],  # unknown values fall into the out-of-vocabulary bucket
        "preferred_style": ["sporty", "minimal"],
        "budget_usd": [150.0, 400.0],
        "prescription_strength": [-1.25, -6.0],
        "wears_daily": [1, 0],
    }
    tensors = {k: keras.ops.convert_to_tensor(v) for k, v in features.items()}
    probabilities = np.asarray(trained.model(tensors, training=False))
    assert probabilities.shape == (2, len(FRAME_STYLES))
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_same_seed_trains_the_same_weights(dataset: DatasetPaths) -> None:
    config = EyewearModelConfig(epochs=1, hidden_units=(8,), seed=11)
    first = train(dataset.validation, None, config)
    second = train(dataset.validation, [], config)
    assert set(first.history) == {"loss", "accuracy"}  # no validation data, no val_ metrics
    assert first.history == second.history
    for mine, theirs in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
