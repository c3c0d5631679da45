"""Timing one call, or a few calls of a read, into samples: seconds, and on GCS requests and bytes downloaded.

Only the standard library is imported here: MLflow's worker uses it too. A sample is a JSON-ready dict, so workers
in other processes (and other virtual environments) report them as they are.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

Sample = dict[str, float]  # "seconds", and "requests" and "downloaded" (bytes) where they were counted


class Traffic(Protocol):
    """What a counting window saw (benchmarks.gcs.Traffic)."""

    requests: int
    downloaded: int


Window = Callable[[], contextlib.AbstractContextManager[Traffic | None]]


@contextlib.contextmanager
def _uncounted() -> Iterator[None]:
    yield None


def uncounted() -> contextlib.AbstractContextManager[Traffic | None]:
    """A window that counts nothing (local storage, MLflow)."""
    return _uncounted()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the garbage collector off every object that exists now until the block ends (``gc.freeze``).

    A turn runs in a process that holds other things: our local and GCS registries share the harness process, and
    each keeps its last parse of the model. Without this, a call that allocates a lot pays for collections that walk
    all of those too (a fresh reader at 3,000 versions took 225 ms instead of 140), which a CLI process never would.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def timed(call: Callable[[], Any], window: Window = uncounted) -> tuple[Sample, Any]:
    """Call `call` once; return its sample and its result."""
    with window() as traffic:
        start = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - start
    sample: Sample = {"seconds": seconds}
    if traffic is not None:
        sample.update(requests=traffic.requests, downloaded=traffic.downloaded)
    return sample, result


def repeated(call: Callable[[], Any], most: int, budget_seconds: float, window: Window = uncounted) -> list[Sample]:
    """Call `call` up to `most` times, stopping once the calls took `budget_seconds` (always at least once)."""
    samples: list[Sample] = []
    spent = 0.0
    while len(samples) < most and (not samples or spent < budget_seconds):
        sample, _ = timed(call, window)
        samples.append(sample)
        spent += sample["seconds"]
    return samples


def median_seconds(samples: Iterable[Sample]) -> float:
    """The median time of `samples`."""
    return statistics.median(s["seconds"] for s in samples)


def most(samples: Iterable[Sample], key: str) -> float | None:
    """The largest `key` ("requests", "downloaded") of `samples`, or None where it was not counted."""
    values = [s[key] for s in samples if key in s]
    return max(values) if values else None
