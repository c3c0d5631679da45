"""What folder transfers share: thread pools kept for the life of the process, and progress counting."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

Progress = Callable[[int], None]
"""Called with the bytes transferred so far (a running total that ends at the total size), from any thread."""

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def shared_pool(name: str, workers: int) -> ThreadPoolExecutor:
    """Return the process's pool called `name`, made on first use with `workers` threads.

    Kept for the life of the process: starting and joining threads for every transfer cost a registration of a small
    model more than its copying did (a new thread waits for the scheduler, and the machine is often busy). Work
    submitted to a pool must never wait for other work in the same pool, or a full pool would deadlock.
    """
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"registry-{name}")
        return pool


def _forget_pools_in_child() -> None:
    # A forked child inherits the pools but not their threads: work submitted to them would never run.
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_in_child)


class ProgressCounter:
    """Adds up the bytes that many threads transfer and reports the running total to a `Progress` callback.

    Args:
        callback: Called with the total so far after each addition, one call at a time; None counts nothing.
    """

    def __init__(self, callback: Progress | None) -> None:
        self._callback = callback
        self._done = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        """Count `count` more bytes as transferred."""
        if self._callback is None or count <= 0:
            return
        with self._lock:  # one call at a time, so the totals a callback sees never go down
            self._done += count
            self._callback(self._done)
