"""`model-registry pipeline upload` and `pipeline schedule`, as users type them, against the Vertex AI stand-in.

Uploads go through kfp's own ``RegistryClient`` to the stand-in's Artifact Registry template host; schedules through
``aiplatform.PipelineJob(...).create_schedule``; the pipeline-root bucket lives in the GCS emulator.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.vertex_standin import VertexStandIn, isolated_aiplatform_config

from pipelines.compile import compile_pipeline
from pipelines.train_and_register import PIPELINE_NAME
from registry_core.cli import main

PROJECT = "test-project"
REGION = "us-central1"
HOST = f"https://{REGION}-kfp.pkg.dev/{PROJECT}/pipelines"
CLI = str(Path(sys.executable).parent / "model-registry")
SERVICE_ACCOUNT = f"runner@{PROJECT}.iam.gserviceaccount.com"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/ml/model-registry-python:1.0"


@pytest.fixture
def standin() -> Iterator[VertexStandIn]:
    with isolated_aiplatform_config(), VertexStandIn() as server:
        server.kfp_repositories.add(f"{REGION}/{PROJECT}/pipelines")
        yield server


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_pipeline(tmp_path_factory.mktemp("compiled") / "pipeline.yaml", image=IMAGE)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [CLI, *args], capture_output=True, text=True, env=os.environ | {"COLUMNS": "200"}, timeout=120, check=False
    )


# ---------------------------------------------------------------------------------------------- upload


def test_upload_compiles_the_pipeline_and_makes_a_tagged_template_version(
    standin: VertexStandIn, tmp_path: Path
) -> None:
    tags = ["--tag", "latest", "--tag", "v3"]
    result = _run(["pipeline", "upload", "--host", HOST, *tags, "--image", IMAGE, "--api-endpoint", standin.url])

    assert result.returncode == 0, result.stderr
    package = standin.kfp_packages[f"{REGION}/{PROJECT}/pipelines/{PIPELINE_NAME}"]
    ((version, content),) = package["versions"].items()
    assert version == "sha256:" + hashlib.sha256(content).hexdigest()
    compiled = yaml.safe_load(content)
    assert compiled["pipelineInfo"]["name"] == PIPELINE_NAME  # the compiled pipeline went up, on the given image
    assert {e["container"]["image"] for e in compiled["deploymentSpec"]["executors"].values()} == {IMAGE}
    assert package["tags"] == {"latest": version, "v3": version}
    assert result.stdout.splitlines() == [
        f"uploaded {PIPELINE_NAME} {version} to {HOST}",
        f"template: {HOST}/{PIPELINE_NAME}/{version}",
        f"tag latest: {HOST}/{PIPELINE_NAME}/latest",
        f"tag v3: {HOST}/{PIPELINE_NAME}/v3",
    ]
    (upload,) = standin.calls("POST")
    assert upload.path == f"/{REGION}-kfp.pkg.dev/{PROJECT}/pipelines"

    # what a user downloads from the repository (kfp's client, by tag) is what was compiled
    from kfp.registry import RegistryClient

    client = RegistryClient(host=f"{standin.url}/{REGION}-kfp.pkg.dev/{PROJECT}/pipelines", auth=lambda r: r)
    downloaded = client.download_pipeline(PIPELINE_NAME, tag="latest", file_name=str(tmp_path / "got.yaml"))
    assert Path(downloaded).read_bytes() == content


def test_upload_of_a_given_template_is_the_same_version_every_time(
    standin: VertexStandIn, template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--json", "pipeline", "upload", "--host", HOST, "--template", str(template), "--api-endpoint", standin.url]

    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*args, "--tag", "latest"]) == 0
    second = json.loads(capsys.readouterr().out)

    digest = "sha256:" + hashlib.sha256(template.read_bytes()).hexdigest()
    assert first == {
        "host": HOST, "package": PIPELINE_NAME, "version": digest, "tags": [],
        "template_url": f"{HOST}/{PIPELINE_NAME}/{digest}", "tag_urls": {},
    }  # fmt: skip
    assert second["version"] == digest
    assert second["tag_urls"] == {"latest": f"{HOST}/{PIPELINE_NAME}/latest"}
    assert list(standin.kfp_packages[f"{REGION}/{PROJECT}/pipelines/{PIPELINE_NAME}"]["versions"]) == [digest]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--host", f"https://{REGION}-kfp.pkg.dev/{PROJECT}/missing"], 9, "refused the upload .*: 404 Repository"),
        (["--host", "https://example.com/repo"], 2, "https://LOCATION-kfp.pkg.dev/PROJECT/REPOSITORY"),
        (["--host", HOST, "--tag", "sha256:abc"], 2, "a tag is letters"),
        (["--host", HOST, "--tag", "two words"], 2, "a tag is letters"),
    ],
)
def test_upload_mistakes_and_refusals_are_one_line(
    standin: VertexStandIn, template: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    result = main(["pipeline", "upload", *args, "--template", str(template), "--api-endpoint", standin.url])

    out, err = capsys.readouterr()
    assert result == code
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert re.search(message, err), err
    assert standin.kfp_packages == {}


def test_upload_refuses_the_unpublished_default_image(
    standin: VertexStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    result = main(["pipeline", "upload", "--host", HOST, "--api-endpoint", standin.url])

    assert result == 2
    assert "unpublished default image" in capsys.readouterr().err
    assert standin.kfp_packages == {}


# ---------------------------------------------------------------------------------------------- schedule


def test_schedule_creates_a_cron_schedule_of_the_compiled_pipeline(standin: VertexStandIn, gcs_bucket: str) -> None:
    result = _run([
        "--registry", f"gs://{gcs_bucket}/registry", "pipeline", "schedule", "--cron", "TZ=Europe/Paris 0 3 * * 1",
        "--project", PROJECT, "--region", REGION, "--pipeline-root", f"gs://{gcs_bucket}/runs",
        "--param", "num_train=500", "--service-account", SERVICE_ACCOUNT, "--max-concurrent-runs", "2",
        "--image", IMAGE, "--api-endpoint", standin.url,
    ])  # fmt: skip

    assert result.returncode == 0, result.stderr
    ((name, schedule),) = standin.schedules.items()
    schedule_id = name.rsplit("/", 1)[1]
    assert result.stdout == (
        f"scheduled {name}\n  https://console.cloud.google.com/vertex-ai/locations/{REGION}/pipelines/schedules/"
        f"{schedule_id}?project={PROJECT}\n"
    )  # and nothing else: the SDK's progress lines are not printed
    assert name.startswith(f"projects/{PROJECT}/locations/{REGION}/schedules/")
    assert schedule["cron"] == "TZ=Europe/Paris 0 3 * * 1"
    assert schedule["displayName"] == PIPELINE_NAME
    assert schedule["maxConcurrentRunCount"] == "2"
    job = schedule["createPipelineJobRequest"]["pipelineJob"]
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == PIPELINE_NAME
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"gs://{gcs_bucket}/runs"
    assert job["runtimeConfig"]["parameterValues"]["registry_root"] == f"gs://{gcs_bucket}/registry"
    assert job["runtimeConfig"]["parameterValues"]["num_train"] == 500
    assert job["serviceAccount"] == SERVICE_ACCOUNT

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    aiplatform.init(api_endpoint=standin.url, api_transport="rest")
    found = aiplatform.PipelineJobSchedule.get(name, credentials=AnonymousCredentials())  # the stand-in's get
    assert (found.display_name, found.cron, found.state.name) == (PIPELINE_NAME, schedule["cron"], "ACTIVE")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--cron", "every monday"], 2, "a cron schedule is five fields"),
        (["--cron", "0 3 * *"], 2, "a cron schedule is five fields"),
        (["--cron", "0 3 * * 1", "--max-concurrent-runs", "0"], 2, "run counts must be at least 1"),
        (["--cron", "0 3 * * 1", "--param", "no_such_parameter=1"], 2, "no_such_parameter"),
    ],
)
def test_schedule_mistakes_are_one_line_and_create_nothing(
    standin: VertexStandIn,
    gcs_bucket: str,
    template: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    result = main([
        "--registry", f"gs://{gcs_bucket}/registry", "pipeline", "schedule", *args, "--project", PROJECT,
        "--region", REGION, "--template", str(template),
        "--pipeline-root", f"gs://{gcs_bucket}/runs", "--api-endpoint", standin.url,
    ])  # fmt: skip

    _, err = capsys.readouterr()
    assert result == code
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert message in err
    assert standin.schedules == {}


def test_schedule_needs_the_pipeline_root_bucket_and_a_gcs_registry(
    standin: VertexStandIn, gcs_bucket: str, template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--cron", "0 3 * * 1", "--project", PROJECT, "--region", REGION, "--template", str(template)]

    missing = main(["--registry", f"gs://{gcs_bucket}/registry", "pipeline", "schedule", *common,
                    "--pipeline-root", "gs://no-such-bucket-here/runs", "--api-endpoint", standin.url])  # fmt: skip
    assert missing == 9
    assert "gs://no-such-bucket-here does not exist" in capsys.readouterr().err
    local = main(["--registry", "/tmp/registry", "pipeline", "schedule", *common,
                  "--pipeline-root", f"gs://{gcs_bucket}/runs", "--api-endpoint", standin.url])  # fmt: skip
    assert local == 2
    assert "needs a gs:// registry" in capsys.readouterr().err
    assert standin.schedules == {}
