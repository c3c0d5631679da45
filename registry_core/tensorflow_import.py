"""Import TensorFlow on first use, without the lines its C++ runtime writes to stderr while it loads.

TensorFlow prints oneDNN and CPU-feature notices straight to file descriptor 2 before its logging is set up, so
``TF_CPP_MIN_LOG_LEVEL`` cannot silence them; a CLI user would see five lines of noise above every answer. Unless
``TF_CPP_MIN_LOG_LEVEL`` asks for them (0 or 1), they are caught while TensorFlow loads and dropped, or replayed
on stderr if the import fails, so nothing that explains a failure is lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import ModuleType

from registry_core.errors import DependencyMissingError

_LOCK = threading.Lock()


def import_tensorflow(purpose: str) -> ModuleType:
    """Return the ``tensorflow`` module, imported quietly.

    Args:
        purpose: What needs it, for the error message ("serving models").

    Raises:
        DependencyMissingError: TensorFlow is not installed.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _LOCK:
        try:
            if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ("0", "1"):
                import tensorflow  # noqa: F401 - the module is returned from sys.modules, typed
            else:
                _import_quietly()
        except ImportError as exc:
            msg = f"{purpose} needs TensorFlow: pip install 'registry-core[tf]' (on Python 3.11-3.13)"
            raise DependencyMissingError(msg) from exc
    return sys.modules["tensorflow"]


def _import_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Python-side TF logging: warnings and errors only
    with native_stderr_caught():
        import tensorflow  # noqa: F401 - the caller returns it from sys.modules


@contextlib.contextmanager
def native_stderr_caught() -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 meanwhile; drop it, or replay it if an error escapes.

    TensorFlow's runtime prints its notices there (on import, and again on a model's first prediction), past where
    its logging settings reach.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
