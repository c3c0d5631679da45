"""Run worker processes that set up first, then start registering at the same moment (a file barrier)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.settings import REPO_ROOT

_READY_TIMEOUT = 180.0
_RUN_TIMEOUT = 600.0


def run_released(
    python: str, module: str, jobs: list[dict[str, Any]], env: dict[str, str] | None = None
) -> tuple[float, list[dict[str, Any]]]:
    """Run ``python -m module '<job json>'`` once per job; release them together once all are ready.

    Each job gets ``ready_file`` (the worker creates it when set up) and ``start_file`` (it waits for it). A worker
    prints one JSON object as its last line of output.

    Returns:
        The release time (epoch seconds) and each worker's JSON report, in job order.
    """
    with tempfile.TemporaryDirectory(prefix="bench-barrier-") as barrier:
        start_file = Path(barrier) / "start"
        ready_files = [Path(barrier) / f"ready-{index}" for index in range(len(jobs))]
        environment = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO_ROOT)}
        processes = [
            subprocess.Popen(
                [python, "-m", module, json.dumps({**job, "ready_file": str(ready), "start_file": str(start_file)})],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=REPO_ROOT,
                env=environment,
            )
            for job, ready in zip(jobs, ready_files, strict=True)
        ]
        try:
            _wait_until_ready(ready_files, processes)
            released = time.time()
            start_file.touch()
            return released, [_report(process) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def _wait_until_ready(ready_files: list[Path], processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while not all(path.exists() for path in ready_files):
        failed = [process for process in processes if process.poll() is not None]
        if failed or time.monotonic() > deadline:
            errors = [process.communicate()[1].decode(errors="replace")[-2000:] for process in failed]
            msg = f"benchmark workers did not get ready: {errors or 'timed out'}"
            raise RuntimeError(msg)
        time.sleep(0.01)


def _report(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, err = process.communicate(timeout=_RUN_TIMEOUT)
    if process.returncode != 0:
        msg = f"benchmark worker exited with {process.returncode}: {err.decode(errors='replace')[-3000:]}"
        raise RuntimeError(msg)
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return report


def wait_for_release(job: dict[str, Any]) -> None:
    """In a worker: say it is ready, then wait for the start file."""
    Path(job["ready_file"]).touch()
    start = Path(job["start_file"])
    while not start.exists():
        time.sleep(0.001)
