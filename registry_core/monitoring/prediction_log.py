"""Sampled, bounded logging of served predictions: a capped queue, a background writer, hourly caps, gaps counted.

A request thread only decides whether the request is sampled, makes a bounded copy of what the log keeps of it
(`logged_request`: at most 64 keys, 256 characters, two levels, whatever was sent) and appends it to an in-memory
queue (no serialization, no storage): `PredictionLogger.record` never blocks and never raises. A background thread
writes what waits as JSON-lines objects under ``monitoring/<endpoint>/predictions/`` (see `log_layout`) every
`PredictionLogSettings.batch_records` records or `PredictionLogSettings.flush_seconds` seconds, and at `close`.
What cannot be kept is counted, never waited for: records sampled out, dropped because the queue is full (in records
or bytes: storage slow or down), over the hourly caps, lost because a write failed, or kept cut to the bounds
(`PredictionLogger.stats`, shown by ``/health``); and each flush after any of these grew writes their increments as
a gaps object (`log_gaps`), so that a monitor reading the log knows what it lacks.

A logger may start without knowing its endpoint (a Vertex AI serving container learns it from the registry's endpoint
record, written only once the deployment is done): the writer then asks `resolve` for it before writing, again and
again with growing delays (`endpoint_finder`), and the records wait in the queue meanwhile (bounded as always).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from registry_core.errors import InvalidInputError
from registry_core.metadata import utc_now
from registry_core.monitoring.batch_files import write_batches
from registry_core.monitoring.endpoint_finder import EndpointFinder
from registry_core.monitoring.log_errors import ErrorReport
from registry_core.monitoring.log_gaps import GAP_COUNTS, write_gaps
from registry_core.monitoring.log_layout import PREDICTIONS
from registry_core.monitoring.log_settings import LogDestination, PredictionLogSettings
from registry_core.monitoring.logged_request import LoggedRequest
from registry_core.storage.base import StorageBackend

__all__ = ["LogDestination", "PredictionLogSettings", "PredictionLogger"]  # the settings are re-exported here

logger = logging.getLogger(__name__)

_COUNTS = ("logged", "written", *GAP_COUNTS)


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
        self._pending: deque[LoggedRequest] = deque()
        self._queued = 0  # records in _pending
        self._queued_bytes = 0  # their estimated size
        self._taken = 0  # records the writer took and has not written (or lost) yet
        self._oldest = 0.0  # time.monotonic() when the oldest pending request came
        self._hour = -1
        self._this_hour = 0
        self._this_hour_bytes = 0
        self._counts = dict.fromkeys(_COUNTS, 0)
        self._gaps_written = dict.fromkeys(GAP_COUNTS, 0)  # the counts as of the last gaps object
        self._gap_since: float | None = None  # time.monotonic() since when gap counts grew unwritten
        self._errors = ErrorReport(logger)  # /health shows no storage details (bucket, account)
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
            self.count_gap("sampledOut", count)
            return
        if self._closing or self._queued + count > settings.queue_records:  # before copying: read without the lock
            self.count_gap("dropped", count)
            return
        try:
            request = LoggedRequest.kept(
                time.time(), ids, instances, predictions,
                model=model, version=version, deployed_model_id=deployed_model_id, latency_ms=latency_ms,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - a value no JSON has: the prediction is answered, the loss counted
            logger.exception("cannot log a prediction of endpoint %s", self.endpoint)
            self.count_gap("failed", count)
            return
        self._enqueue(request, count)

    def _enqueue(self, request: LoggedRequest, count: int) -> None:
        settings = self.settings
        hour = int(request.at // 3600)
        with self._cond:
            if hour != self._hour:
                self._hour, self._this_hour, self._this_hour_bytes = hour, 0, 0
            if (
                self._closing
                or self._queued + count > settings.queue_records
                or self._queued_bytes + request.size > settings.queue_bytes
            ):
                self._gap("dropped", count)
            elif (
                self._this_hour + count > settings.max_records_per_hour
                or self._this_hour_bytes + request.size > settings.max_bytes_per_hour
            ):
                self._gap("overHourlyCap", count)
            else:
                self._this_hour += count
                self._this_hour_bytes += request.size
                if not self._pending:
                    self._oldest = time.monotonic()
                self._pending.append(request)
                self._queued += count
                self._queued_bytes += request.size
                self._counts["logged"] += count
                if cut := sum(request.truncated):
                    self._gap("truncated", cut)
                if self._queued >= settings.batch_records:
                    self._cond.notify()
            started = self._thread is not None
        if not started:
            self._start()

    def count_gap(self, name: str, count: int) -> None:
        """Count `count` records (or feedback items) not logged, by a name of `GAP_COUNTS`; the next flush writes it."""
        with self._cond:
            self._gap(name, count)
            started = self._thread is not None
        if not started:
            self._start()

    def _gap(self, name: str, count: int) -> None:
        """Count a gap (holding the lock)."""
        self._counts[name] += count
        if self._gap_since is None:
            self._gap_since = time.monotonic()

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
                closing, waiting = self._closing, bool(self._pending) or self._gap_since is not None
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
                self._taken, self._queued, self._queued_bytes = self._queued, 0, 0
                closing = self._closing
            for start in range(0, len(batch), self.settings.batch_records):
                self._write(batch[start : start + self.settings.batch_records])
            with self._cond:
                self._taken = 0
            self._write_gaps()
            if closing:
                with self._cond:
                    self._thread = None
                return

    def _due(self) -> float | None:
        """When (time.monotonic()) the writer should write what waits, or None when nothing waits (holding the lock)."""
        flush = self.settings.flush_seconds
        times = [self._oldest + flush] if self._pending else []
        if self._gap_since is not None:
            times.append(self._gap_since + flush)
        return min(times) if times else None

    def _wait_for_batch(self) -> bool:
        """Wait (holding the condition) for a full or old enough batch, or close; False when idle for long."""
        settings = self.settings
        while not self._closing and self._queued < settings.batch_records:
            due = self._due()
            if due is None:
                if not self._cond.wait(settings.flush_seconds) and self._due() is None:
                    return False
                continue
            wait = due - time.monotonic()
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
            what = "cannot find the endpoint to log predictions under"
            self._errors.note(what, f"{what}: {error}", error)
            return False
        if found is None:
            self._errors.note("the endpoint to log predictions under is not known yet (records wait)")
            return False
        with self._cond:
            self.endpoint = found.endpoint
            if found.sample_rate is not None:
                self._thin(found.sample_rate)
        self._errors.clear()
        logger.info("logging predictions under endpoint %s", found.endpoint)
        return True

    def _thin(self, rate: float) -> None:
        """Apply the endpoint's sample rate, from now on and to the requests that waited for it (holding the lock)."""
        self.settings = replace(self.settings, sample_rate=rate)
        if rate >= 1:
            return
        kept: deque[LoggedRequest] = deque()
        for request in self._pending:
            if self._random() < rate:
                kept.append(request)
            else:
                count = len(request.ids)
                self._counts["logged"] -= count
                self._gap("sampledOut", count)
                self._queued -= count
                self._queued_bytes -= request.size
        self._pending = kept

    def _lose_unresolved(self) -> None:
        """At close, with no endpoint found: count what waits as lost."""
        with self._cond:
            lost = self._queued
            self._pending.clear()
            self._queued = self._queued_bytes = 0
            self._counts["failed"] += lost
            self._thread = None
        if lost:
            logger.warning(
                "%d prediction log records not written: the endpoint to log them under was never found", lost
            )

    def _recovered(self) -> None:
        if self._errors.clear():
            logger.info("endpoint %s: prediction logs are written again", self.endpoint)

    def _write(self, requests: list[LoggedRequest]) -> None:
        endpoint = self.endpoint
        assert endpoint is not None  # _run writes only once it is known
        records = [row for request in requests for row in request.rows(endpoint)]
        try:
            write_batches(self.storage, endpoint, PREDICTIONS, records, compress_above=self.settings.compress_above)
        except Exception as exc:  # noqa: BLE001 - whatever storage raises, serving goes on; the loss is counted
            with self._cond:
                self._gap("failed", len(records))
            what = "cannot write prediction logs"
            self._errors.note(what, f"{what} of endpoint {endpoint!r}: {exc}", exc)
            logger.debug("%d prediction log records lost", len(records))
        else:
            with self._cond:
                self._counts["written"] += len(records)
            self._recovered()

    def _write_gaps(self) -> None:
        """Write the gap counts that grew since the last gaps object, if any (retried at a later flush if it fails)."""
        endpoint = self.endpoint
        with self._cond:
            if self._gap_since is None or endpoint is None:
                return
            now = dict(self._counts)
            increments = {name: now[name] - self._gaps_written[name] for name in GAP_COUNTS}
        try:
            if any(increments.values()):
                write_gaps(self.storage, endpoint, increments, utc_now())
        except Exception as exc:  # noqa: BLE001 - as for records: counted in memory, written at a later flush
            with self._cond:
                self._gap_since = time.monotonic()  # not at once again: after flush_seconds
            what = "cannot write prediction log gaps"
            self._errors.note(what, f"{what} of endpoint {endpoint!r}: {exc}", exc)
            return
        with self._cond:
            self._gaps_written = {name: now[name] for name in GAP_COUNTS}
            if all(self._counts[name] == now[name] for name in GAP_COUNTS):
                self._gap_since = None

    # ------------------------------------------------------------------------------------------ control

    def flush(self, timeout: float | None = None) -> bool:
        """Write what waits now (in the writer thread); return True if nothing waits any more within `timeout`.

        Gap counts that grew are written too (one attempt: if it fails, the writer tries again later).
        """
        deadline = time.monotonic() + (self.settings.shutdown_seconds if timeout is None else timeout)
        with self._cond:
            self._oldest = -math.inf  # the writer takes what waits at once
            if self._gap_since is not None:
                self._gap_since = -math.inf
            self._cond.notify()
            started = self._thread is not None
        if not started and self._gap_since is not None:
            self._start()
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending and not self._writing() and self._gap_since != -math.inf:
                    return True
            time.sleep(0.01)
        return False

    def _writing(self) -> bool:
        """True while the writer holds records it took (they are counted neither pending nor done)."""
        return self._taken > 0

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
                lost = self._queued + self._taken
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
        error = self._errors.last
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
