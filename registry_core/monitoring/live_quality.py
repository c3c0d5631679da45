"""Live quality: the metrics a version scores on the predictions that got feedback, beside those it was validated on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from registry_core.comparison import lower_is_better

DEFAULT_TOLERANCES: Mapping[str, float] = {"accuracy": 0.05}
"""How much worse than at validation each metric may be live before quality counts as degraded."""
DEFAULT_MIN_LABELED = 30
"""Fewer labelled predictions than this say too little to call quality degraded (the metrics are still shown)."""

# probabilities are clipped before the log so that one confident mistake gives a large, finite loss
_EPSILON = 1e-7


class Labeled(Protocol):
    """A logged prediction and its true label (registry_core.monitoring.log_records.LabeledPrediction)."""

    @property
    def label(self) -> str | int | float | None: ...  # noqa: D102

    @property
    def prediction(self) -> Any: ...  # noqa: D102


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
    labeled: Iterable[Labeled],
    validated: Mapping[str, float],
    *,
    tolerances: Mapping[str, float] | None = None,
    min_labeled: int = DEFAULT_MIN_LABELED,
) -> LiveQuality | None:
    """Score the predictions that got feedback; None when none did.

    A label is a class name, or a class index into the prediction's ``classes``. A prediction's class is its
    logged ``predicted_class``; its probabilities (for the loss) are the ``probabilities`` beside ``classes``.
    """
    tolerances = dict(DEFAULT_TOLERANCES if tolerances is None else tolerances)
    truths: list[str] = []
    guesses: list[str] = []
    losses: list[float] = []
    known: set[str] = set()
    unscorable = 0
    for item in labeled:
        if item.label is None:
            continue
        record = item.prediction
        classes = _classes(record.prediction)
        known.update(classes or ())
        truth = _class_name(item.label, classes)
        if truth is None or record.predicted_class is None:
            unscorable += 1
            continue
        truths.append(truth)
        guesses.append(record.predicted_class)
        probability = _probability(record.prediction, classes, truth)
        if probability is not None:
            losses.append(-math.log(min(max(probability, _EPSILON), 1.0)))
    if not truths and not unscorable:
        return None
    metrics = _classification_metrics(truths, guesses, known) if truths else {}
    if truths and len(losses) == len(truths):
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
        labeled=len(truths), unscorable=unscorable, metrics=metrics, validated=compared, tolerances=tolerances,
        degraded=degraded, enough=len(truths) >= min_labeled,
    )  # fmt: skip


def _classification_metrics(truths: Sequence[str], guesses: Sequence[str], known: set[str]) -> dict[str, float]:
    """Accuracy and the macro averages of precision, recall and F1 over the model's classes and any label seen.

    As at validation (eyewear_model.metrics), a class never predicted has precision 0 and one never true recall 0.
    """
    classes = sorted(known | set(truths) | set(guesses))
    precisions, recalls, f1s = [], [], []
    for name in classes:
        hits = sum(1 for t, g in zip(truths, guesses, strict=True) if t == g == name)
        predicted = sum(1 for g in guesses if g == name)
        actual = sum(1 for t in truths if t == name)
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    correct = sum(1 for t, g in zip(truths, guesses, strict=True) if t == g)
    return {
        "accuracy": correct / len(truths),
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
