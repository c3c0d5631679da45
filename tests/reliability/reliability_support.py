"""Helpers shared by the reliability tests: start worker processes together behind a barrier, make tiny artifacts.

Each worker is ``python workers.py <command> <json-args>``: a fresh process with its own ModelRegistry (and, on GCS,
its own client). Workers write a ready file once imported and connected, then poll for a start file, so that the
timed part really overlaps instead of running one after another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

WORKERS = Path(__file__).with_name("workers.py")


def spawn(command: str, args: dict[str, Any]) -> subprocess.Popen[str]:
    """Start one worker process (it inherits STORAGE_EMULATOR_HOST and the rest of the environment)."""
    return subprocess.Popen(  # noqa: S603 - our own worker script
        [sys.executable, str(WORKERS), command, json.dumps(args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def run_together(
    tmp_path: Path, jobs: list[tuple[str, dict[str, Any]]], *, timeout: float = 90.0, tag: str = "barrier"
) -> list[dict[str, Any]]:
    """Start every job as a process, release them at once when all are ready, return each one's JSON result.

    Raises (via pytest.fail/assert): a worker died before the start, was not ready in time, or failed.
    """
    barrier = tmp_path / tag
    barrier.mkdir()
    start = barrier / "start"
    processes = []
    try:
        for index, (command, args) in enumerate(jobs):
            args = {**args, "start_file": str(start), "ready_file": str(barrier / f"ready-{index}")}
            processes.append(spawn(command, args))
        deadline = time.monotonic() + timeout
        while sum(1 for p in barrier.iterdir() if p.name.startswith("ready-")) < len(jobs):
            for process in processes:
                if process.poll() is not None:
                    _, err = process.communicate()
                    pytest.fail(f"a worker exited before the start signal ({process.returncode}): {err[-2000:]}")
            assert time.monotonic() < deadline, "workers did not get ready in time"
            time.sleep(0.01)
        start.touch()
        results = []
        for process in processes:
            remaining = max(1.0, deadline + timeout - time.monotonic())
            out, err = process.communicate(timeout=remaining)
            assert process.returncode == 0, f"worker failed ({process.returncode}): {err[-3000:]}"
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def tiny_artifact(folder: Path, text: str) -> str:
    """A two-file artifact folder whose digest is unique to `text` (plus randomness); return its path."""
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(text.encode() + os.urandom(32))
    (folder / "config.json").write_text(json.dumps({"who": text}))
    return str(folder)
