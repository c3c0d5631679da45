"""Pipeline tests: quiet TensorFlow's C++ logging before any test imports it (never set by the library)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
