"""Retraining started by `start_retraining`: a real local run (kfp.local) and a job submitted to a Vertex stand-in.

The local run trains once on small data (one epoch) and is shared by the tests that read what it left; the Vertex
runs go through the real google-cloud-aiplatform SDK to `vertex_standin.VertexStandIn`, with the registry and the
pipeline root in the GCS emulator.
"""

# no `from __future__ import annotations`: kept like the pipeline modules, whose annotations KFP reads
import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.vertex_standin import VertexStandIn, isolated_aiplatform_config

from pipelines.local import PipelineRunError  # noqa: E402
from registry_core import ModelRegistry  # noqa: E402
from registry_core.errors import InvalidInputError, NotFoundError  # noqa: E402
from registry_core.metadata import ModelStage  # noqa: E402
from registry_core.monitoring.retraining import RetrainOutcome, RetrainRequest, start_retraining  # noqa: E402

NAME = "eyewear"
REASON = "drift in face_width_mm (0.41 > 0.2); accuracy 0.71 is 0.12 below 0.83"
REPORT = "file:///registry/monitoring/shop/reports/20261129T190000Z-ab12cd.html"
SMALL: dict[str, Any] = {
    "num_train": 300,
    "num_validation": 100,
    "num_test": 100,
    "model_config": {"epochs": 1},
    "thresholds": {"accuracy": 0.05},  # any trained model clears it
    "registered_by": "monitor",
}
PROJECT = "test-project"
REGION = "europe-west4"
IMAGE = "europe-west4-docker.pkg.dev/test-project/ml/model-registry-python:1.0.0"
CLI = str(Path(sys.executable).parent / "model-registry")

# kfp.local says that display names and resource limits mean nothing to it: true, and not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner:UserWarning")


def request(registry_root: str = "", **overrides: Any) -> RetrainRequest:
    fields = {
        "registry_root": registry_root, "model_name": NAME, "endpoint": "shop", "reason": REASON,
        "report_uri": REPORT, "parameters": SMALL,
    }  # fmt: skip
    return RetrainRequest(**(fields | overrides))


# ------------------------------------------------------------------------------------------------------ local


class LocalRun:
    """What one local retraining run returned, printed and left behind."""

    def __init__(self, root: Path) -> None:
        self.registry_root = str(root / "registry")
        self.pipeline_root = root / "runs"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            self.outcome = start_retraining(request(self.registry_root, pipeline_root=str(self.pipeline_root)))
        self.out, self.err = out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> LocalRun:
    return LocalRun(tmp_path_factory.mktemp("retrain-local"))


def test_a_local_retraining_runs_the_pipeline_and_returns_the_registered_version(local_run: LocalRun) -> None:
    outcome = local_run.outcome
    assert outcome.runner == "local"
    assert outcome.version == "v1"
    folder = Path(outcome.run)
    assert folder.parent == local_run.pipeline_root
    assert (folder / "run-local.log").is_file()
    metadata = ModelRegistry.from_uri(local_run.registry_root).get_model_metadata(NAME, "v1")
    assert metadata.lineage.pipeline_run == folder.name
    assert metadata.stage is ModelStage.STAGING  # the usual gate passed: promoted to staging
    assert metadata.registered_by == "monitor"


def test_the_retrained_version_s_lineage_says_why_it_was_trained(local_run: LocalRun) -> None:
    extra = ModelRegistry.from_uri(local_run.registry_root).get_model_metadata(NAME, "v1").lineage.extra
    assert extra["trained_because"] == REASON
    assert extra["monitoring_report"] == REPORT


def test_a_local_retraining_prints_its_progress_on_stderr_and_nothing_on_stdout(local_run: LocalRun) -> None:
    assert local_run.out == ""
    assert "register" in local_run.err


