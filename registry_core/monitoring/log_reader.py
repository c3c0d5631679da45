"""Reading an endpoint's prediction logs and feedback back for a time window, and joining them."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import ValidationError

from registry_core.errors import InvalidInputError, NotFoundError
from registry_core.metadata import utc_now
from registry_core.monitoring.batch_files import read_lines
from registry_core.monitoring.log_gaps import GAP_COUNTS
from registry_core.monitoring.log_layout import FEEDBACK, GAPS, PREDICTIONS, Kind, window_folders
from registry_core.monitoring.log_records import FeedbackRecord, LabeledPrediction, PredictionRecord
from registry_core.storage.base import StorageBackend
from registry_core.text import one_line

logger = logging.getLogger(__name__)
Record = TypeVar("Record", PredictionRecord, FeedbackRecord)


class PredictionLogReader:
    """The prediction logs and feedback of one endpoint, read by time window (only the hour folders in it).

    Args:
        storage: The registry's storage.
        endpoint: The endpoint.
    """

    def __init__(self, storage: StorageBackend, endpoint: str) -> None:
        self.storage = storage
        self.endpoint = endpoint
        self.skipped = 0  # unreadable lines seen so far (each is logged)

    def predictions(self, start: datetime, end: datetime | None = None) -> Iterator[PredictionRecord]:
        """Yield the predictions logged in ``[start, end)`` (end: now), in time order of their batches.

        Raises:
            InvalidInputError: a time without a timezone, or an end before the start.
            StorageError: storage cannot be listed or read.
        """
        return self._records(PREDICTIONS, PredictionRecord, start, end)

    def feedback(self, start: datetime, end: datetime | None = None) -> Iterator[FeedbackRecord]:
        """Yield the feedback received in ``[start, end)`` (end: now). Raises: as `predictions`."""
        return self._records(FEEDBACK, FeedbackRecord, start, end)

    def gaps(self, start: datetime, end: datetime | None = None) -> dict[str, int]:
        """Return what the servers did not log in ``[start, end)`` (end: now), by the names of `GAP_COUNTS`.

        Sums the gaps objects written in the window (`registry_core.monitoring.log_gaps`): records sampled out,
        dropped, over the hourly caps, lost to failed writes, kept truncated, and feedback refused over its cap.
        Anything but ``sampledOut`` non-zero means the records read are not all the window's traffic.

        Raises: as `predictions`.
        """
        start, end = _window(start, end)
        totals = dict.fromkeys(GAP_COUNTS, 0)
        for folder in window_folders(self.endpoint, GAPS, start, end):
            for key in self.storage.list(folder):
                try:
                    body = json.loads(self.storage.read(key))
                    at = datetime.fromisoformat(body["time"])
                    counts = {name: body.get(name, 0) for name in GAP_COUNTS}
                    if at.tzinfo is None or not all(type(n) is int and n >= 0 for n in counts.values()):
                        msg = "not a gaps object (time with a timezone, counts of whole numbers)"
                        raise ValueError(msg)
                except NotFoundError:  # removed since the listing
                    continue
                except (ValueError, TypeError, KeyError) as exc:
                    self._skip(key, exc)
                    continue
                if start <= at < end:
                    for name, count in counts.items():
                        totals[name] += count
        return totals

    def labeled(
        self, start: datetime, end: datetime | None = None, *, feedback_until: datetime | None = None
    ) -> list[LabeledPrediction]:
        """Return the predictions of ``[start, end)`` each with its latest feedback (received up to `feedback_until`).

        Feedback comes after its prediction, so it is read from `start` to `feedback_until` (default: now).

        Raises: as `predictions`.
        """
        predictions = list(self.predictions(start, end))
        return join(predictions, self.feedback(start, feedback_until))

    def _records(self, kind: Kind, model: type[Record], start: datetime, end: datetime | None) -> Iterator[Record]:
        start, end = _window(start, end)
        for folder in window_folders(self.endpoint, kind, start, end):
            for key in self.storage.list(folder):
                try:
                    lines = read_lines(self.storage, key)
                except NotFoundError:  # removed since the listing (e.g. by a retention clean-up)
                    continue
                except (OSError, EOFError, zlib.error) as exc:  # a damaged gzip stream: bad header, cut short, corrupt
                    self._skip(key, exc)
                    continue
                for number, line in enumerate(lines, 1):
                    record = self._parse(model, key, number, line)
                    if record is not None and start <= record.time < end:
                        yield record

    def _parse(self, model: type[Record], key: str, number: int, line: bytes) -> Record | None:
        try:
            return model.model_validate(json.loads(line))
        except (ValueError, ValidationError) as exc:
            self._skip(f"{key} line {number}", exc)
            return None

    def _skip(self, where: str, exc: Exception) -> None:
        self.skipped += 1
        logger.warning("skipping unreadable log record %s: %s", where, one_line(exc))


def latest_feedback(items: Iterable[FeedbackRecord]) -> dict[str, FeedbackRecord]:
    """Return the latest feedback of each prediction id (of two received at the same time, the one read last)."""
    latest: dict[str, FeedbackRecord] = {}
    for item in items:
        known = latest.get(item.prediction_id)
        if known is None or item.time >= known.time:
            latest[item.prediction_id] = item
    return latest


def join(predictions: Iterable[PredictionRecord], feedback: Iterable[FeedbackRecord]) -> list[LabeledPrediction]:
    """Pair each prediction with its latest feedback by prediction id (feedback for other ids is left out)."""
    latest = latest_feedback(feedback)
    return [LabeledPrediction(prediction=p, feedback=latest.get(p.prediction_id)) for p in predictions]


def _window(start: datetime, end: datetime | None) -> tuple[datetime, datetime]:
    end = end if end is not None else utc_now() + timedelta(microseconds=1)  # include a record made just now
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            msg = f"the window's {name} must be a timezone-aware datetime (e.g. datetime.now(UTC))"
            raise InvalidInputError(msg)
    if end < start:
        msg = f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        raise InvalidInputError(msg)
    return start.astimezone(UTC), end.astimezone(UTC)
