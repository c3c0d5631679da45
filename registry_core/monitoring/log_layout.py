"""Where prediction logs and feedback live under the registry root, by endpoint and hour (UTC).

    monitoring/<endpoint>/predictions/<YYYY-MM-DD>/<HH>/<time>-<id>.jsonl[.gz]   one object per batch of records
    monitoring/<endpoint>/feedback/<YYYY-MM-DD>/<HH>/<time>-<id>.jsonl[.gz]      one object per feedback request
    monitoring/<endpoint>/gaps/<YYYY-MM-DD>/<HH>/<time>-<id>.json                 what a server did not log, counted

Objects are never appended to (GCS has no append): each batch is a new object whose name starts with the time of
its first record, so that a listing is in time order. A reader lists only the hour (or whole day) folders of its
window.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

from registry_core.arguments import validate_name

MONITORING_PREFIX = "monitoring/"
Kind = Literal["predictions", "feedback", "gaps"]
PREDICTIONS: Kind = "predictions"
FEEDBACK: Kind = "feedback"
GAPS: Kind = "gaps"
JSON = ".json"
JSONL = ".jsonl"
JSONL_GZ = ".jsonl.gz"
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def kind_prefix(endpoint: str, kind: Kind) -> str:
    """Return the folder of an endpoint's predictions or feedback. Raises: InvalidNameError."""
    return f"{MONITORING_PREFIX}{validate_name(endpoint, 'endpoint')}/{kind}/"


def hour_folder(endpoint: str, kind: Kind, at: datetime) -> str:
    """Return the folder of the hour holding `at` (UTC), ending in "/"."""
    at = at.astimezone(UTC)
    return f"{kind_prefix(endpoint, kind)}{at:%Y-%m-%d}/{at:%H}/"


def batch_key(endpoint: str, kind: Kind, first: datetime, *, compressed: bool) -> str:
    """Return a new object's key for a batch whose first record is at `first` (a random part keeps it unique)."""
    first = first.astimezone(UTC)
    suffix = JSONL_GZ if compressed else JSONL
    return f"{hour_folder(endpoint, kind, first)}{first:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(6)}{suffix}"


def gaps_key(endpoint: str, at: datetime) -> str:
    """Return a new key for the gap counts a server writes at `at` (a random part keeps it unique)."""
    at = at.astimezone(UTC)
    return f"{hour_folder(endpoint, GAPS, at)}{at:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(6)}{JSON}"


def window_folders(endpoint: str, kind: Kind, start: datetime, end: datetime) -> Iterator[str]:
    """Yield the folders to list for records in ``[start, end)``: whole days inside it, else single hours."""
    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC)
    prefix = kind_prefix(endpoint, kind)
    while at < end:
        if at.hour == 0 and at + _DAY <= end:
            yield f"{prefix}{at:%Y-%m-%d}/"  # one listing instead of 24
            at += _DAY
        else:
            yield hour_folder(endpoint, kind, at)
            at += _HOUR
