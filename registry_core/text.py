"""Text that reaches a terminal or a log line: one line, bounded, with no control characters.

Every face (CLI, web, prediction server) turns errors and user-supplied text into display text here, so that a
message is one line, never megabytes, and never carries terminal escape sequences from a description or a name.
"""

from __future__ import annotations

import re

MAX_MESSAGE = 500
# C0 controls (but tab and newline, which `one_line` folds anyway), DEL, C1 controls, and the Unicode bidi
# overrides that reorder what a terminal shows.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """Return `text` with control characters shown as escapes (e.g. ESC as backslash-x1b), never obeyed."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), str(text))


def one_line(text: object, limit: int = MAX_MESSAGE) -> str:
    """Return `text` printable, on one line and at most `limit` characters (cut with a count of what was left)."""
    line = " ".join(printable(text).split())
    if len(line) <= limit:
        return line
    kept = max(limit - 40, 0)
    return f"{line[:kept]}... ({len(line) - kept} more characters)"
