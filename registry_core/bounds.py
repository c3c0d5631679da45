"""Limits on what a version stores, so that whatever is accepted reads back equal with any JSON reader, ours too.

A value that breaks one document breaks every read of its model (all its versions), so these are checked before
anything is written: integers that every JSON reader keeps exactly, finite numbers, text that is valid Unicode,
and bounded lengths and counts (every component that starts cold downloads the whole document).
"""

from __future__ import annotations

import math
from collections.abc import Sized

from registry_core.errors import InvalidInputError
from registry_core.text import shown

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer stored (either sign): I-JSON's limit (RFC 7493), which readers that parse numbers as doubles,
such as JavaScript's, keep exactly. Larger ones can be stored as strings."""
MAX_TEXT = 10_000
"""Longest free text: descriptions, reasons, comments, parameter and annotation values, lineage notes."""
MAX_KEY = 256
"""Longest name of a parameter, annotation or lineage note."""
MAX_URI = 2048
"""Longest training-data URI, pipeline run or code version."""
MAX_ENTRIES = 1000
"""Most parameters, metrics, annotations or training-data URIs of one version."""
MAX_TAGS = 100
"""Most tags of one version."""


def check_text(value: object, what: str, limit: int = MAX_TEXT) -> str:
    """Return `value` if it is a string of at most `limit` characters that UTF-8 can encode.

    Raises:
        InvalidInputError: naming `what`.
    """
    if not isinstance(value, str):
        msg = f"{what} must be a string, got {type(value).__name__}"
        raise InvalidInputError(msg)
    if len(value) > limit:
        msg = f"{what} is longer than {limit} characters: {shown(value)}"
        raise InvalidInputError(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates (e.g. from a mis-decoded file name) cannot be written as JSON text.
        msg = f"{what} is not valid Unicode (a lone surrogate at position {exc.start}): {shown(value)}"
        raise InvalidInputError(msg) from None
    return value


def check_number(value: int | float, what: str) -> int | float:
    """Return `value` if it is a finite float or an integer within ±MAX_SAFE_INTEGER (bools pass as they are).

    Raises:
        InvalidInputError: naming `what`.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        msg = (
            f"{what} is {shown(value)}, beyond ±(2**53 - 1), the integers every JSON reader keeps exactly; "
            "store it as a string"
        )
        raise InvalidInputError(msg)
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"{what} must be finite, got {value}"
        raise InvalidInputError(msg)
    return value


def check_count(items: Sized, what: str, limit: int = MAX_ENTRIES) -> None:
    """Refuse more than `limit` items.

    Raises:
        InvalidInputError: naming `what`.
    """
    if len(items) > limit:
        msg = f"too many {what}: {len(items)}, at most {limit}"
        raise InvalidInputError(msg)
