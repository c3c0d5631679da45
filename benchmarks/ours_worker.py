"""One of the P processes of the concurrent registrations: ``python -m benchmarks.ours_worker '<json job>'``.

The job names the registry root (and the emulator for gs:// roots), the folders to register, a ready file to write
once set up and a start file to wait for. Prints one JSON line: the labels it got, when it finished (epoch
seconds) and how many HTTP requests it sent (GCS only).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from benchmarks.concurrency import wait_for_release
from benchmarks.ours import REGISTRANT
from benchmarks.settings import MODEL_NAME
from registry_core import ModelRegistry, RegistryConfig


def main(job: dict[str, Any]) -> None:
    """Set up, signal readiness, wait for the start file, register the folders, print the report."""
    counter = None
    if job["emulator_url"]:
        from benchmarks.gcs import counting_storage

        storage, counter = counting_storage(job["emulator_url"], job["root"])
        registry = ModelRegistry(RegistryConfig(root=job["root"]), storage=storage)
    else:
        registry = ModelRegistry(RegistryConfig(root=job["root"]))
    registry.storage.root_exists()  # connect before the start signal
    before = counter.count if counter is not None else 0
    wait_for_release(job)
    labels = [registry.register_model(MODEL_NAME, f, registered_by=REGISTRANT).version for f in job["folders"]]
    finished = time.time()
    requests = counter.count - before if counter is not None else None
    print(json.dumps({"versions": labels, "finished": finished, "requests": requests}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
