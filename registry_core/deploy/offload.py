"""Where the prediction server runs a request's blocking work: a worker thread, or the event loop when it is quick."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

INLINE_BODY_BYTES = 16 * 1024
"""Bodies up to this size may be answered on the event loop (parsing a few instances takes microseconds)."""
INLINE_SECONDS = 0.002
"""Work that took less than this last time may run on the event loop next time."""


class Offload:
    """Runs blocking work (parsing a body, calling the model) in a worker thread, or on the loop when it is quick.

    A hop to a worker thread and back costs about 0.1 ms of CPU, a quarter of a small model's whole answer
    (``make bench-serve``), so work for a small body runs on the event loop while such work keeps taking less than
    `INLINE_SECONDS` and no work for a large body runs in a worker thread (it may hold the model's lock for long, and
    the loop would wait for it). Anything else goes to Starlette's thread pool, and one slow call sends the next ones
    there until a threaded one is quick again: a slow model holds up the loop for about one call at most.
    """

    def __init__(self) -> None:
        self._quick = False  # the first call goes to a thread: nothing is known about the model yet
        self._large_in_threads = 0  # touched on the loop's thread only

    async def __call__(self, work: Callable[[], T], body_bytes: int) -> T:
        """Return `work()`, run on the loop or in a worker thread; what it raises propagates.

        Args:
            work: The blocking work.
            body_bytes: The size of the request body it works on.
        """
        small = body_bytes <= INLINE_BODY_BYTES
        if small and self._quick and not self._large_in_threads:
            started = time.perf_counter()
            try:
                return work()
            finally:
                self._quick = time.perf_counter() - started < INLINE_SECONDS

        def timed() -> T:
            started = time.perf_counter()
            try:
                return work()
            finally:
                if small:
                    self._quick = time.perf_counter() - started < INLINE_SECONDS

        # small work in threads does not count: it was quick a moment ago, so the loop would wait for one call at most
        # (counting it kept a busy server off the loop: with a request always in a thread, no call ran on the loop)
        self._large_in_threads += not small
        try:
            return await run_in_threadpool(timed)
        finally:
            self._large_in_threads -= not small
