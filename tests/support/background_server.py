"""An HTTP server on a free port of 127.0.0.1, served from a daemon thread: the scaffolding of every test stand-in."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class BackgroundServer:
    """Serve `handler` on 127.0.0.1 until `stop` (or the end of a ``with`` block).

    The server and its request threads are daemons, so a test that forgets to stop it never hangs the run.

    Args:
        handler: The request handler class.
        name: The serving thread's name (shown in thread dumps).
        server_class: A ThreadingHTTPServer subclass, when the stand-in needs more of the server.
        owner: Set as the server's ``owner`` attribute, for handlers to reach their stand-in
            (``self.server.owner``).
        poll_interval: How often `serve_forever` looks for a shutdown request; shorter stops faster.
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str,
        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
        owner: Any = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.handler = handler
        self.name = name
        self.server_class = server_class
        self.owner = owner
        self.poll_interval = poll_interval
        self.server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        if self.server is None:
            msg = f"the {self.name} is not running"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        """Bind a free port and serve on a daemon thread (again after `stop`; a second call does nothing)."""
        if self.server is not None:
            return self
        server = self.server_class(("127.0.0.1", 0), self.handler)
        server.daemon_threads = True  # a request thread never keeps the test run alive
        server.owner = self.owner  # type: ignore[attr-defined]
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": self.poll_interval}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
