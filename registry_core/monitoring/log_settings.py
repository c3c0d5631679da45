"""How served predictions are logged: sampling, bounds and timing (`PredictionLogSettings`), and where to."""

from __future__ import annotations

import math
from dataclasses import dataclass

from registry_core.errors import InvalidInputError
from registry_core.monitoring.batch_files import COMPRESS_ABOVE
from registry_core.text import shown

RESOLVE_MAX_SECONDS = 120.0
"""Most seconds between two attempts to find a logger's endpoint (see `PredictionLogSettings.resolve_seconds`)."""


@dataclass(frozen=True)
class PredictionLogSettings:
    """How predictions are logged.

    Attributes:
        enabled: Log at all (ids are returned either way).
        sample_rate: Share of requests logged, 0 to 1 (every instance of a sampled request is logged).
        queue_records: Most records waiting for the writer; more are dropped (and counted).
        queue_bytes: Most estimated bytes (as JSON) of the records waiting for the writer; more are dropped.
        batch_records: The writer writes once this many records wait...
        flush_seconds: ...or once the oldest has waited this long.
        max_records_per_hour: Most records logged per clock hour (UTC); more are counted, not logged.
        max_bytes_per_hour: Most estimated bytes (as JSON) logged per clock hour; more are counted, not logged.
        max_feedback_per_hour: Most feedback items a server keeps per clock hour; more are refused (429).
        shutdown_seconds: How long `PredictionLogger.close` waits for the last writes.
        compress_above: Objects of more bytes than this are gzip-compressed.
        resolve_seconds: Seconds before asking again for an endpoint not found yet (doubled each time, up to
            `RESOLVE_MAX_SECONDS`).
    """

    enabled: bool = True
    sample_rate: float = 1.0
    queue_records: int = 10_000
    queue_bytes: int = 32 * 2**20
    batch_records: int = 500
    flush_seconds: float = 5.0
    max_records_per_hour: int = 100_000
    max_bytes_per_hour: int = 256 * 2**20
    max_feedback_per_hour: int = 100_000
    shutdown_seconds: float = 10.0
    compress_above: int = COMPRESS_ABOVE
    resolve_seconds: float = 5.0

    def __post_init__(self) -> None:
        """Refuse settings that make no sense. Raises: InvalidInputError."""
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            msg = f"the log sample rate must be a number from 0 to 1, got {shown(rate)}"
            raise InvalidInputError(msg)
        counts = (
            "queue_records", "queue_bytes", "batch_records", "max_records_per_hour", "max_bytes_per_hour",
            "max_feedback_per_hour",
        )  # fmt: skip
        for name in counts:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name} must be a positive integer, got {shown(value)}"
                raise InvalidInputError(msg)
        for name in ("flush_seconds", "shutdown_seconds", "resolve_seconds"):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not (math.isfinite(value) and value > 0):
                msg = f"{name} must be a positive number of seconds, got {shown(value)}"
                raise InvalidInputError(msg)


@dataclass(frozen=True)
class LogDestination:
    """The endpoint a logger's records go to, found by its `resolve` function.

    Attributes:
        endpoint: The registry endpoint name.
        sample_rate: The endpoint's share of requests to log, or None to keep the logger's.
    """

    endpoint: str
    sample_rate: float | None = None
