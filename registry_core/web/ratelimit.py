"""A limit on wrong tokens: so many per client address within a sliding time window, then 429 with Retry-After."""

from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from collections.abc import Callable

MAX_CLIENTS = 10_000  # addresses remembered at once; the one that failed longest ago is forgotten first


class TooManyAttemptsError(Exception):
    """A client address reached the limit of wrong tokens; it may try again in `retry_after` seconds.

    Args:
        retry_after: Whole seconds until the oldest counted failure leaves the window.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong tokens from your address; try again in {retry_after} s")
        self.retry_after = retry_after


def client_key(host: str | None) -> str:
    """Return the key failures are counted under: the IPv4 address, or the /64 network of an IPv6 one.

    One IPv6 host usually holds a whole /64, so counting single addresses would let it take a fresh one per try.
    """
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class AttemptLimiter:
    """Counts failed attempts per client in a sliding window and refuses a client that reached the limit (thread-safe).

    Args:
        limit: Failures allowed within `window`; the next attempt is refused until the oldest one is `window` old.
        window: Seconds.
        capacity: Clients remembered at once.
        clock: Source of the current time (monotonic).
    """

    def __init__(
        self, limit: int, window: float, *, capacity: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def check(self, client: str) -> None:
        """Let `client` try.

        Raises:
            TooManyAttemptsError: it failed `limit` times within the window.
        """
        now = self._clock()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return
            while times and times[0] <= now - self.window:
                times.popleft()
            if not times:
                del self._failures[client]
                return
            if len(times) >= self.limit:
                raise TooManyAttemptsError(max(1, math.ceil(times[0] + self.window - now)))

    def failed(self, client: str) -> None:
        """Count a failed attempt of `client`."""
        now = self._clock()
        with self._lock:
            times = self._failures.pop(client, None) or collections.deque(maxlen=self.limit)
            times.append(now)
            self._failures[client] = times  # most recent last
            while len(self._failures) > self.capacity:
                self._failures.popitem(last=False)
