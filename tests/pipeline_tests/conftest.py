"""Pipeline tests: quiet TensorFlow (task subprocesses inherit it), and import the real project packages.

The folders tests/components and tests/pipelines share their names with the project's packages. tests/ is on
sys.path (tests/conftest.py puts it there, and pytest's "prepend" import mode does too), and the editable install
resolves packages through a finder that comes after sys.path: `import components` would then give this test
folder as an empty namespace package. Importing the installed packages here, with the test folders hidden, puts
the real ones in sys.modules before any test module imports them.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

# before TensorFlow is imported anywhere in this session; never set by the library itself
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_TESTS = Path(__file__).resolve().parent.parent


def _import_project_package(name: str) -> None:
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None):
        return  # the real package (a namespace package has no __file__)
    sys.modules.pop(name, None)
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if not Path(p or ".").resolve().is_relative_to(_TESTS)]
    try:
        importlib.import_module(name)
    finally:
        sys.path[:] = saved


for _package in ("components", "pipelines"):
    _import_project_package(_package)
