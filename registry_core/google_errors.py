"""One-line messages from Google API errors (shared by the Vertex AI deployment target and pipeline submission)."""

from __future__ import annotations

import re

_REST_PREFIX = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: ")


def api_message(exc: BaseException) -> str:
    """Return "<code> <server message>" of a google.api_core error (without the request line), else str(exc)."""
    message = getattr(exc, "message", None)
    code = getattr(exc, "code", None)
    if isinstance(message, str) and message:
        message = _REST_PREFIX.sub("", message)  # REST errors start with "POST https://...: "
        return f"{int(code)} {message}" if isinstance(code, int) else message
    return str(exc) or type(exc).__name__
