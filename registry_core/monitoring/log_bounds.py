"""What a prediction log keeps of a request: a bounded copy of each instance, made on the request path.

A request body may be up to its limit (10 MB) of one string, or an instance of 100,000 keys; the log keeps at most
`MAX_ITEMS` keys (or items) of each object (or list), strings of at most `MAX_CHARS` characters and nesting
`MAX_DEPTH` levels below the instance (an object or list deeper down becomes a short placeholder). Copying costs the
size of what is kept, never of what was sent (``len`` of a dict, a list or a string is free). The model's outputs are
kept whole but for their strings, cut the same way: the model makes them, the caller does not.
"""

from __future__ import annotations

import math
from itertools import islice
from typing import Any

MAX_ITEMS = 64
"""Most keys of an object, or items of a list, kept."""
MAX_CHARS = 256
"""Most characters of a string (or an object key) kept."""
MAX_DEPTH = 2
"""Objects and lists this many levels below the instance become a placeholder ("<list of 300 items>"): an instance
keeps its values, and the items of a value that is a list or an object, so at most 64 x 64 strings."""
_SCALAR_BYTES = 8  # a number, true, false or null, with its comma: an estimate, not an exact count


class BoundedCopy:
    """A copier that cuts what it copies to the bounds and notes whether it cut anything, and the kept size.

    Args:
        max_items: Most keys or items kept per object or list (None: all).
        max_depth: Most levels of nesting kept below the value copied (None: all).

    Attributes:
        truncated: Something was cut or replaced by a placeholder since the last `reset`.
        size: Estimated bytes of the copies as JSON lines, since the last `reset`.
    """

    def __init__(self, max_items: int | None = MAX_ITEMS, max_depth: int | None = MAX_DEPTH) -> None:
        self.max_items = max_items
        self.max_depth = max_depth
        self.truncated = False
        self.size = 0

    def reset(self) -> None:
        """Forget what was cut and counted (before the next record)."""
        self.truncated = False
        self.size = 0

    def copy(self, value: Any, depth: int = 0) -> Any:
        """Return a bounded copy of `value` (a JSON value), at `depth` levels below the instance."""
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, dict | list | tuple):
            if self.max_depth is not None and depth >= self.max_depth:
                self.truncated = True
                kind = "object of" if isinstance(value, dict) else "list of"
                unit = "keys" if isinstance(value, dict) else "items"
                return self._text(f"<{kind} {len(value)} {unit}>")
            if self.max_items is not None and len(value) > self.max_items:
                self.truncated = True
            self.size += 2
            if isinstance(value, dict):
                return {
                    self._text(str(key)): self.copy(item, depth + 1)
                    for key, item in islice(value.items(), self.max_items)
                }
            return [self.copy(item, depth + 1) for item in islice(value, self.max_items)]
        self.size += _SCALAR_BYTES if not isinstance(value, float) or math.isfinite(value) else 5
        return value

    def _text(self, text: str) -> str:
        if len(text) > MAX_CHARS:
            self.truncated = True
            text = text[:MAX_CHARS]
        self.size += len(text) + 3
        return text
