"""Sampled, bounded logging of served predictions: a capped queue, a background writer, an hourly cap.

A request thread only decides whether the request is sampled and appends a reference to what it already has to an
in-memory queue (no serialization, no storage): `PredictionLogger.record` never blocks and never raises. A background
thread writes what waits as JSON-lines objects under ``monitoring/<endpoint>/predictions/`` (see `log_layout`) every
`PredictionLogSettings.batch_records` records or `PredictionLogSettings.flush_seconds` seconds, and at `close`.
What cannot be kept is counted, never waited for: records sampled out, dropped because the queue is full (storage
slow or down), over the hourly cap, or lost because a write failed (`PredictionLogger.stats`, shown by ``/health``).

A logger may start without knowing its endpoint (a Vertex AI serving container learns it from the registry's endpoint
record, written only once the deployment is done): the writer then asks `resolve` for it before writing, again and
again with growing delays, and the records wait in the queue meanwhile (bounded as always).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from registry_core.errors import InvalidInputError
from registry_core.monitoring.batch_files import utc_text, write_batches
from registry_core.monitoring.endpoint_finder import EndpointFinder
from registry_core.monitoring.log_layout import PREDICTIONS
from registry_core.monitoring.log_records import top_class
from registry_core.monitoring.log_settings import LogDestination, PredictionLogSettings
from registry_core.storage.base import StorageBackend
from registry_core.text import one_line

__all__ = ["LogDestination", "PredictionLogSettings", "PredictionLogger"]  # the settings are re-exported here

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Request:
    """One sampled request, as the request thread left it: references only, converted by the writer."""

    at: float  # time.time()
    ids: Sequence[str]
    instances: Sequence[Any]
    predictions: Sequence[Any]
    model: str
    version: str
    deployed_model_id: str
    latency_ms: float


_COUNTS = ("logged", "written", "sampledOut", "dropped", "overHourlyCap", "failed")


class PredictionLogger:
    """Logs the predictions of one endpoint under the registry root, off the request path.

    Args:
        storage: The registry's storage.
        endpoint: The endpoint whose predictions these are, or None to find it with `resolve`.
        settings: Sampling, bounds and timing.
        rng: Random numbers in [0, 1) for sampling (tests pass a seeded one).
        resolve: Returns the endpoint (and perhaps its sample rate), or None while there is none; called by the writer
            until it answers, never on the request path. Records wait in the queue until then.

    Raises:
        InvalidInputError: neither `endpoint` nor `resolve` is given.
    """

    def __init__(
        self,
        storage: StorageBackend,
        endpoint: str | None,
        settings: PredictionLogSettings | None = None,
        *,
        rng: Callable[[], float] | None = None,
        resolve: Callable[[], LogDestination | None] | None = None,
    ) -> None:
        if endpoint is None and resolve is None:
            msg = "a prediction logger needs an endpoint or a way to find it"
            raise InvalidInputError(msg)
        self.storage = storage
        self.endpoint = endpoint
        self.settings = settings or PredictionLogSettings()
        self._finder = EndpointFinder(resolve, self.settings.resolve_seconds) if resolve is not None else None
        self._random = rng or random.Random().random  # noqa: S311 - sampling, not security
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._queued = 0  # records in _pending
        self._oldest = 0.0  # time.monotonic() when the oldest pending request came
        self._hour = -1
        self._this_hour = 0
        self._counts = dict.fromkeys(_COUNTS, 0)
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    # ------------------------------------------------------------------------------------------ request path

    def record(
        self,
        ids: Sequence[str],
        instances: Sequence[Any],
        predictions: Sequence[Any],
        *,
        model: str,
        version: str,
        deployed_model_id: str,
        latency_ms: float,
    ) -> None:
        """Log one answered request (one record per instance), if it is sampled and fits; never blocks or raises."""
        settings = self.settings
        count = len(ids)
        if not settings.enabled or not count:
            return
        if settings.sample_rate < 1 and self._random() >= settings.sample_rate:
            with self._cond:
                self._counts["sampledOut"] += count
            return
        now = time.time()
        hour = int(now // 3600)
        request = _Request(now, ids, instances, predictions, model, version, deployed_model_id, latency_ms)
        with self._cond:
            if hour != self._hour:
                self._hour, self._this_hour = hour, 0
            if self._closing or self._queued + count > settings.queue_records:
                self._counts["dropped"] += count
                return
            if self._this_hour + count > settings.max_records_per_hour:
                self._counts["overHourlyCap"] += count
                return
            self._this_hour += count
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(request)
            self._queued += count
            self._counts["logged"] += count
            if self._queued >= settings.batch_records:
                self._cond.notify()
            started = self._thread is not None
        if not started:
            self._start()

    # ------------------------------------------------------------------------------------------ writer

    def _start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closing:
                return
            name = f"prediction-log-{self.endpoint or 'unresolved'}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._wait_for_batch():
                    self._thread = None  # idle: the next record starts another (a library may open many)
                    return
                closing, waiting = self._closing, bool(self._pending)
            if self.endpoint is None and waiting and not self._resolve_endpoint(force=closing):
                if closing:
                    self._lose_unresolved()
                    return
                with self._cond:  # until the next attempt (or close): the records keep waiting, bounded
                    while not self._closing and self._finder is not None and (left := self._finder.due_in()) > 0:
                        self._cond.wait(left)
                continue
            with self._cond:
                batch = list(self._pending)
                self._pending.clear()
                self._queued = 0
                closing = self._closing
            for start in range(0, len(batch), self.settings.batch_records):
                self._write(batch[start : start + self.settings.batch_records])
            if closing:
                with self._cond:
                    self._thread = None
                return

    def _wait_for_batch(self) -> bool:
        """Wait (holding the condition) for a full or old enough batch, or close; False when idle for long."""
        settings = self.settings
        while not self._closing and self._queued < settings.batch_records:
            if not self._pending:
                if not self._cond.wait(settings.flush_seconds) and not self._pending:
                    return False
                continue
            wait = self._oldest + settings.flush_seconds - time.monotonic()
            if wait <= 0:
                break
            self._cond.wait(wait)
        return True

    def _resolve_endpoint(self, *, force: bool) -> bool:
        """Ask for the endpoint (unless the next attempt is not due and not `force`); True once known."""
        if self._finder is None:
            return False
        found, error = self._finder.find(force=force)
        if error is not None:
            self._note_error(one_line(f"cannot find the endpoint to log predictions under: {error}"))
            return False
        if found is None:
            self._note_error("the endpoint to log predictions under is not known yet (records wait)")
            return False
        with self._cond:
            self.endpoint = found.endpoint
            if found.sample_rate is not None:
                self._thin(found.sample_rate)
            self._last_error = None
        logger.info("logging predictions under endpoint %s", found.endpoint)
        return True

    def _thin(self, rate: float) -> None:
        """Apply the endpoint's sample rate, from now on and to the requests that waited for it (holding the lock)."""
        self.settings = replace(self.settings, sample_rate=rate)
        if rate >= 1:
            return
        kept: deque[_Request] = deque()
        for request in self._pending:
            if self._random() < rate:
                kept.append(request)
            else:
                count = len(request.ids)
                self._counts["logged"] -= count
                self._counts["sampledOut"] += count
                self._queued -= count
        self._pending = kept

    def _lose_unresolved(self) -> None:
        """At close, with no endpoint found: count what waits as lost."""
        with self._cond:
            lost = self._queued
            self._pending.clear()
            self._queued = 0
            self._counts["failed"] += lost
            self._thread = None
        if lost:
            logger.warning(
                "%d prediction log records not written: the endpoint to log them under was never found", lost
            )

    def _note_error(self, message: str) -> None:
        with self._cond:
            repeated, self._last_error = message == self._last_error, message
        if not repeated:
            logger.warning("%s", message)

    def _write(self, requests: list[_Request]) -> None:
        endpoint = self.endpoint
        assert endpoint is not None  # _run writes only once it is known
        records = []
        for request in requests:
            at = datetime.fromtimestamp(request.at, UTC)
            when = utc_text(at)
            for prediction_id, features, prediction in zip(
                request.ids, request.instances, request.predictions, strict=False
            ):
                records.append(
                    (
                        at,
                        {
                            "prediction_id": prediction_id,
                            "time": when,
                            "endpoint": endpoint,
                            "model": request.model,
                            "version": request.version,
                            "deployed_model_id": request.deployed_model_id,
                            "features": features,
                            "prediction": prediction,
                            "predicted_class": top_class(prediction),
                            "latency_ms": round(request.latency_ms, 3),
                        },
                    )
                )
        try:
            write_batches(self.storage, endpoint, PREDICTIONS, records, compress_above=self.settings.compress_above)
        except Exception as exc:  # noqa: BLE001 - whatever storage raises, serving goes on; the loss is counted
            message = one_line(f"cannot write prediction logs of endpoint {self.endpoint!r}: {exc}")
            with self._cond:
                self._counts["failed"] += len(records)
                repeated, self._last_error = message == self._last_error, message
            if not repeated:
                logger.warning("%s (%d records lost)", message, len(records))
        else:
            with self._cond:
                self._counts["written"] += len(records)
                recovered, self._last_error = self._last_error is not None, None
            if recovered:
                logger.info("endpoint %s: prediction logs are written again", self.endpoint)

    # ------------------------------------------------------------------------------------------ control

    def flush(self, timeout: float | None = None) -> bool:
        """Write what waits now (in the writer thread); return True if nothing waits any more within `timeout`."""
        deadline = time.monotonic() + (self.settings.shutdown_seconds if timeout is None else timeout)
        with self._cond:
            self._oldest = -math.inf  # the writer takes what waits at once
            self._cond.notify()
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending and not self._writing():
                    return True
            time.sleep(0.01)
        return False

    def _writing(self) -> bool:
        """True while the writer holds records it took (they are counted neither pending nor done)."""
        counts = self._counts
        return counts["logged"] > counts["written"] + counts["failed"] + self._queued

    def close(self) -> None:
        """Write what waits and stop the writer (idempotent); give up after `shutdown_seconds`, counting the loss."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(self.settings.shutdown_seconds)
        if thread.is_alive():
            with self._cond:
                lost = self._counts["logged"] - self._counts["written"] - self._counts["failed"]
            logger.warning("endpoint %s: %d prediction log records not written at shutdown", self.endpoint, lost)

    def reopen(self) -> None:
        """Log again after `close` (a server started again); the writer starts with the next record."""
        with self._cond:
            self._closing = False
            if self._thread is not None and not self._thread.is_alive():
                self._thread = None

    def stats(self) -> dict[str, Any]:
        """Return the logger's settings and counts, for ``/health``."""
        with self._cond:
            counts = dict(self._counts)
            pending = self._queued
            error = self._last_error
        body: dict[str, Any] = {
            "enabled": self.settings.enabled,
            "sampleRate": self.settings.sample_rate,
            "maxRecordsPerHour": self.settings.max_records_per_hour,
            "pending": pending,
            **counts,
        }
        if error is not None:
            body["lastError"] = error
        if self._finder is not None:
            body["endpoint"] = self.endpoint  # None until found
        return body
