"""The big registration against its like-for-like baseline: ``cp -r`` followed by ``sha256sum`` of the copy.

The registry hashes every byte it stores (verified artifacts), so the baseline copies and hashes too; the copy's
files are hashed in parallel, one ``sha256sum`` per CPU, as the registry hashes in parallel threads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.scale.workload import REGISTRANT
from registry_core import ModelRegistry, RegistryConfig


def copy_and_hash(folder: Path, destination: Path) -> float:
    """Time ``cp -r folder destination`` then ``sha256sum`` of every copied file; remove the copy afterwards."""
    script = 'cp -r "$1" "$2" && find "$2" -type f -print0 | xargs -0 -r -n 1 -P "$3" sha256sum >/dev/null'
    start = time.perf_counter()
    subprocess.run(["sh", "-c", script, "sh", str(folder), str(destination), str(os.cpu_count() or 1)], check=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(destination)
    return seconds


def compare_big(folder: Path, scratch: Path, rounds: int) -> dict[str, list[float]]:
    """Register `folder` in a local registry and run the baseline, `rounds` times each in alternating order.

    ``os.sync()`` runs before each timed step, so neither pays for the other's dirty pages.

    Returns:
        "ours" and "baseline": the seconds of each run.
    """
    registry = ModelRegistry(RegistryConfig(root=str(scratch / "big-registry")))
    runs: dict[str, list[float]] = {"ours": [], "baseline": []}

    def ours() -> None:
        start = time.perf_counter()
        registry.register_model("big", folder, registered_by=REGISTRANT)
        runs["ours"].append(time.perf_counter() - start)

    def baseline() -> None:
        runs["baseline"].append(copy_and_hash(folder, scratch / "big-copy"))

    for round_ in range(rounds):
        for step in (ours, baseline) if round_ % 2 == 0 else (baseline, ours):
            os.sync()
            step()
    shutil.rmtree(scratch / "big-registry")
    return runs
