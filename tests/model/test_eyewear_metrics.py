"""classification_metrics on small hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from eyewear_model.metrics import classification_metrics

CLASSES = ("a", "b", "c")


def test_perfect_predictions() -> None:
    labels = np.array([0, 1, 2, 2])
    probabilities = np.eye(3)[labels] * 0.9 + 0.1 / 3
    result = classification_metrics(labels, probabilities, CLASSES)
    assert result.accuracy == result.precision_macro == result.recall_macro == result.f1_macro == 1.0
    assert result.auc == 1.0
    assert result.confusion_matrix == [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    assert result.loss == pytest.approx(-np.log(0.9 + 0.1 / 3))


def test_hand_computed_case() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    probabilities = np.array(
        [
            [0.6, 0.3, 0.1],  # right
            [0.2, 0.5, 0.3],  # a predicted as b
            [0.1, 0.8, 0.1],  # right
            [0.4, 0.4, 0.2],  # tie: argmax takes the first, a
            [0.2, 0.2, 0.6],  # right
        ]
    )
    result = classification_metrics(labels, probabilities, CLASSES)
    assert result.num_examples == 5
    assert result.accuracy == pytest.approx(3 / 5)
    assert result.confusion_matrix == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    a = result.per_class["a"]
    assert (a.precision, a.recall, a.f1, a.support) == (0.5, 0.5, 0.5, 2)
    assert result.per_class["c"].f1 == 1.0
    assert result.f1_macro == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    # class a: positives score 0.6, 0.2; negatives 0.1, 0.4, 0.2 -> pairs won 3 + 1 + 0.5 (tie) of 6
    assert result.per_class["a"].auc == pytest.approx(4.5 / 6)
    assert result.auc == pytest.approx(np.mean([c.auc for c in result.per_class.values()]))
    assert set(result.summary()) == {"accuracy", "auc", "loss", "precision_macro", "recall_macro", "f1_macro"}


def test_absent_class_has_no_auc_and_zero_scores() -> None:
    labels = np.array([0, 1, 0, 1])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1]])
    result = classification_metrics(labels, probabilities, CLASSES)
    absent = result.per_class["c"]
    assert absent.auc is None
    assert (absent.precision, absent.recall, absent.f1, absent.support) == (0.0, 0.0, 0.0, 0)
    assert result.auc == 1.0  # averaged over the classes where it is defined


def test_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="expected labels"):
        classification_metrics(np.array([0, 1]), np.ones((2, 2)), CLASSES)
    with pytest.raises(ValueError, match="zero examples"):
        classification_metrics(np.array([], dtype=int), np.ones((0, 3)), CLASSES)
    with pytest.raises(ValueError, match="labels must lie"):
        classification_metrics(np.array([3]), np.ones((1, 3)) / 3, CLASSES)
