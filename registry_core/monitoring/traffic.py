"""An endpoint's logged traffic in a time window, read once into bounded per-version samples for the monitor.

Feedback is read first (usually far smaller) and kept as id -> latest label, up to a bound. Then each prediction
is counted under its model and version; its instance joins a uniform sample of the version's instances (reservoir
sampling), and, when it got feedback, a compact scored prediction joins a uniform sample of those: memory is
bounded whatever the traffic, and whatever callers send as features or labels.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from registry_core.monitoring.live_quality import ScoredPrediction
from registry_core.monitoring.log_records import FeedbackRecord, PredictionRecord

DEFAULT_SAMPLE_SIZE = 50_000
"""Instances (and, apart, labelled predictions) kept per version: a uniform sample of the window."""
DEFAULT_MAX_FEEDBACK = 200_000
"""Prediction ids whose feedback is kept for joining; later feedback is counted, not kept."""


@dataclass
class Reservoir:
    """A uniform sample of at most `size` of the items offered (Algorithm R), reproducible for the same items."""

    size: int
    seen: int = 0
    items: list[Any] = field(default_factory=list)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def offer(self, item: Any) -> None:
        """Consider one more item: every item offered so far stays in the sample with the same chance."""
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif (slot := self._rng.randrange(self.seen)) < self.size:
            self.items[slot] = item


@dataclass
class Served:
    """What one version served in the window.

    Attributes:
        count: Its logged predictions.
        unprofiled: Those whose instance is not a mapping of feature values.
        rows: A uniform sample of its instances, as feature -> scalar.
        scored: A uniform sample of its predictions that got feedback.
    """

    count: int = 0
    unprofiled: int = 0
    rows: Reservoir = field(default_factory=lambda: Reservoir(DEFAULT_SAMPLE_SIZE))
    scored: Reservoir = field(default_factory=lambda: Reservoir(DEFAULT_SAMPLE_SIZE))


@dataclass
class Window:
    """The window's traffic by (model, version), and what could not be kept.

    Attributes:
        served: (model, version) -> what it served.
        feedback: Feedback items read (the latest per prediction id counts).
        feedback_not_kept: Feedback for more prediction ids than the bound: counted, not joined.
    """

    served: dict[tuple[str, str], Served] = field(default_factory=dict)
    feedback: int = 0
    feedback_not_kept: int = 0


def read_window(
    predictions: Iterable[PredictionRecord],
    feedback: Iterable[FeedbackRecord],
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    max_feedback: int = DEFAULT_MAX_FEEDBACK,
) -> Window:
    """Read feedback, then predictions, into per-version bounded samples (see the module docstring)."""
    window = Window()
    labels: dict[str, tuple[datetime, str | int | float]] = {}
    for item in feedback:
        window.feedback += 1
        known = labels.get(item.prediction_id)
        if known is None and len(labels) >= max_feedback:
            window.feedback_not_kept += 1
        elif known is None or item.time >= known[0]:
            labels[item.prediction_id] = (item.time, item.label)
    for prediction in predictions:
        key = (prediction.model, prediction.version)
        served = window.served.get(key)
        if served is None:
            served = window.served[key] = Served(rows=Reservoir(sample_size), scored=Reservoir(sample_size))
        served.count += 1
        if (found := labels.get(prediction.prediction_id)) is not None:
            served.scored.offer(ScoredPrediction.of(prediction.prediction, prediction.predicted_class, found[1]))
        row = scalar_features(prediction.features)
        if row is None:
            served.unprofiled += 1
        else:
            served.rows.offer(row)
    return window


def scalar_features(instance: Any) -> dict[str, Any] | None:
    """The instance as feature -> scalar (one-element lists unwrapped, as Vertex clients often send them)."""
    if not isinstance(instance, Mapping):
        return None
    row: dict[str, Any] = {}
    for name, value in instance.items():
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None or isinstance(value, str | int | float) and not isinstance(value, bool):
            row[str(name)] = value
    return row
