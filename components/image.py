"""The one container image every component runs in (built from the repo's Dockerfile).

Set REGISTRY_IMAGE when compiling to point the pipeline at your build, e.g.
``REGISTRY_IMAGE=us-docker.pkg.dev/my-project/ml/model-registry-python:0.1.0 model-registry pipeline compile``.
"""

from __future__ import annotations

import os

DEFAULT_IMAGE = "us-docker.pkg.dev/eyewearml/registry/model-registry-python:0.1.0"
REGISTRY_IMAGE = os.environ.get("REGISTRY_IMAGE", DEFAULT_IMAGE)
