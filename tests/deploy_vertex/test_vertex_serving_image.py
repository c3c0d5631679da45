"""Which image Vertex AI serves with: the project's own by default (checked in Artifact Registry), named, or prebuilt.

The real google-cloud-aiplatform SDK and google-auth's session talk to `vertex_standin.VertexStandIn`, which also
answers Artifact Registry's ``tags.get``; the registry lives in the GCS emulator.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.vertex_standin import VertexStandIn, isolated_aiplatform_config
from vertex_support import MODEL, PROJECT, REGION, on_vertex, register_versions

from registry_core import ModelRegistry, ServingImageMissingError
from registry_core.deploy.vertex import PREBUILT_SERVING_IMAGE, VertexTarget
from registry_core.deploy.vertex_image import ProjectImage, installed_tag
from registry_core.errors import InvalidInputError
from registry_core.metadata import ModelStage

DEFAULT_IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/ml/model-registry-serving:{installed_tag()}"
NAMED_IMAGE = "europe-docker.pkg.dev/images-project/shared/model-registry-serving:2.0"  # published nowhere here
REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "model-registry")


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[VertexStandIn]:
    monkeypatch.delenv("REGISTRY_IMAGE_REPOSITORY", raising=False)
    monkeypatch.delenv("REGISTRY_SERVING_IMAGE", raising=False)
    with isolated_aiplatform_config(), VertexStandIn() as server:
        yield server






def _to_production(registry: ModelRegistry, version: str) -> None:
    for stage in (ModelStage.VALIDATION, ModelStage.STAGING):
        registry.promote_model(MODEL, version, stage, actor="alice")
    registry.promote_model(MODEL, version, ModelStage.PRODUCTION, approved_by="bob", actor="bob")


def _specs(standin: VertexStandIn) -> list[dict[str, Any]]:
    """The container spec of every uploaded model version, oldest first."""
    return [v["containerSpec"] for versions in standin.models.values() for v in versions]


def _tag_lookups(standin: VertexStandIn) -> list[str]:
    return [r.path for r in standin.calls("GET", "/artifactregistry.googleapis.com/")]


def test_the_default_image_is_the_project_s_serving_image_once_artifact_registry_has_it(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from registry_core.cli import main

    (version,) = register_versions(registry, tmp_path, 1)
    standin.push_image(DEFAULT_IMAGE)

    deployment, record, metadata = registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin))

    (spec,) = _specs(standin)
    assert spec["imageUri"] == DEFAULT_IMAGE
    assert spec["command"] == ["model-registry", "serve-container"]
    assert spec["ports"] == [{"containerPort": 8080}]
    assert {e["name"]: e["value"] for e in spec["env"]}["REGISTRY_ARTIFACT_DIGEST"] == metadata.artifact_digest
    tag = ProjectImage(PROJECT, REGION).tag_name
    assert tag.endswith(f"/repositories/ml/packages/model-registry-serving/tags/{installed_tag()}")
    assert _tag_lookups(standin) == [f"/artifactregistry.googleapis.com/v1/{tag}"]
    paths = [r.path for r in standin.requests]
    first_upload = next(i for i, p in enumerate(paths) if p.endswith("models:upload"))
    assert paths.index(f"/artifactregistry.googleapis.com/v1/{tag}") < first_upload  # checked before uploading
    assert deployment.image == DEFAULT_IMAGE
    assert registry.get_endpoint("shop").deployments[0].image == DEFAULT_IMAGE  # recorded
    assert "serving_image" not in record.target_settings  # the default follows the deploying version

    assert main(["--registry", registry.storage.uri, "endpoints", "describe", "shop"]) == 0
    described = capsys.readouterr().out
    assert DEFAULT_IMAGE in described
    assert "the project's serving image of the deploying registry-core version" in described


def test_a_missing_default_image_is_one_line_and_nothing_is_uploaded(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)

    with pytest.raises(ServingImageMissingError) as missing:
        registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin))

    message = str(missing.value)
    assert "\n" not in message
    assert message.startswith(f"the serving image {DEFAULT_IMAGE} does not exist (Artifact Registry: 404 ")
    assert (
        f"gcloud builds submit --project {PROJECT} --config cloudbuild.yaml --substitutions "
        f"_REGION={REGION},_REPOSITORY=ml,_TAG={installed_tag()}"
    ) in message
    assert "--serving-image" in message
    assert "--prebuilt-image" in message
    assert standin.calls("POST") == []  # no model uploaded, no endpoint created
    assert standin.models == {}
    assert registry.list_endpoints() == []


def test_the_cli_names_the_missing_image_on_one_line_and_exits_non_zero(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    command = [
        CLI, "--registry", registry.storage.uri, "deploy", MODEL, "--version", version, "--endpoint-name", "shop",
        "--target", "vertex", "--project", PROJECT, "--region", REGION, "--api-endpoint", standin.url,
    ]  # fmt: skip

    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)

    assert done.returncode == ServingImageMissingError.exit_code, done.stderr
    assert done.stderr.startswith(f"error: the serving image {DEFAULT_IMAGE} does not exist")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert standin.calls("POST") == []


def test_a_caller_who_may_not_read_the_repository_is_told_before_anything_is_uploaded(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)
    standin.push_image(DEFAULT_IMAGE)
    standin.image_denied.add(f"projects/{PROJECT}/locations/{REGION}/repositories/ml")

    with pytest.raises(ServingImageMissingError) as denied:
        registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin))

    message = str(denied.value)
    assert message.startswith(f"cannot check that the serving image {DEFAULT_IMAGE} exists (Artifact Registry: 403 ")
    assert "Permission 'artifactregistry.tags.get' denied" in message
    assert "roles/artifactregistry.reader" in message
    assert "\n" not in message
    assert standin.calls("POST") == []


def test_the_repository_comes_from_the_environment_or_the_setting(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    from_env = ProjectImage(PROJECT, REGION, "serving-images").uri
    from_setting = ProjectImage(PROJECT, REGION, "team-images").uri
    standin.push_image(from_env)
    standin.push_image(from_setting)
    monkeypatch.setenv("REGISTRY_IMAGE_REPOSITORY", "serving-images")

    registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    registry.deploy_model(MODEL, v2, endpoint_name="lab", **on_vertex(standin, image_repository="team-images"))

    assert [s["imageUri"] for s in _specs(standin)] == [from_env, from_setting]
    with pytest.raises(InvalidInputError, match="Artifact Registry repository id"):
        VertexTarget(PROJECT, image_repository="Team_Images")


def test_a_prebuilt_container_is_uploaded_as_it_is_and_not_checked(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)

    deployment, _, _ = registry.deploy_model(
        MODEL, version, endpoint_name="shop", **on_vertex(standin, serving_container_image_uri=PREBUILT_SERVING_IMAGE)
    )

    assert _specs(standin) == [{"imageUri": PREBUILT_SERVING_IMAGE}]  # Vertex's own serving command
    assert _tag_lookups(standin) == []
    assert deployment.image == PREBUILT_SERVING_IMAGE


def test_a_named_serving_image_is_used_without_a_check(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)

    deployment, record, _ = registry.deploy_model(
        MODEL, version, endpoint_name="shop", **on_vertex(standin, serving_image=NAMED_IMAGE)
    )

    (spec,) = _specs(standin)
    assert (spec["imageUri"], spec["command"]) == (NAMED_IMAGE, ["model-registry", "serve-container"])
    assert _tag_lookups(standin) == []
    assert record.target_settings["serving_image"] == NAMED_IMAGE
    assert deployment.image == NAMED_IMAGE


def test_a_rollback_reuses_the_uploaded_version_and_its_image_even_when_the_image_is_gone(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    standin.push_image(DEFAULT_IMAGE)
    for version in (v1, v2):
        _to_production(registry, version)
        registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin))
    standin.image_tags.clear()  # the tag was deleted since: v1's Vertex model version still has its image

    registry.rollback(MODEL, endpoint_name="shop", actor="bob")

    record = registry.get_endpoint("shop")
    (serving,) = record.serving()
    assert serving.version == v1
    assert serving.image == DEFAULT_IMAGE  # read from the reused Vertex model version
    assert len(_specs(standin)) == 2  # nothing uploaded again


def test_the_cli_switches_an_endpoint_from_a_named_image_to_a_prebuilt_container(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from registry_core.cli import main

    register_versions(registry, tmp_path, 2)
    vertex = ["--target", "vertex", "--project", PROJECT, "--region", REGION, "--api-endpoint", standin.url]
    deploy = ["--registry", registry.storage.uri, "deploy", MODEL, "--endpoint-name", "shop", *vertex]

    assert main([*deploy, "--version", "v1", "--serving-image", NAMED_IMAGE]) == 0, capsys.readouterr().err
    assert main([*deploy, "--version", "v2", "--prebuilt-image", PREBUILT_SERVING_IMAGE]) == 0, capsys.readouterr().err

    assert [s["imageUri"] for s in _specs(standin)] == [NAMED_IMAGE, PREBUILT_SERVING_IMAGE]
    settings = registry.get_endpoint("shop").target_settings
    assert (settings["serving_image"], settings["serving_container_image_uri"]) == (None, PREBUILT_SERVING_IMAGE)


def test_the_default_image_is_where_cloudbuild_pushes_the_serving_image() -> None:
    import yaml

    import registry_core

    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    given = dict(build["substitutions"], PROJECT_ID=PROJECT)
    pushed = {re.sub(r"\$\{?(\w+)\}?", lambda m: given[m[1]], image) for image in build["images"]}

    assert given["_TAG"] == registry_core.__version__ == installed_tag()
    assert ProjectImage(PROJECT, given["_REGION"], given["_REPOSITORY"]).uri in pushed
    assert ProjectImage(PROJECT, given["_REGION"]).build_command.endswith(
        f"_REGION={given['_REGION']},_REPOSITORY={given['_REPOSITORY']},_TAG={given['_TAG']}"
    )


def test_an_unreachable_artifact_registry_is_a_one_line_deployment_error() -> None:
    import socket

    from google.auth.credentials import AnonymousCredentials

    from registry_core.deploy.vertex_image import check_published
    from registry_core.errors import DeploymentError

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(DeploymentError, match=f"cannot check that the serving image {re.escape(DEFAULT_IMAGE)}") as e:
        check_published(ProjectImage(PROJECT, REGION), f"http://127.0.0.1:{port}", AnonymousCredentials())
    assert not isinstance(e.value, ServingImageMissingError)
    assert "\n" not in str(e.value)
