"""Live quality: the metrics a version scores on the predictions that got feedback, beside those it was validated on."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry_core.comparison import lower_is_better

DEFAULT_TOLERANCES: Mapping[str, float] = {"accuracy": 0.05}
"""How much worse than at validation each metric may be live before quality counts as degraded."""
DEFAULT_MIN_LABELED = 30
"""Fewer labelled predictions than this say too little to call quality degraded (the metrics are still shown)."""

# probabilities are clipped before the log so that one confident mistake gives a large, finite loss
_EPSILON = 1e-7


@dataclass(frozen=True)
class ScoredPrediction:
    """What scoring one labelled prediction needs, and nothing more (the instance is not kept).

    Attributes:
        label: The true label as the feedback gave it: a class name, or a class index.
        predicted_class: The class the model gave, or None when its outputs name no classes.
        classes: The model's classes, when its outputs list them.
        probability_of_label: The probability the model gave the true class, when it can be found.
    """

    label: str | int | float
    predicted_class: str | None
    classes: tuple[str, ...] | None
    probability_of_label: float | None

    @classmethod
    def of(cls, output: Any, predicted_class: str | None, label: str | int | float) -> ScoredPrediction:
        """Keep from a logged prediction's outputs (``classes`` beside ``probabilities``) what scoring needs."""
        classes = _classes(output)
        truth = _class_name(label, classes)
        probability = _probability(output, classes, truth) if truth is not None else None
        return cls(label, predicted_class, tuple(classes) if classes else None, probability)


@dataclass(frozen=True)
class LiveQuality:
    """Metrics of the labelled live predictions, compared with the version's validation metrics.

    Attributes:
        labeled: Predictions with feedback that were scored.
        unscorable: Predictions with feedback whose label or output could not be matched to a class.
        metrics: Live metric -> value (accuracy, precision/recall/F1 macro averages, and loss when the outputs
            carry probabilities).
        validated: The version's own value of each live metric it has.
        tolerances: Metric -> how much worse it may be live.
        degraded: Metrics worse live than validated by more than their tolerance -> the shortfall.
        enough: Whether `labeled` reached the minimum that makes `degraded` count.
    """

    labeled: int
    unscorable: int
    metrics: dict[str, float]
    validated: dict[str, float]
    tolerances: dict[str, float]
    degraded: dict[str, float] = field(default_factory=dict)
    enough: bool = True

    @property
    def is_degraded(self) -> bool:
        """True when enough predictions were labelled and some metric fell further than its tolerance."""
        return self.enough and bool(self.degraded)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with stable keys."""
        return {
            "labeled": self.labeled,
            "unscorable": self.unscorable,
            "metrics": self.metrics,
            "validated": self.validated,
            "tolerances": self.tolerances,
            "degraded": self.degraded,
            "enough_feedback": self.enough,
            "quality_degraded": self.is_degraded,
        }


def live_quality(
    scored: Iterable[ScoredPrediction],
    validated: Mapping[str, float],
    *,
    tolerances: Mapping[str, float] | None = None,
    min_labeled: int = DEFAULT_MIN_LABELED,
) -> LiveQuality | None:
    """Score the predictions that got feedback; None when none did.

    A label is a class name, or a class index into the prediction's ``classes``. A label that is not one of the
    model's classes (when its outputs list them), or a prediction without a class, is counted as unscorable: callers
    choose labels, and made-up ones must not count as classes.
    """
    tolerances = dict(DEFAULT_TOLERANCES if tolerances is None else tolerances)
    pairs: list[tuple[str, str]] = []
    losses: list[float] = []
    known: set[str] = set()
    unscorable = 0
    for item in scored:
        truth = _class_name(item.label, list(item.classes) if item.classes else None)
        if truth is None or item.predicted_class is None or (item.classes and truth not in item.classes):
            unscorable += 1
            continue
        known.update(item.classes or ())
        pairs.append((truth, item.predicted_class))
        if item.probability_of_label is not None:
            losses.append(-math.log(min(max(item.probability_of_label, _EPSILON), 1.0)))
    if not pairs and not unscorable:
        return None
    metrics = _classification_metrics(pairs, known) if pairs else {}
    if pairs and len(losses) == len(pairs):
        metrics["loss"] = sum(losses) / len(losses)
    compared = {name: float(validated[name]) for name in metrics if name in validated}
    degraded = {}
    for name, tolerance in tolerances.items():
        if name not in metrics or name not in compared:
            continue
        shortfall = metrics[name] - compared[name] if lower_is_better(name) else compared[name] - metrics[name]
        if shortfall > tolerance:
            degraded[name] = shortfall
    return LiveQuality(
        labeled=len(pairs), unscorable=unscorable, metrics=metrics, validated=compared, tolerances=tolerances,
        degraded=degraded, enough=len(pairs) >= min_labeled,
    )  # fmt: skip


def _classification_metrics(pairs: Sequence[tuple[str, str]], known: set[str]) -> dict[str, float]:
    """Accuracy and the macro averages of precision, recall and F1 over the model's classes and any label seen.

    As at validation (eyewear_model.metrics), a class never predicted has precision 0 and one never true recall 0.
    One pass over the pairs, whatever the number of classes.
    """
    hits: Counter[str] = Counter(truth for truth, guess in pairs if truth == guess)
    predicted: Counter[str] = Counter(guess for _, guess in pairs)
    actual: Counter[str] = Counter(truth for truth, _ in pairs)
    classes = known | set(actual) | set(predicted)
    precisions, recalls, f1s = [], [], []
    for name in classes:
        precision = hits[name] / predicted[name] if predicted[name] else 0.0
        recall = hits[name] / actual[name] if actual[name] else 0.0
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "accuracy": sum(hits.values()) / len(pairs),
        "precision_macro": sum(precisions) / len(classes),
        "recall_macro": sum(recalls) / len(classes),
        "f1_macro": sum(f1s) / len(classes),
    }


def _classes(output: Any) -> list[str] | None:
    classes = output.get("classes") if isinstance(output, dict) else None
    if isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes):
        return classes
    return None


def _class_name(label: str | int | float, classes: list[str] | None) -> str | None:
    if isinstance(label, str):
        return label
    if classes is not None and float(label).is_integer() and 0 <= int(label) < len(classes):
        return classes[int(label)]
    return None  # a number without classes to index: not a class this model names


def _probability(output: Any, classes: list[str] | None, truth: str) -> float | None:
    if classes is None or truth not in classes:
        return None
    scores = output.get("probabilities")
    if not isinstance(scores, list) or len(scores) != len(classes):
        return None
    value = scores[classes.index(truth)]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
