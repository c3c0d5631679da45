"""`model-registry pipeline submit` end to end: the real pipeline, the real SDK, a Vertex stand-in, a GCS emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from vertex_standin import VertexStandIn, isolated_aiplatform_config

from registry_core.cli import main

PROJECT = "test-project"
REGION = "us-central1"


@pytest.fixture
def standin() -> Iterator[VertexStandIn]:
    with VertexStandIn() as server, isolated_aiplatform_config():
        yield server


def test_submit_sends_the_compiled_pipeline_with_the_gcs_registry_and_parameters(
    standin: VertexStandIn, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "--registry", f"gs://{gcs_bucket}/registry", "pipeline", "submit", "--project", PROJECT, "--region", REGION,
        "--pipeline-root", f"gs://{gcs_bucket}/runs", "--service-account", f"runner@{PROJECT}.iam.gserviceaccount.com",
        "--param", "num_train=500", "--param", 'thresholds={"accuracy": 0.6}', "--api-endpoint", standin.url,
    ])  # fmt: skip
    out, err = capsys.readouterr()

    assert code == 0, err
    (job,) = standin.pipeline_jobs.values()
    job_id = job["name"].rsplit("/", 1)[1]
    assert out.splitlines() == [
        f"submitted {job['name']}",
        f"  https://console.cloud.google.com/vertex-ai/locations/{REGION}/pipelines/runs/{job_id}?project={PROJECT}",
    ]
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "eyewear-train-and-register"
    runtime = job["runtimeConfig"]
    assert runtime["gcsOutputDirectory"] == f"gs://{gcs_bucket}/runs"
    values = runtime["parameterValues"]
    assert values["registry_root"] == f"gs://{gcs_bucket}/registry"
    assert values["num_train"] == 500
    assert values["thresholds"] == {"accuracy": 0.6}
    assert job["serviceAccount"] == f"runner@{PROJECT}.iam.gserviceaccount.com"
    images = {e["container"]["image"] for e in job["pipelineSpec"]["deploymentSpec"]["executors"].values()}
    assert len(images) == 1


def test_submit_refuses_a_local_registry_for_a_vertex_run(
    standin: VertexStandIn, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "--registry", "/tmp/somewhere", "pipeline", "submit", "--project", PROJECT, "--region", REGION,
        "--pipeline-root", f"gs://{gcs_bucket}/runs", "--api-endpoint", standin.url,
    ])  # fmt: skip
    _, err = capsys.readouterr()

    assert code == 2
    assert "needs a gs:// registry" in err
    assert standin.pipeline_jobs == {}


def test_submit_to_a_missing_pipeline_root_bucket_is_one_line(
    standin: VertexStandIn, gcs_emulator: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "pipeline", "submit", "--project", PROJECT, "--region", REGION, "--pipeline-root", "gs://no-such-bucket/runs",
        "--api-endpoint", standin.url,
    ])  # fmt: skip
    _, err = capsys.readouterr()

    assert code != 0
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert standin.pipeline_jobs == {}
