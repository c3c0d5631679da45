"""The GCS side of the benchmark: the tests' fake-gcs-server emulator and a client whose requests are counted.

The emulator helper lives in ``tests/support/gcs_emulator.py`` (the test suite's fixtures use it); it is loaded from
there by path, so the benchmark starts the very same server the contract tests run against.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from benchmarks.settings import REPO_ROOT

if TYPE_CHECKING:
    from google.cloud.storage import Client

    from registry_core.storage.gcs import GCSStorage

_HELPER = REPO_ROOT / "tests" / "support" / "gcs_emulator.py"
_MODULE = "gcs_emulator"


def emulator_module() -> ModuleType:
    """Return ``tests/support/gcs_emulator.py`` as a module (GCSEmulator, RequestCounter, make_client)."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    spec = importlib.util.spec_from_file_location(_MODULE, _HELPER)
    if spec is None or spec.loader is None:
        msg = f"cannot load the emulator helper {_HELPER}"
        raise RuntimeError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module
    spec.loader.exec_module(module)
    return module


def start_emulator() -> Any:
    """Start fake-gcs-server on a free port and return the running GCSEmulator (call ``stop()`` when done)."""
    return emulator_module().GCSEmulator().start()


def counting_storage(url: str, uri: str) -> tuple[GCSStorage, Any]:
    """Return a GCSStorage for `uri` on the emulator at `url`, and the RequestCounter that sees all its requests."""
    from registry_core.storage.gcs import GCSStorage

    helper = emulator_module()
    counter = helper.RequestCounter()
    return GCSStorage(uri, client=helper.make_client(url, counter.session)), counter


@dataclass
class Traffic:
    """What a client sent and received during one `TrafficCounter.window()`.

    Attributes:
        requests: HTTP requests sent.
        downloaded: Response body bytes as they came over the wire (compressed if the server compressed them).
    """

    requests: int = 0
    downloaded: int = 0


class TrafficCounter:
    """Count a client's requests and downloaded bytes: its ``session`` goes to ``make_client``.

    Requests are counted all the time (``count``, as RequestCounter does); bytes only inside a `window()`, because
    counting them keeps each response until the window closes (a body is read after the response hook runs, often
    by the storage client streaming it, so it can only be measured once the operation is over).
    """

    def __init__(self) -> None:
        self._requests = emulator_module().RequestCounter()
        self.session = self._requests.session
        self.session.hooks["response"].append(self._seen)
        self._lock = threading.Lock()
        self._responses: list[Any] | None = None

    @property
    def count(self) -> int:
        """Requests sent so far."""
        return int(self._requests.count)

    def _seen(self, response: Any, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            if self._responses is not None:
                self._responses.append(response)

    @contextlib.contextmanager
    def window(self) -> Iterator[Traffic]:
        """Count what the client sends and receives until the block ends; the Traffic is filled in then."""
        traffic = Traffic()
        before = self.count
        with self._lock:
            self._responses = []
        try:
            yield traffic
        finally:
            with self._lock:
                responses, self._responses = self._responses or [], None
            traffic.requests = self.count - before
            traffic.downloaded = sum(_body_bytes(response) for response in responses)


def _body_bytes(response: Any) -> int:
    """Bytes of `response`'s body read off the connection (urllib3 counts them as it reads)."""
    tell = getattr(response.raw, "tell", None)
    if callable(tell):
        return int(tell())
    return len(response.content or b"")


def traffic_client(url: str) -> tuple[Client, TrafficCounter]:
    """Return a storage client for the emulator at `url` and the TrafficCounter of its session.

    Give the client to as many ``GCSStorage(uri, client=...)`` as needed: they share its connections and counter.
    """
    counter = TrafficCounter()
    return emulator_module().make_client(url, counter.session), counter
