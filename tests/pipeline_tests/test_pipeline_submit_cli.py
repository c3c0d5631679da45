"""`model-registry pipeline submit` end to end: the real pipeline, the real SDK, a Vertex stand-in, a GCS emulator.

Every refusal (no gs:// registry, the unpublished default image, a malformed image) is one line on stderr and
happens before any request: the stand-in records none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.vertex_standin import VertexStandIn, isolated_aiplatform_config

from components.image import DEFAULT_IMAGE
from registry_core.cli import main

PROJECT = "test-project"
REGION = "europe-west4"
IMAGE = "europe-west4-docker.pkg.dev/test-project/ml/model-registry-python:1.0.0"


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[VertexStandIn]:
    monkeypatch.delenv("MODEL_REGISTRY_ROOT", raising=False)
    monkeypatch.delenv("REGISTRY_IMAGE", raising=False)
    with VertexStandIn() as server, isolated_aiplatform_config():
        yield server


def submit(standin: VertexStandIn, bucket: str, *argv: str, registry: str | None = None) -> list[str]:
    """Return the argv of `model-registry [--registry R] pipeline submit ...` against the stand-in."""
    head = ["--registry", registry] if registry is not None else []
    return [
        *head, "pipeline", "submit", "--project", PROJECT, "--region", REGION, "--pipeline-root", f"gs://{bucket}/runs",
        "--api-endpoint", standin.url, *argv,
    ]  # fmt: skip


def images(job: dict) -> set[str]:
    return {e["container"]["image"] for e in job["pipelineSpec"]["deploymentSpec"]["executors"].values()}


def test_submit_sends_the_compiled_pipeline_with_the_gcs_registry_image_and_parameters(
    standin: VertexStandIn, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(submit(
        standin, gcs_bucket, "--image", IMAGE, "--service-account", f"runner@{PROJECT}.iam.gserviceaccount.com",
        "--param", "num_train=500", "--param", 'thresholds={"accuracy": 0.6}', registry=f"gs://{gcs_bucket}/registry",
    ))  # fmt: skip
    out, err = capsys.readouterr()

    assert code == 0, err
    (job,) = standin.pipeline_jobs.values()
    assert job["name"].startswith(f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/")
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
    assert images(job) == {IMAGE}


def test_submit_takes_the_registry_from_the_environment(
    standin: VertexStandIn, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_ROOT", f"gs://{gcs_bucket}/from-env")
    monkeypatch.setenv("REGISTRY_IMAGE", IMAGE)  # read when the command runs
    code = main(submit(standin, gcs_bucket))
    assert code == 0, capsys.readouterr().err
    (job,) = standin.pipeline_jobs.values()
    assert job["runtimeConfig"]["parameterValues"]["registry_root"] == f"gs://{gcs_bucket}/from-env"
    assert images(job) == {IMAGE}


@pytest.mark.parametrize(
    ("registry", "env", "message"),
    [
        ("/tmp/somewhere", None, "error: a Vertex AI run needs a gs:// registry (each task runs in its own container), "
                                 "got '/tmp/somewhere'"),
        (None, "/home/me/.local/share/model-registry", "needs a gs:// registry"),
        (None, None, "error: a Vertex AI run needs a gs:// registry: give --registry gs://BUCKET/PATH or set "
                     "MODEL_REGISTRY_ROOT"),
    ],
)
def test_submit_refuses_anything_but_a_gcs_registry_before_any_request(
    registry: str | None, env: str | None, message: str, standin: VertexStandIn, gcs_bucket: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    if env is not None:
        monkeypatch.setenv("MODEL_REGISTRY_ROOT", env)
    code = main(submit(standin, gcs_bucket, "--image", IMAGE, registry=registry))
    _, err = capsys.readouterr()

    assert code == 2
    assert err.count("\n") == 1
    assert message in err
    assert standin.requests == []


def test_submit_refuses_the_unpublished_default_image_and_says_how_to_build_one(
    standin: VertexStandIn, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(submit(standin, gcs_bucket, registry=f"gs://{gcs_bucket}/registry"))
    _, err = capsys.readouterr()

    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"error: the pipeline would run in the unpublished default image {DEFAULT_IMAGE}")
    assert "make image" in err
    assert "gcloud builds submit --config cloudbuild.yaml" in err
    assert "--image" in err
    assert standin.requests == []


def test_submit_refuses_a_template_compiled_with_the_default_image_unless_given_one(
    standin: VertexStandIn, gcs_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "pipeline.yaml"
    assert main(["pipeline", "compile", "-o", str(template)]) == 0
    registry = f"gs://{gcs_bucket}/registry"

    assert main(submit(standin, gcs_bucket, "--template", str(template), registry=registry)) == 2
    assert "unpublished default image" in capsys.readouterr().err
    assert standin.requests == []

    assert main(submit(standin, gcs_bucket, "--template", str(template), "--image", IMAGE, registry=registry)) == 0
    (job,) = standin.pipeline_jobs.values()
    assert images(job) == {IMAGE}
    assert yaml.safe_load(template.read_text())["deploymentSpec"] is not None  # the user's file is left as it was
    assert DEFAULT_IMAGE in template.read_text()


def test_submit_with_a_malformed_image_is_a_one_line_error_before_any_request(
    standin: VertexStandIn, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(submit(standin, gcs_bucket, "--image", "my image", registry=f"gs://{gcs_bucket}/registry"))
    _, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines() == ["error: invalid image reference 'my image': expected [HOST/]PATH[:TAG][@sha256:DIGEST]"]
    assert standin.requests == []


def test_submit_to_a_missing_pipeline_root_bucket_is_one_line(
    standin: VertexStandIn, gcs_emulator: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "--registry", "gs://no-such-bucket/registry", "pipeline", "submit", "--project", PROJECT, "--region", REGION,
        "--pipeline-root", "gs://no-such-bucket/runs", "--image", IMAGE, "--api-endpoint", standin.url,
    ])  # fmt: skip
    _, err = capsys.readouterr()

    assert code != 0
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert standin.pipeline_jobs == {}


def test_the_readme_s_pipeline_commands_use_only_options_the_cli_has(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Pipelines") : readme.index("## Deployment")]
    pattern = r"model-registry (?:--registry \S+ )?pipeline (compile|run-local|submit)((?:.|\\\n)*)"
    commands = re.findall(pattern, section)
    assert {name for name, _ in commands} == {"compile", "run-local", "submit"}
    for name, rest in commands:
        main(["pipeline", name, "--help"])
        help_text = capsys.readouterr().out
        for option in re.findall(r"(--[a-z][a-z-]+)", rest.split("#")[0]):
            assert option in help_text, (name, option)
