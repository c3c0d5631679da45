"""The last error of a background log writer: what ``/health`` may show of it, and the whole text logged once.

``/health`` answers anyone who can reach the server, and storage errors name buckets, paths and service accounts: so
it shows what failed and the error's class only, and the server's own log gets the whole text, once per kind.
"""

from __future__ import annotations

import logging
import threading

from registry_core.text import one_line

_REMEMBERED = 100  # kinds of error remembered, so that each is logged once


class ErrorReport:
    """The last error of a writer (thread-safe).

    Args:
        log: Where the whole text of each kind of error goes, once.
    """

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._last: str | None = None
        self._logged: set[str] = set()

    @property
    def last(self) -> str | None:
        """What failed last and the error's class ("cannot write ...: StorageError (see the server log)"), or None."""
        return self._last

    def note(self, shown: str, detail: str | None = None, error: Exception | None = None) -> None:
        """Keep `shown` (with `error`'s class) as the last error; log `detail` (the whole text) if this kind is new."""
        public = f"{shown}: {type(error).__name__} (see the server log)" if error is not None else shown
        with self._lock:
            self._last = public
            new = public not in self._logged  # not the whole text: it names a new object each time
            if new and len(self._logged) < _REMEMBERED:
                self._logged.add(public)
        if new:
            self._log.warning("%s", one_line(detail or shown))

    def clear(self) -> bool:
        """Forget the last error (the same one, if it comes back, is logged again); True if there was one."""
        with self._lock:
            had, self._last = self._last is not None, None
            self._logged.clear()
        return had
