"""Finding the endpoint a prediction logger writes under, when it starts without one: asked again, less and less often.

A Vertex AI serving container learns its registry endpoint from the registry's endpoint record, written only once
its deployment is done, after the container started (see `registry_core.deploy.container_log`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from registry_core.monitoring.log_settings import RESOLVE_MAX_SECONDS, LogDestination


class EndpointFinder:
    """Calls `resolve` when an attempt is due, doubling the delay between attempts up to `RESOLVE_MAX_SECONDS`.

    Args:
        resolve: Returns the endpoint (and perhaps its sample rate), or None while there is none.
        first_delay: Seconds between the first two attempts.
    """

    def __init__(self, resolve: Callable[[], LogDestination | None], first_delay: float) -> None:
        self._resolve = resolve
        self._delay = first_delay
        self.next_attempt = 0.0  # time.monotonic() of the next attempt

    def due_in(self) -> float:
        """Seconds until the next attempt is due (0 or less: now)."""
        return self.next_attempt - time.monotonic()

    def find(self, *, force: bool = False) -> tuple[LogDestination | None, Exception | None]:
        """Ask for the endpoint if an attempt is due (or `force`): the destination found, or what went wrong.

        Returns:
            (destination, None) once found; (None, None) when not due or not recorded yet; (None, error) when
            `resolve` raised (storage down or the like: asked again later).
        """
        now = time.monotonic()
        if not force and now < self.next_attempt:
            return None, None
        self.next_attempt = now + self._delay
        self._delay = min(RESOLVE_MAX_SECONDS, self._delay * 2)
        try:
            return self._resolve(), None
        except Exception as exc:  # noqa: BLE001 - whatever storage raises, serving goes on; asked again later
            return None, exc