def test_get_model_shows_why_the_version_was_trained(local_run: LocalRun) -> None:
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [CLI, "--registry", local_run.registry_root, "get-model", NAME, "--version", "v1"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert f"trained because {REASON}" in lines
    assert f"monitoring report {REPORT}" in lines


def test_a_local_retraining_refuses_a_gcs_pipeline_root(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="local folder, not gs://bucket/runs"):
        start_retraining(request(str(tmp_path / "registry"), pipeline_root="gs://bucket/runs"))
    assert not (tmp_path / "registry").exists()


def test_a_local_retraining_whose_run_fails_raises_the_run_s_error(tmp_path: Path) -> None:
    # a data source with no files: the first task fails, nothing is trained or registered
    broken = request(
        str(tmp_path / "registry"), pipeline_root=str(tmp_path / "runs"), data_source_uri=str(tmp_path / "nothing")
    )
    with pytest.raises(PipelineRunError):
        start_retraining(broken)
    with pytest.raises(NotFoundError):
        ModelRegistry.from_uri(str(tmp_path / "registry")).list_versions(NAME)


# ------------------------------------------------------------------------------------------------------ vertex


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[VertexStandIn]:
    monkeypatch.delenv("MODEL_REGISTRY_ROOT", raising=False)
    monkeypatch.delenv("REGISTRY_IMAGE", raising=False)
    with VertexStandIn() as server, isolated_aiplatform_config():
        yield server


def vertex_request(standin: VertexStandIn, bucket: str, **overrides: Any) -> RetrainRequest:
    fields = {
        "registry_root": f"gs://{bucket}/registry", "runner": "vertex", "project": PROJECT, "region": REGION,
        "pipeline_root": f"gs://{bucket}/runs", "image": IMAGE, "api_endpoint": standin.url, "endpoint": "Shop.EU",
        "service_account": f"trainer@{PROJECT}.iam.gserviceaccount.com",
    }  # fmt: skip
    return request(**(fields | overrides))


def test_a_vertex_retraining_submits_the_pipeline_with_the_trigger(
    standin: VertexStandIn, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = start_retraining(vertex_request(standin, gcs_bucket, data_source_uri=f"gs://{gcs_bucket}/fresh"))

    (job,) = standin.pipeline_jobs.values()
    assert outcome == RetrainOutcome("vertex", job["name"], None)
    assert job["name"].startswith(f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/eyewear-train-and-register-")
    values = job["runtimeConfig"]["parameterValues"]
    assert values["trigger_reason"] == REASON
    assert values["trigger_report"] == REPORT
    assert values["registry_root"] == f"gs://{gcs_bucket}/registry"
    assert values["model_name"] == NAME
    assert values["data_source_uri"] == f"gs://{gcs_bucket}/fresh"
    assert values["num_train"] == 300
    assert values["model_config"] == {"epochs": 1}
    assert float(values["data_seed"]).is_integer()  # JSON numbers come back as floats
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"gs://{gcs_bucket}/runs"
    assert job["serviceAccount"] == f"trainer@{PROJECT}.iam.gserviceaccount.com"
    assert job["labels"]["trigger"] == "monitoring"
    assert job["labels"]["endpoint"] == "shop-eu"
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {IMAGE}
    # fresh data must be read again: no task may come from the cache
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert tasks["generate-data"]["cachingOptions"].get("enableCache", False) is False
    assert tasks["train-model"]["cachingOptions"].get("enableCache", False) is False
    assert capsys.readouterr().out == ""  # the SDK's progress lines stay off the caller's stdout


def test_two_vertex_retrainings_train_on_new_synthetic_data_each(standin: VertexStandIn, gcs_bucket: str) -> None:
    start_retraining(vertex_request(standin, gcs_bucket))
    start_retraining(vertex_request(standin, gcs_bucket))
    seeds = {job["runtimeConfig"]["parameterValues"]["data_seed"] for job in standin.pipeline_jobs.values()}
    assert len(seeds) == 2


def test_a_vertex_retraining_keeps_a_data_seed_given_in_the_parameters(standin: VertexStandIn, gcs_bucket: str) -> None:
    start_retraining(vertex_request(standin, gcs_bucket, parameters=SMALL | {"data_seed": 42}))
    (job,) = standin.pipeline_jobs.values()
    assert job["runtimeConfig"]["parameterValues"]["data_seed"] == 42


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"registry_root": "/tmp/registry"}, "a Vertex AI run needs a gs:// registry"),
        ({"image": ""}, "unpublished default image"),
        ({"pipeline_root": "/tmp/runs"}, "pipeline_root must be a gs://bucket"),
        ({"project": ""}, "project and region are required"),
    ],
)
def test_a_vertex_retraining_refuses_a_bad_request_before_sending_anything(
    standin: VertexStandIn, gcs_bucket: str, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        start_retraining(vertex_request(standin, gcs_bucket, **overrides))
    assert "\n" not in str(caught.value)
    assert standin.pipeline_jobs == {}
