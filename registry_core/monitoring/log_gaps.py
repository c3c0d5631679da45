"""Gaps in an endpoint's log, made visible: counts of what a server did not log, written beside the records.

A server keeps the first records of each hour up to its caps, samples, drops what its queue cannot hold, loses what
storage refuses, cuts what is too large and refuses feedback over its cap. Counts in its memory (``/health``) die with
it, so whenever its writer flushes and any of them grew, it writes one small object under
``monitoring/<endpoint>/gaps/`` (see `log_layout`) with the increments since its previous one:

    {"time": "2026-03-01T10:00:05.123456Z", "endpoint": "shop", "sampledOut": 0, "dropped": 120, ...}

`registry_core.monitoring.log_reader.PredictionLogReader.gaps` sums them over a window, so that a monitor knows
when the records it reads are not all there were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from registry_core.monitoring.batch_files import utc_text
from registry_core.monitoring.log_layout import gaps_key
from registry_core.storage.base import StorageBackend

GAP_COUNTS = ("sampledOut", "dropped", "overHourlyCap", "failed", "truncated", "feedbackOverHourlyCap")
"""What a gaps object counts: records sampled out, dropped (queue full), over the hourly caps, lost to a failed write,
logged cut to the bounds (`log_bounds`), and feedback items refused over the server's hourly cap."""


def write_gaps(storage: StorageBackend, endpoint: str, increments: Mapping[str, int], at: datetime) -> str:
    """Write one gaps object of `endpoint` with `increments` (by the names of `GAP_COUNTS`); return its key.

    Raises:
        StorageError: the write failed.
    """
    body = {"time": utc_text(at), "endpoint": endpoint, **{name: increments.get(name, 0) for name in GAP_COUNTS}}
    key = gaps_key(endpoint, at)
    storage.write(key, json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return key
