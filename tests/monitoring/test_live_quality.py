"""Live quality against the validation metrics of eyewear_model.metrics, computed independently on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from eyewear_model.metrics import classification_metrics
from registry_core.monitoring.live_quality import ScoredPrediction, live_quality

CLASSES = ["aviator", "round", "rectangle", "cat_eye", "wayfarer"]


def labeled(probabilities: np.ndarray, labels: np.ndarray, *, as_index: bool = False) -> list[ScoredPrediction]:
    items = []
    for row, label in zip(probabilities, labels, strict=True):
        output = {"probabilities": row.tolist(), "classes": CLASSES}
        truth: str | int = int(label) if as_index else CLASSES[int(label)]
        items.append(ScoredPrediction.of(output, CLASSES[int(np.argmax(row))], truth))
    return items


@pytest.mark.parametrize("as_index", [False, True])
def test_live_metrics_equal_the_validation_metrics_on_the_same_predictions(as_index: bool) -> None:
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(len(CLASSES)), size=400)
    labels = rng.integers(0, len(CLASSES) - 1, size=400)  # the last class never true: its recall is 0 in both
    expected = classification_metrics(labels, probabilities, CLASSES)
    quality = live_quality(labeled(probabilities, labels, as_index=as_index), {"accuracy": expected.accuracy})
    assert quality is not None
    assert quality.labeled == 400
    assert quality.metrics["accuracy"] == pytest.approx(expected.accuracy)
    assert quality.metrics["precision_macro"] == pytest.approx(expected.precision_macro)
    assert quality.metrics["recall_macro"] == pytest.approx(expected.recall_macro)
    assert quality.metrics["f1_macro"] == pytest.approx(expected.f1_macro)
    assert quality.metrics["loss"] == pytest.approx(expected.loss, rel=1e-6)
    assert not quality.is_degraded


def test_quality_is_degraded_when_accuracy_falls_further_than_its_tolerance() -> None:
    rng = np.random.default_rng(4)
    probabilities = rng.dirichlet(np.ones(len(CLASSES)), size=100)
    labels = np.argmax(probabilities, axis=1)
    labels[:20] = (labels[:20] + 1) % len(CLASSES)  # 80% right
    quality = live_quality(labeled(probabilities, labels), {"accuracy": 0.9, "loss": 0.1})
    assert quality is not None
    assert quality.metrics["accuracy"] == pytest.approx(0.8)
    assert quality.degraded == {"accuracy": pytest.approx(0.1)}
    assert quality.is_degraded
    looser = live_quality(labeled(probabilities, labels), {"accuracy": 0.9}, tolerances={"accuracy": 0.15})
    assert looser is not None
    assert not looser.is_degraded
    lossy = live_quality(labeled(probabilities, labels), {"loss": 0.1}, tolerances={"loss": 0.5})
    assert lossy is not None
    assert set(lossy.degraded) == {"loss"}


def test_too_little_feedback_is_shown_but_never_called_degraded() -> None:
    probabilities = np.eye(len(CLASSES))[:3]
    quality = live_quality(labeled(probabilities, np.array([1, 2, 3])), {"accuracy": 1.0})
    assert quality is not None
    assert quality.metrics["accuracy"] == 0.0
    assert quality.degraded
    assert not quality.enough
    assert not quality.is_degraded


def test_no_feedback_gives_no_quality_and_labels_it_cannot_place_are_counted() -> None:
    assert live_quality([], {"accuracy": 1.0}) is None
    no_classes = [ScoredPrediction.of({"scores": [0.2]}, None, 7), ScoredPrediction.of({}, None, "aviator")]
    quality = live_quality(no_classes, {})
    assert quality is not None
    assert (quality.labeled, quality.unscorable, quality.metrics) == (0, 2, {})


def test_made_up_labels_are_unscorable_not_new_classes() -> None:
    probabilities = np.eye(len(CLASSES))[:4]
    honest = labeled(probabilities, np.array([0, 1, 2, 3]))
    made_up = [ScoredPrediction.of({"probabilities": [0.2] * 5, "classes": CLASSES}, "round", f"label-{i}")
               for i in range(10_000)]  # fmt: skip
    quality = live_quality([*honest, *made_up], {"accuracy": 1.0})
    assert quality is not None
    assert (quality.labeled, quality.unscorable) == (4, 10_000)
    assert quality.metrics["accuracy"] == 1.0
    assert quality.metrics["recall_macro"] == pytest.approx(4 / 5)  # the five model classes, not 10,005
