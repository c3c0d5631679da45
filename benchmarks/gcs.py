"""The GCS side of the benchmark: the tests' fake-gcs-server emulator and a client whose requests are counted.

The emulator helper lives in ``tests/support/gcs_emulator.py`` (the test suite's fixtures use it); it is loaded from
there by path, so the benchmark starts the very same server the contract tests run against.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from benchmarks.settings import REPO_ROOT

if TYPE_CHECKING:
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
