"""Ground truth for logged predictions: the feedback request checked, and written under the registry root."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from registry_core.errors import InvalidInputError, OverLimitError
from registry_core.metadata import utc_now
from registry_core.monitoring.batch_files import utc_text, write_batches
from registry_core.monitoring.log_layout import FEEDBACK
from registry_core.monitoring.log_records import FeedbackRecord
from registry_core.storage.base import StorageBackend
from registry_core.text import shown

MAX_FEEDBACK_ITEMS = 1000
"""Most labels one feedback request may carry."""
MAX_ID_CHARS = 128
MAX_LABEL_CHARS = 256
_ITEM_FIELDS = {"prediction_id", "label"}


def parse_feedback(payload: Any) -> list[tuple[str, str | int | float]]:
    """Return the (prediction id, label) pairs of a ``{"feedback": [{"prediction_id", "label"}, ...]}`` body.

    Raises:
        InvalidInputError: the body is not such an object, has too many items, or an item is malformed (named).
    """
    if not isinstance(payload, dict) or set(payload) != {"feedback"}:
        msg = 'the request body must be {"feedback": [{"prediction_id": "...", "label": ...}, ...]}'
        raise InvalidInputError(msg)
    items = payload["feedback"]
    if not isinstance(items, list) or not items:
        msg = "'feedback' must be a non-empty list"
        raise InvalidInputError(msg)
    if len(items) > MAX_FEEDBACK_ITEMS:
        msg = f"'feedback' has {len(items)} items; send at most {MAX_FEEDBACK_ITEMS} per request"
        raise InvalidInputError(msg)
    return [_item(index, item) for index, item in enumerate(items)]


def _item(index: int, item: Any) -> tuple[str, str | int | float]:
    if not isinstance(item, dict):
        msg = f"feedback {index} must be an object with 'prediction_id' and 'label'"
        raise InvalidInputError(msg)
    if unknown := sorted(set(item) - _ITEM_FIELDS, key=str):
        msg = f"feedback {index}: unknown fields {shown(unknown)}; an item has 'prediction_id' and 'label'"
        raise InvalidInputError(msg)
    if missing := sorted(_ITEM_FIELDS - set(item)):
        msg = f"feedback {index}: missing {missing}"
        raise InvalidInputError(msg)
    prediction_id, label = item["prediction_id"], item["label"]
    if not isinstance(prediction_id, str) or not 0 < len(prediction_id) <= MAX_ID_CHARS:
        msg = f"feedback {index}: 'prediction_id' must be a string of 1 to {MAX_ID_CHARS} characters"
        raise InvalidInputError(msg)
    if not prediction_id.isprintable():
        msg = f"feedback {index}: 'prediction_id' {shown(prediction_id)} is not printable text"
        raise InvalidInputError(msg)
    if isinstance(label, str):
        if not 0 < len(label) <= MAX_LABEL_CHARS or not label.isprintable():
            msg = f"feedback {index}: a 'label' class name must be printable text of 1 to {MAX_LABEL_CHARS} characters"
            raise InvalidInputError(msg)
    elif isinstance(label, bool) or not isinstance(label, int | float) or not math.isfinite(label):
        msg = f"feedback {index}: 'label' must be a class name or a finite number, got {shown(label)}"
        raise InvalidInputError(msg)
    return prediction_id, label


def write_feedback(
    storage: StorageBackend, endpoint: str, items: Sequence[tuple[str, str | int | float]]
) -> list[FeedbackRecord]:
    """Store feedback for `endpoint` as one new object and return its records (kept whether or not the ids were logged).

    Raises:
        StorageError: the write failed (nothing was kept).
    """
    now = utc_now()
    records = [FeedbackRecord(prediction_id=i, label=label, time=now, endpoint=endpoint) for i, label in items]
    rows: list[tuple[Any, Mapping[str, Any]]] = [
        (now, {"prediction_id": r.prediction_id, "label": r.label, "time": utc_text(now), "endpoint": endpoint})
        for r in records
    ]
    write_batches(storage, endpoint, FEEDBACK, rows)
    return records


class FeedbackLimit:
    """A server's hourly cap on the feedback items it keeps for its endpoint (thread-safe).

    Args:
        per_hour: Most items kept per clock hour (UTC).
    """

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._lock = threading.Lock()
        self._hour = -1
        self._kept = 0

    def admit(self, count: int) -> None:
        """Count `count` items as kept this hour, or refuse them all.

        Raises:
            OverLimitError: they would go over the cap (nothing is counted).
        """
        now = time.time()
        hour = int(now // 3600)
        with self._lock:
            if hour != self._hour:
                self._hour, self._kept = hour, 0
            if self._kept + count <= self.per_hour:
                self._kept += count
                return
            left = self.per_hour - self._kept
        minutes = math.ceil((3600 - now % 3600) / 60)
        msg = (
            f"this server keeps at most {self.per_hour} feedback items an hour and takes {left} more this hour; "
            f"send these {count} in {minutes} minutes"
        )
        raise OverLimitError(msg)
