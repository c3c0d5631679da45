"""The records of prediction logs and feedback, as written (one JSON line each) and as the reader returns them."""

from __future__ import annotations

import math
import os
import time
import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

# Lines may gain fields in later releases: a reader of today keeps what it knows and ignores the rest.
_RECORD = ConfigDict(frozen=True, extra="ignore", protected_namespaces=())


class PredictionRecord(BaseModel):
    """One logged prediction: one instance of a request, what answered it and what it said.

    Attributes:
        prediction_id: The id returned to the caller (``predictionIds``), which feedback refers to.
        time: When the request was answered (UTC).
        endpoint: The endpoint that served it.
        model: Registry model name.
        version: Registry version label.
        deployed_model_id: The deployed model that answered.
        features: The instance as the caller sent it.
        prediction: The model's outputs for it, by name (scores, class names...).
        predicted_class: The top class, when the outputs name their classes (``classes`` beside a score list),
            else None.
        latency_ms: Time the model took for the whole request, in milliseconds.
        truncated: The features (or a string of the outputs) were cut to the log's bounds
            (`registry_core.monitoring.log_bounds`): at most 64 keys or items, 256 characters, two levels.
    """

    model_config = _RECORD

    prediction_id: str
    time: AwareDatetime  # a line without a timezone is unreadable, not compared with aware times
    endpoint: str
    model: str
    version: str
    deployed_model_id: str
    features: Any
    prediction: Any
    predicted_class: str | None = None
    latency_ms: float
    truncated: bool = False


class FeedbackRecord(BaseModel):
    """Ground truth for one prediction, as sent to ``POST /v1/endpoints/{endpoint}:feedback``.

    Attributes:
        prediction_id: The prediction it is about (kept even if that prediction was never logged).
        label: The true class name, or a number.
        time: When it was received (UTC).
        endpoint: The endpoint it was sent to.
    """

    model_config = _RECORD

    prediction_id: str
    label: str | int | float
    time: AwareDatetime
    endpoint: str


class LabeledPrediction(BaseModel):
    """A logged prediction with its latest feedback, if any came.

    Attributes:
        prediction: The logged prediction.
        feedback: Its latest feedback, or None.
    """

    model_config = _RECORD

    prediction: PredictionRecord
    feedback: FeedbackRecord | None = None

    @property
    def label(self) -> str | int | float | None:
        """The true label, or None without feedback."""
        return self.feedback.label if self.feedback is not None else None


def new_prediction_ids(count: int) -> list[str]:
    """Return `count` new ids: UUIDs of version 7 (time-ordered, 74 random bits), as text.

    Time-ordered ids sort like the predictions they name, and show when a prediction was made.
    """
    millis = time.time_ns() // 1_000_000
    randomness = int.from_bytes(os.urandom(10 * count))  # one system call for the whole request
    ids = []
    for _ in range(count):
        rand_a, rand_b = randomness & 0xFFF, (randomness >> 12) & ((1 << 62) - 1)
        randomness >>= 80
        value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
        ids.append(str(uuid.UUID(int=value)))
    return ids


def top_class(output: Any) -> str | None:
    """Return the top class of one prediction whose outputs list ``classes`` beside scores of the same length.

    Looks at ``probabilities`` and ``scores`` first, then at any other list of numbers as long as ``classes``.
    """
    if not isinstance(output, dict):
        return None
    classes = output.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        return None
    for key in ("probabilities", "scores", *sorted(k for k in output if isinstance(k, str))):
        scores = output.get(key)
        if key == "classes" or not isinstance(scores, list) or len(scores) != len(classes):
            continue
        if all(_finite(s) for s in scores):
            best: str = classes[max(range(len(scores)), key=scores.__getitem__)]
            return best
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
