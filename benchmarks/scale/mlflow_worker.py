"""The scale workload on MLflow's model registry (sqlite store, local artifacts), in MLflow's own virtual environment.

    python -m benchmarks.scale.mlflow_worker serve '<setup job>'   # then one JSON command per line on stdin
    python -m benchmarks.scale.mlflow_worker probe '<probe job>'   # one read in a new process, one JSON sample

``serve`` answers each command with one JSON line on stdout: ``{"command": "grow", "folders": [[index, path], ...]}``
registers versions, ``{"command": "round", ...}`` measures a round as ``benchmarks.scale.ours`` does for our registry,
``{"command": "size"}`` gives the store's size. A version is a run (its params, metrics and lineage tags in one
``log_batch``, its folder through ``log_artifacts``) registered with ``create_model_version``; production is an alias.
A listing is ``search_model_versions`` (page after page) and the model's aliases (``get_registered_model``), since
the versions it returns carry no aliases; their metrics stay on the runs (MLflow's sqlite store does not return them).
Only the standard library, MLflow and the standard-library modules of ``benchmarks.scale`` are imported here.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.scale.operations import (
    IN_PROCESS,
    LIST,
    PROMOTE,
    REGISTER,
    REGISTER_1MB,
    RESOLVE_LABEL,
    RESOLVE_STAGE,
    WARM,
    read_op,
)
from benchmarks.scale.samples import Sample, frozen_heap, repeated, timed
from benchmarks.scale.workload import MODEL_NAME, PRODUCTION, version_fields

EXPERIMENT = "bench-scale"

# No telemetry or other network traffic from MLflow during the benchmark.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def tracking_uri(tracking_dir: str) -> str:
    """The sqlite store of `tracking_dir` (tracking and registry alike)."""
    return f"sqlite:///{tracking_dir}/mlflow.db"


def new_client(uri: str) -> Any:
    """A new MlflowClient (MLflow keeps one store per URI in the process, so this makes no new connection)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def list_all(client: Any) -> list[Any]:
    """Every version of the model (search_model_versions, page after page)."""
    listed: list[Any] = []
    token = None
    while True:
        page = client.search_model_versions(f"name='{MODEL_NAME}'", page_token=token)
        listed.extend(page)
        token = page.token
        if not token:
            return listed


def read_calls(client: Callable[[], Any], expected: dict[str, Any]) -> dict[str, Callable[[], object]]:
    """The reads on the client `client()` gives, each checking its answer (as ``benchmarks.scale.ours`` does)."""

    def resolve_stage() -> None:
        _expect(str(client().get_model_version_by_alias(MODEL_NAME, PRODUCTION).version), expected["production"])

    def resolve_label() -> None:
        _expect(str(client().get_model_version(MODEL_NAME, expected["label"]).version), expected["label"])

    def list_versions() -> None:
        # search_model_versions leaves the aliases out of what it returns: the stage comes from the model's aliases.
        reader = client()
        listed = list_all(reader)
        stages = {str(version): alias for alias, version in reader.get_registered_model(MODEL_NAME).aliases.items()}
        _expect(len(listed), expected["count"])
        _expect(sum(1 for v in listed if stages.get(str(v.version)) == PRODUCTION), 1)

    return {RESOLVE_STAGE: resolve_stage, RESOLVE_LABEL: resolve_label, LIST: list_versions}


def _expect(found: object, wanted: object) -> None:
    if found != wanted:
        msg = f"MLflow answered {found!r}, expected {wanted!r}"
        raise RuntimeError(msg)


