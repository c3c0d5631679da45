"""The workload on MLflow (sqlite store, local artifacts), run in MLflow's own virtual environment."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.artifacts import Workload
from benchmarks.concurrency import run_released
from benchmarks.measurements import CONCURRENT, Measurement
from benchmarks.settings import MODEL_NAME, REPO_ROOT, Settings

_WORKER = "benchmarks.mlflow_worker"
_TIMEOUT = 1800


def bench_mlflow(workload: Workload, settings: Settings, tracking_dir: Path) -> tuple[str, dict[str, Measurement]]:
    """Run the workload on a new MLflow store in `tracking_dir`; return MLflow's version and the measurements."""
    python = settings.mlflow_python
    if not Path(python).exists():
        msg = f"MLflow's interpreter {python} is missing: run `make bench` (it creates benchmarks/.mlflow-venv)"
        raise RuntimeError(msg)
    job = {
        "tracking_dir": str(tracking_dir),
        "model": MODEL_NAME,
        "folders": [str(f) for f in workload.sequential],
        "promotions": settings.promotions,
        "resolves": settings.resolves,
        "lists": settings.lists,
    }
    report = _run(python, {**job, "command": "sequential"})
    results = {key: Measurement.from_dict(value) for key, value in report["results"].items()}
    jobs = [
        {"tracking_dir": str(tracking_dir), "model": MODEL_NAME, "folders": [str(f) for f in batch]}
        for batch in workload.concurrent
    ]
    released, reports = run_released(python, _WORKER, [{**j, "command": "concurrent"} for j in jobs], _quiet_env())
    labels = [label for r in reports for label in r["versions"]]
    if len(set(labels)) != len(labels):
        msg = f"MLflow gave duplicate labels under concurrency: {sorted(labels)}"
        raise RuntimeError(msg)
    results[CONCURRENT] = Measurement(max(r["finished"] for r in reports) - released, None, len(labels))
    return str(report["mlflow_version"]), results


def _run(python: str, job: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        [python, "-m", _WORKER, json.dumps(job)],
        capture_output=True,
        cwd=REPO_ROOT,
        env={**os.environ, **_quiet_env(), "PYTHONPATH": str(REPO_ROOT)},
        timeout=_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        msg = f"the MLflow worker failed ({completed.returncode}): {completed.stderr.decode()[-3000:]}"
        raise RuntimeError(msg)
    report: dict[str, Any] = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    return report


def _quiet_env() -> dict[str, str]:
    return {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONWARNINGS": "ignore"}
