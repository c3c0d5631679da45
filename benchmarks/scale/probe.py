"""One read in a new process, as a CLI call or a pipeline step does it: ``python -m benchmarks.scale.probe '<job>'``.

The job names the root (and the emulator for a gs:// root), the read and what it must return. The process imports
the registry (and the storage client), lists the models once to connect, then times the read on a new registry
object and prints one JSON sample: seconds, and on GCS the requests and bytes of the read alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from benchmarks.scale.ours import Expected, read_calls
from benchmarks.scale.samples import Window, timed, uncounted
from registry_core import ModelRegistry, RegistryConfig


def main(job: dict[str, Any]) -> None:
    """Connect, time the job's read once, print the sample."""
    root = job["root"]
    window: Window = uncounted
    new_registry: Callable[[], ModelRegistry] = lambda: ModelRegistry(RegistryConfig(root=root))  # noqa: E731
    if job["emulator_url"]:
        from benchmarks.gcs import traffic_client
        from registry_core.storage.gcs import GCSStorage

        client, counter = traffic_client(job["emulator_url"])
        window = counter.window
        new_registry = lambda: ModelRegistry(RegistryConfig(root=root), storage=GCSStorage(root, client=client))  # noqa: E731
    new_registry().list_models()  # connect (and let the OS find the root) before the timed read
    call = read_calls(new_registry, Expected(**job["expected"]))[job["read"]]
    sample, _ = timed(call, window)
    print(json.dumps(sample))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
