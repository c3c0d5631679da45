"""Contention: the bookkeeping of a compare-and-swap loop that other writers may keep beating."""

from __future__ import annotations

import random
import time

from registry_core.errors import ConcurrentModificationError

CAS_DEADLINE_SECONDS = 120.0
_BACKOFF_CAP_SECONDS = 4.0
_BACKOFF_BASE_SECONDS = 0.005


class Contention:
    """The attempts of one conditional update: which of them may have landed unseen, and how long to back off.

    A conflict may also answer a write that did land: a backend that retries a conditional write whose answer was
    lost meets its own first attempt, and once a rival has written on top, nothing in the object says it was ours.
    So the history ids each conflicting attempt wrote are kept: a fresh read holding all of one attempt's ids shows
    that attempt landed, and the change must not be applied a second time.

    Args:
        what: What is updated, for the error (e.g. "model 'churn'").
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.attempts = 0
        self._deadline = time.monotonic() + CAS_DEADLINE_SECONDS
        self._began = time.monotonic()
        self._unconfirmed: list[set[str]] = []  # history ids written by each conflicting attempt

    def begin(self) -> None:
        """Note the start of an attempt (its length sets the back-off window)."""
        self._began = time.monotonic()

    def landed(self, present: set[str]) -> bool:
        """Whether a conflicting attempt had in fact landed: all its history ids are among `present`."""
        return any(ids <= present for ids in self._unconfirmed)

    def lost(self, written: set[str]) -> None:
        """Note a lost compare-and-swap that carried history ids `written`, and wait before the next attempt.

        Full jitter keeps many contending processes from retrying in lock-step. The window grows from the time one
        attempt took: with a large document or a slow store, a fixed small window makes most attempts collide (32
        writers of a 640-version model wasted 4/5 of their work and took 2x longer).

        Raises:
            ConcurrentModificationError: other writers kept winning for CAS_DEADLINE_SECONDS.
        """
        self.attempts += 1
        if written:
            self._unconfirmed.append(written)
        if time.monotonic() > self._deadline:
            msg = f"gave up updating {self.what} after {self.attempts} conflicting attempts"
            raise ConcurrentModificationError(msg) from None
        spent = max(_BACKOFF_BASE_SECONDS, time.monotonic() - self._began)
        time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, spent * 2**self.attempts)))
