"""At most one retraining per endpoint per cooldown, whatever the number of monitors running at once.

The claim is one small object, ``monitoring/<endpoint>/retraining.json`` = {"at": ISO time}, taken by a conditional
write (create, or compare-and-swap of the generation read): of two monitors racing, one wins and the other skips;
a claim younger than the cooldown is not taken. A retraining that fails gives its claim back.
"""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from registry_core.arguments import validate_name
from registry_core.errors import ConflictError, NotFoundError
from registry_core.monitoring.log_layout import MONITORING_PREFIX
from registry_core.storage.base import StorageBackend

CLAIM_FILE = "retraining.json"
_RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


class RetrainClaim:
    """The retraining claim of one endpoint.

    Args:
        storage: The registry's storage.
        endpoint: The endpoint (validated as a name).
    """

    def __init__(self, storage: StorageBackend, endpoint: str) -> None:
        self.storage = storage
        self.key = f"{MONITORING_PREFIX}{validate_name(endpoint, 'endpoint')}/{CLAIM_FILE}"
        self._generation: str | None = None

    def take(self, now: datetime, cooldown: timedelta) -> str | None:
        """Claim retraining at `now`; return None when claimed, else why not (one line)."""
        data = json.dumps({"at": now.astimezone(UTC).isoformat()}).encode()
        try:
            current, generation = self.storage.read_with_generation(self.key)
        except NotFoundError:
            try:
                self._generation = self.storage.create(self.key, data)
            except ConflictError:
                return "another monitor of this endpoint is starting retraining"
            return None
        last = _claimed_at(current)
        if last is not None and now - last < cooldown:
            return f"retraining already started at {last:%Y-%m-%d %H:%M} UTC (cooldown {cooldown})"
        try:
            self._generation = self.storage.compare_and_swap(self.key, data, generation)
        except ConflictError:
            return "another monitor of this endpoint is starting retraining"
        return None

    def release(self) -> None:
        """Give the claim back (after a failed retraining), unless someone took it since."""
        if self._generation is None:
            return
        data = json.dumps({"at": _RELEASED.isoformat()}).encode()
        with suppress(ConflictError, NotFoundError):  # taken or removed since: theirs now
            self.storage.compare_and_swap(self.key, data, self._generation)
        self._generation = None


def _claimed_at(data: bytes) -> datetime | None:
    """The claim's time; None for a damaged claim (which is then taken over rather than blocking for ever)."""
    try:
        at = datetime.fromisoformat(json.loads(data)["at"])
    except (ValueError, KeyError, TypeError):
        return None
    return at if at.tzinfo is not None else None
