"""Text that reaches a terminal or a log line: one line, bounded, with no control characters.

Every face (CLI, web, prediction server) turns errors and user-supplied text into display text here, so that a
message is one line, never megabytes, and never carries terminal escape sequences from a description or a name.
Messages that echo what a caller passed (names, versions, stages, paths, params) quote it with `shown`.
"""

from __future__ import annotations

import re
import reprlib

MAX_MESSAGE = 500
MAX_SHOWN = 80
"""Longest quotation of a caller's value inside a message."""
# C0 controls (but tab and newline, which `one_line` folds anyway), DEL, C1 controls, and the Unicode bidi
# overrides that reorder what a terminal shows.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_INT_BITS_SHOWN = 128  # a larger integer is described by its size: Python refuses str() past 4300 digits


def printable(text: object) -> str:
    """Return `text` with control characters shown as escapes (e.g. ESC as backslash-x1b), never obeyed."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), str(text))


def one_line(text: object, limit: int = MAX_MESSAGE) -> str:
    """Return `text` printable, on one line and at most `limit` characters (cut with a count of what was left).

    A validation error (pydantic's or FastAPI's: an exception with an ``errors()`` list) becomes its first problem,
    ``where: what``, instead of pydantic's multi-line text.
    """
    if isinstance(text, Exception) and callable(getattr(text, "errors", None)):
        text = _first_problem(text)
    line = " ".join(printable(text).split())
    if len(line) <= limit:
        return line
    kept = max(limit - 40, 0)
    return f"{line[:kept]}... ({len(line) - kept} more characters)"


def _first_problem(exc: Exception) -> str:
    """Return ``where: what`` of the first problem of a validation error."""
    problems = exc.errors()  # type: ignore[attr-defined]  # the caller checked that it has errors()
    first = problems[0] if problems else {}
    loc = tuple(first.get("loc", ()))
    if loc[:1] == ("body",):  # FastAPI's: where in the request; the body is where it always is
        loc = loc[1:]
    # The location names fields of our own models, but also keys a caller or a stored document chose: bound each.
    where = ".".join(one_line(str(p) if str(p).isprintable() else repr(p), MAX_SHOWN) for p in loc)
    what = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{where}: {what}" if where else what


class _BoundedRepr(reprlib.Repr):
    """reprlib with small limits, that cuts strings and bytes before quoting them and never prints huge integers."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxtuple = self.maxlist = self.maxarray = self.maxdict = 4
        self.maxset = self.maxfrozenset = self.maxdeque = 4
        self.maxstring = self.maxother = self.maxlong = limit

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _INT_BITS_SHOWN:
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_str(self, x: str, level: int) -> str:
        return self._cut(x, self.maxstring)

    def repr_bytes(self, x: bytes, level: int) -> str:
        return self._cut(x, self.maxstring // 4)  # a byte may take four characters, as in \xff

    @staticmethod
    def _cut(x: str | bytes, limit: int) -> str:
        if len(x) <= limit:
            return repr(x)
        # the beginning of what was passed, and its size: the end is rarely what a reader needs
        return f"{x[: max(limit - 30, 8)]!r}... ({len(x)} in all)"


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """Return `value` quoted for an error message: its repr, printable, on one line, at most about `limit` characters.

    Use it wherever a message echoes what a caller passed, so a 100 KB name makes a short message, not a 100 KB one.
    """
    try:
        text = _BoundedRepr(limit).repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ of a caller's object must not replace the real error
        text = f"<{type(value).__name__} object>"
    return one_line(text, limit + 20)