class Worker:
    """A new MLflow store with the one model, and a client kept warm across commands."""

    def __init__(self, job: dict[str, Any]) -> None:
        import mlflow

        self.uri = tracking_uri(job["tracking_dir"])
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.client = new_client(self.uri)
        artifacts = Path(job["tracking_dir"], "artifacts").as_uri()
        self.experiment_id = self.client.create_experiment(EXPERIMENT, artifact_location=artifacts)
        self.client.create_registered_model(MODEL_NAME)
        self.database = Path(job["tracking_dir"], "mlflow.db")
        self.reads, self.read_seconds = int(job["reads"]), float(job["read_seconds"])
        self.count = 0
        self.mlflow_version = mlflow.__version__

    def register(self, folder: str, index: int) -> str:
        """Log a run with the version's params, metrics, lineage and files, register it; return the version."""
        import mlflow
        from mlflow.entities import Metric, Param, RunTag

        fields = version_fields(index)
        lineage = fields["lineage"]
        run_tags = {
            "mlflow.source.git.commit": lineage["code_version"],
            "training_data": ",".join(lineage["training_data_uris"]),
            "pipeline_run": lineage["pipeline_run"],
            "parent_version": lineage["parent_version"] or "",
        }
        now = int(time.time() * 1000)
        with mlflow.start_run(experiment_id=self.experiment_id) as run:
            self.client.log_batch(
                run.info.run_id,
                metrics=[Metric(key, value, now, 0) for key, value in fields["metrics"].items()],
                params=[Param(key, str(value)) for key, value in fields["params"].items()],
                tags=[RunTag(key, value) for key, value in run_tags.items()],
            )
            mlflow.log_artifacts(folder, artifact_path="model")
        version = self.client.create_model_version(
            MODEL_NAME, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
            tags={tag: "true" for tag in fields["tags"]}, description=fields["description"],
        )  # fmt: skip
        self.count += 1
        return str(version.version)

    def grow(self, command: dict[str, Any]) -> dict[str, Any]:
        """Register each [index, folder]; answer (versions before, seconds) per registration."""
        durations = []
        for index, folder in command["folders"]:
            start = time.perf_counter()
            before = self.count
            self.register(folder, index)
            durations.append((before, time.perf_counter() - start))
        return {"durations": durations}

    def round(self, command: dict[str, Any]) -> dict[str, Any]:
        """Register two versions, move the alias to the first, time the in-process reads; answer the samples."""
        with frozen_heap():
            return self._round(command)

    def _round(self, command: dict[str, Any]) -> dict[str, Any]:
        samples: dict[str, list[Sample]] = {}
        sample, tiny = timed(lambda: self.register(command["tiny"], command["tiny_index"]))
        samples[REGISTER] = [sample]
        sample, _ = timed(lambda: self.register(command["one_mb"], command["one_mb_index"]))
        samples[REGISTER_1MB] = [sample]
        sample, _ = timed(lambda: self.client.set_registered_model_alias(MODEL_NAME, PRODUCTION, tiny))
        samples[PROMOTE] = [sample]
        expected = {"production": tiny, "label": str(command["label_index"]), "count": self.count}
        for way in IN_PROCESS:
            client: Callable[[], Any] = (lambda: self.client) if way == WARM else (lambda: new_client(self.uri))
            for read, call in read_calls(client, expected).items():
                samples[read_op(read, way)] = repeated(call, self.reads, self.read_seconds)
        return {"samples": samples, "expected": expected}

    def size(self, command: dict[str, Any]) -> dict[str, Any]:
        """The sqlite database's size in bytes (with its write-ahead log, if any)."""
        files = [self.database, self.database.with_name(self.database.name + "-wal")]
        return {"bytes": sum(f.stat().st_size for f in files if f.exists()), "count": self.count}


def serve(job: dict[str, Any]) -> None:
    """Set up, then answer commands from stdin until it closes (anything MLflow prints goes to stderr)."""
    answers = sys.stdout
    sys.stdout = sys.stderr
    try:
        worker = Worker(job)
        answer: dict[str, Any] = {"mlflow_version": worker.mlflow_version}
    except Exception:  # noqa: BLE001 - reported to the harness, which raises it
        answer = {"error": traceback.format_exc()}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
    if "error" in answer:
        return
    for line in sys.stdin:
        command = json.loads(line)
        try:
            answer = getattr(worker, command["command"])(command)
        except Exception:  # noqa: BLE001 - reported to the harness, which raises it
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def probe(job: dict[str, Any]) -> None:
    """In a new process: import MLflow, connect with a first query, time one read on a new client, print it."""
    uri = tracking_uri(job["tracking_dir"])
    new_client(uri).search_registered_models(max_results=1)  # connect (engine, schema check) before timing
    call = read_calls(lambda: new_client(uri), job["expected"])[job["read"]]
    sample, _ = timed(call)
    print(json.dumps(sample))


if __name__ == "__main__":
    {"serve": serve, "probe": probe}[sys.argv[1]](json.loads(sys.argv[2]))
