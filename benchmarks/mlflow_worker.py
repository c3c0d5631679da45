"""The workload on MLflow's model registry; runs inside MLflow's own virtual environment.

    python -m benchmarks.mlflow_worker '{"command": "sequential", ...}'  # set up, register, alias, resolve, list
    python -m benchmarks.mlflow_worker '{"command": "concurrent", ...}'  # one of the P concurrent registrants

Only the standard library and MLflow are imported here (plus ``benchmarks.measurements`` and
``benchmarks.concurrency``, which need nothing else), so MLflow's pins never meet ours. The store is a sqlite
database with local artifacts under the job's ``tracking_dir``. Prints one JSON line as the last line of output.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measurements import LIST, PROMOTE, REGISTER, RESOLVE, measure

ALIAS = "production"
EXPERIMENT = "bench"

# No telemetry or other network traffic from MLflow during the benchmark.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _client(tracking_dir: str) -> Any:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{tracking_dir}/mlflow.db")
    return MlflowClient()


def _experiment_id(client: Any, tracking_dir: str) -> str:
    existing = client.get_experiment_by_name(EXPERIMENT)
    if existing is not None:
        return str(existing.experiment_id)
    artifacts = Path(tracking_dir, "artifacts").as_uri()
    return str(client.create_experiment(EXPERIMENT, artifact_location=artifacts))


def register(client: Any, experiment_id: str, model: str, folder: str) -> str:
    """Log `folder` as the artifacts of a new run and register them as a new version of `model`; return its label."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifacts(folder, artifact_path="model")
    version = client.create_model_version(model, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return str(version.version)


def sequential(job: dict[str, Any]) -> dict[str, Any]:
    """Create the store, then time registrations, alias moves, resolves by alias and listings."""
    import mlflow

    client = _client(job["tracking_dir"])
    experiment_id = _experiment_id(client, job["tracking_dir"])  # creates the database (not timed)
    model = job["model"]
    client.create_registered_model(model)
    results = {REGISTER: measure(_call(register, client, experiment_id, model, f) for f in job["folders"])}
    labels = [str(i) for i in range(1, len(job["folders"]) + 1)][-job["promotions"] :]
    results[PROMOTE] = measure(_call(client.set_registered_model_alias, model, ALIAS, label) for label in labels)
    if str(client.get_model_version_by_alias(model, ALIAS).version) != labels[-1]:
        msg = "the production alias is not on the last promoted version"
        raise RuntimeError(msg)
    results[RESOLVE] = measure(_call(client.get_model_version_by_alias, model, ALIAS) for _ in range(job["resolves"]))
    expected = len(job["folders"])
    results[LIST] = measure(_call(_list_all, client, model, expected) for _ in range(job["lists"]))
    return {"mlflow_version": mlflow.__version__, "results": {k: v.as_dict() for k, v in results.items()}}


def _list_all(client: Any, model: str, expected: int) -> None:
    listed = client.search_model_versions(f"name='{model}'")
    if len(listed) != expected:
        msg = f"MLflow listed {len(listed)} versions, expected {expected}"
        raise RuntimeError(msg)


def _call(function: Any, *args: Any) -> Any:
    return lambda: function(*args)


def concurrent(job: dict[str, Any]) -> dict[str, Any]:
    """Set up a client, wait for the release, register the job's folders."""
    from benchmarks.concurrency import wait_for_release

    client = _client(job["tracking_dir"])
    experiment_id = _experiment_id(client, job["tracking_dir"])
    client.get_registered_model(job["model"])  # warm the connection
    wait_for_release(job)
    labels = [register(client, experiment_id, job["model"], folder) for folder in job["folders"]]
    return {"versions": labels, "finished": time.time(), "requests": None}


if __name__ == "__main__":
    payload = json.loads(sys.argv[1])
    report = {"sequential": sequential, "concurrent": concurrent}[payload["command"]](payload)
    sys.stdout.write(json.dumps(report) + "\n")
