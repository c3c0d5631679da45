"""Batches of records as JSON-lines objects under the registry root (gzip-compressed when that pays)."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from registry_core.monitoring.log_layout import JSONL_GZ, Kind, batch_key, hour_folder
from registry_core.storage.base import StorageBackend

COMPRESS_ABOVE = 4096
"""Batches of more bytes than this are gzip-compressed (JSON lines of features shrink about 5 times)."""


def encode_line(record: Mapping[str, Any]) -> bytes:
    """Return one record as a JSON line (NaN and infinities, which JSON cannot hold, as null)."""
    try:
        text = json.dumps(record, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        text = json.dumps(_finite(record), allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def write_batches(
    storage: StorageBackend,
    endpoint: str,
    kind: Kind,
    records: Iterable[tuple[datetime, Mapping[str, Any]]],
    *,
    compress_above: int = COMPRESS_ABOVE,
) -> list[str]:
    """Write records as one new object per hour folder they fall in; return the keys written.

    Args:
        storage: The registry's storage.
        endpoint: The endpoint they belong to.
        kind: "predictions" or "feedback".
        records: (time, record) pairs; the time chooses the hour folder.
        compress_above: Compress an object whose JSON lines are longer than this many bytes.

    Raises:
        StorageError: a write failed (objects written before it stay: each is whole, and readers take each alone).
    """
    groups: dict[str, tuple[datetime, list[bytes]]] = {}
    for at, record in records:
        folder = hour_folder(endpoint, kind, at)
        first, lines = groups.setdefault(folder, (at, []))
        lines.append(encode_line(record))
    keys = []
    for first, lines in groups.values():
        data = b"".join(lines)
        compressed = len(data) > compress_above
        key = batch_key(endpoint, kind, first, compressed=compressed)
        storage.write(key, gzip.compress(data, compresslevel=6, mtime=0) if compressed else data)
        keys.append(key)
    return keys


def read_lines(storage: StorageBackend, key: str) -> list[bytes]:
    """Return the JSON lines of one batch object (decompressed). Raises: NotFoundError, StorageError."""
    data = storage.read(key)
    if key.endswith(JSONL_GZ):
        data = gzip.decompress(data)
    return [line for line in data.split(b"\n") if line.strip()]


def utc_text(at: datetime) -> str:
    """Return `at` as ISO 8601 in UTC with microseconds and a Z (sorts as text in time order)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
