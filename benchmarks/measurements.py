"""What one system's run of the workload measured: a time (and on GCS a request count) per operation."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

# The operations of the workload, in the order the tables show them.
REGISTER = "register"
PROMOTE = "promote"
RESOLVE = "resolve"
LIST = "list"
CONCURRENT = "concurrent"
BIG = "big"
RAW_BIG = "raw_big"  # the big folder copied or uploaded without the registry


class Counter(Protocol):
    """Something that counts HTTP requests (tests/support/gcs_emulator.py's RequestCounter)."""

    count: int


@dataclass(frozen=True)
class Measurement:
    """One operation's result.

    Attributes:
        seconds: Median time of one operation (for concurrent registrations: the wall time of all of them).
        requests: Mean HTTP requests per operation, counted on the client's session (GCS only).
        samples: How many operations were timed.
    """

    seconds: float
    requests: float | None = None
    samples: int = 1

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Build one from `as_dict()` output (or from a worker's JSON)."""
        return cls(float(data["seconds"]), data.get("requests"), int(data.get("samples", 1)))


def measure(calls: Iterable[Callable[[], object]], counter: Counter | None = None) -> Measurement:
    """Run each call once, timing it (and counting its requests); return the median time and mean request count."""
    durations: list[float] = []
    requests = 0
    for call in calls:
        before = counter.count if counter is not None else 0
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
        requests += (counter.count - before) if counter is not None else 0
    if not durations:
        msg = "nothing was measured"
        raise ValueError(msg)
    mean_requests = requests / len(durations) if counter is not None else None
    return Measurement(statistics.median(durations), mean_requests, len(durations))
