"""The Vertex AI deployment target: the real google-cloud-aiplatform SDK against `vertex_standin.VertexStandIn`.

The registry lives in the GCS emulator (Vertex reads gs:// artifact folders); the stand-in does not load the
(fake) SavedModels, it answers predictions with the id and version of the deployed model that served them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions  # noqa: E402
from support.vertex_standin import RecordedRequest, VertexStandIn, isolated_aiplatform_config  # noqa: E402
from vertex_support import MODEL, PROJECT, REGION, on_vertex, register_versions

from registry_core import ModelRegistry, RegistryConfig  # noqa: E402
from registry_core.deploy import EndpointRecord  # noqa: E402
from registry_core.deploy.canary import CanaryContext  # noqa: E402
from registry_core.deploy.vertex import PREBUILT_SERVING_IMAGE, VertexTarget  # noqa: E402
from registry_core.deploy.vertex_image import ProjectImage, resolve_repository  # noqa: E402
from registry_core.errors import (  # noqa: E402
    DependencyMissingError,
    DeploymentError,
    EndpointNotFoundError,
    InvalidInputError,
)
from registry_core.metadata import ModelStage, utc_now  # noqa: E402

PARENT = f"projects/{PROJECT}/locations/{REGION}"
DEFAULT_IMAGE = ProjectImage(PROJECT, REGION, resolve_repository()).uri  # where cloudbuild.yaml pushes it


@pytest.fixture
def standin() -> Iterator[VertexStandIn]:
    with isolated_aiplatform_config(), VertexStandIn() as server:
        server.push_image(DEFAULT_IMAGE)
        yield server




def _artifacts(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_text(f"not really a SavedModel: {content}")
    (folder / "variables").mkdir()
    (folder / "variables" / "variables.index").write_text(content)
    return folder




def _to_production(registry: ModelRegistry, version: str) -> None:
    for stage in (ModelStage.VALIDATION, ModelStage.STAGING):
        registry.promote_model(MODEL, version, stage, actor="alice")
    registry.promote_model(MODEL, version, ModelStage.PRODUCTION, approved_by="bob", actor="bob")


def _only_endpoint(standin: VertexStandIn) -> dict[str, Any]:
    assert len(standin.endpoints) == 1, list(standin.endpoints)
    return next(iter(standin.endpoints.values()))


def _only_model(standin: VertexStandIn) -> tuple[str, list[dict[str, Any]]]:
    assert len(standin.models) == 1, list(standin.models)
    return next(iter(standin.models.items()))


def _posts(standin: VertexStandIn, verb: str) -> list[RecordedRequest]:
    return [r for r in standin.calls("POST") if r.path.endswith(verb)]


def _serving(standin: VertexStandIn) -> dict[str, str]:
    """Deployed model id -> Vertex model version id, on the stand-in's only endpoint."""
    return {d["id"]: d["modelVersionId"] for d in _only_endpoint(standin)["deployedModels"]}


# ---------------------------------------------------------------------------------------------- the whole story


def test_deploy_shift_replace_and_roll_back_on_vertex(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    _to_production(registry, v1)

    # v1 in production -> one Vertex model with one version, one endpoint "shop" with v1 at 100 %
    d1, record, meta1 = registry.deploy_model(MODEL, v1, endpoint_name="shop", actor="carol", **on_vertex(standin))

    model_name, versions = _only_model(standin)
    assert model_name.startswith(f"{PARENT}/models/")
    assert [v["versionId"] for v in versions] == ["1"]
    assert versions[0]["labels"] == {
        "registry_model": MODEL,
        "registry_version": "v1",
        "registry_digest": meta1.artifact_digest.removeprefix("sha256:")[:32],
    }
    assert sorted(versions[0]["versionAliases"]) == ["default", "production", "v1"]
    assert versions[0]["artifactUri"] == meta1.artifact_uri
    assert versions[0]["containerSpec"]["imageUri"] == DEFAULT_IMAGE
    assert versions[0]["containerSpec"]["command"] == ["model-registry", "serve-container"]
    assert versions[0]["displayName"] == MODEL
    endpoint = _only_endpoint(standin)
    assert endpoint["displayName"] == "shop"
    assert endpoint["labels"] == {"registry_endpoint": "shop"}
    assert endpoint["trafficSplit"] == {d1.id: 100}
    assert _serving(standin) == {d1.id: "1"}
    assert record.traffic == endpoint["trafficSplit"]
    assert record.target_ref == endpoint["name"]
    assert d1.target_ref == f"{model_name}@1"
    assert record.target_settings == {"project": PROJECT, "location": REGION, "api_endpoint": standin.url}
    json.dumps(record.target_settings)  # kept in the endpoint's record
    assert [(d.endpoint, d.target, d.traffic_percent) for d in meta1.deployments] == [("shop", "vertex", 100)]

    (upload,) = _posts(standin, "models:upload")
    assert upload.path == f"/v1/{PARENT}/models:upload"
    assert "parentModel" not in upload.body
    (deploy,) = _posts(standin, ":deployModel")
    assert deploy.path == f"/v1/{endpoint['name']}:deployModel"
    assert deploy.body["trafficSplit"] == {"0": 100}
    assert deploy.body["deployedModel"]["model"] == f"{model_name}@1"
    assert deploy.body["deployedModel"]["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-standard-2"},
        "minReplicaCount": 1,
        "maxReplicaCount": 1,
    }
    assert len(_posts(standin, "/endpoints")) == 1  # created once

    # v2 in production at 10 % -> a second version of the same Vertex model, the same endpoint, 90/10
    _to_production(registry, v2)  # archives v1 in the registry
    d2, record, _ = registry.deploy_model(
        MODEL, v2, endpoint_name="shop", traffic_percent=10, actor="carol", **on_vertex(standin)
    )

    same_name, versions = _only_model(standin)
    assert same_name == model_name
    assert [v["versionId"] for v in versions] == ["1", "2"]
    assert versions[1]["labels"]["registry_version"] == "v2"
    assert sorted(versions[0]["versionAliases"]) == ["v1"]  # "production" and "default" moved to v2
    assert sorted(versions[1]["versionAliases"]) == ["default", "production", "v2"]
    uploads = _posts(standin, "models:upload")
    assert uploads[1].body["parentModel"] == model_name
    assert len(_posts(standin, "/endpoints")) == 1  # the endpoint is reused
    assert _only_endpoint(standin)["trafficSplit"] == {d1.id: 90, d2.id: 10}
    assert _posts(standin, ":deployModel")[-1].body["trafficSplit"] == {d1.id: 90, "0": 10}
    assert record.traffic == _only_endpoint(standin)["trafficSplit"]
    assert d2.target_ref == f"{model_name}@2"

    # v2 at 100 % (same settings again) -> its share grows, v1 is undeployed; no second copy of v2
    _, record, _ = registry.deploy_model(
        MODEL, v2, endpoint_name="shop", traffic_percent=100, actor="carol", **on_vertex(standin)
    )

    assert len(_posts(standin, ":deployModel")) == 2
    (patch,) = standin.calls("PATCH")
    assert patch.query["updateMask"] == "trafficSplit"
    assert patch.body["trafficSplit"] == {d2.id: 100}
    (undeploy,) = _posts(standin, ":undeployModel")
    assert undeploy.body == {"deployedModelId": d1.id, "trafficSplit": {d2.id: 100}}
    assert _serving(standin) == {d2.id: "2"}
    assert _only_endpoint(standin)["trafficSplit"] == {d2.id: 100} == record.traffic
    assert [d.id for d in record.active()] == [d2.id]

    # rollback -> v1 back in production, redeployed at 100 % from its existing Vertex version; v2 undeployed
    restored = registry.rollback(MODEL, endpoint_name="shop", reason="v2 hurts conversion", actor="carol")

    assert restored.version == v1
    assert restored.stage is ModelStage.PRODUCTION
    record = registry.get_endpoint("shop")
    (d3,) = record.active()
    assert (d3.version, d3.target_ref) == (v1, f"{model_name}@1")
    assert _serving(standin) == {d3.id: "1"}
    assert _only_endpoint(standin)["trafficSplit"] == {d3.id: 100} == record.traffic
    assert len(_posts(standin, "models:upload")) == 2  # reused, not uploaded again
    (merge,) = _posts(standin, ":mergeVersionAliases")
    assert merge.path == f"/v1/{model_name}@1:mergeVersionAliases"
    assert merge.body == {"versionAliases": ["production", "default"]}
    _, versions = _only_model(standin)
    assert sorted(versions[0]["versionAliases"]) == ["default", "production", "v1"]
    assert sorted(versions[1]["versionAliases"]) == ["v2"]
    assert _posts(standin, ":deployModel")[-1].body["trafficSplit"] == {"0": 100}
    assert _posts(standin, ":undeployModel")[-1].body == {"deployedModelId": d2.id, "trafficSplit": {d3.id: 100}}
    actions = [e.action for e in record.history]
    assert actions == ["deployed", "deployed", "traffic", "undeployed", "deployed", "undeployed"]
    by_version = {v: registry.get_model_metadata(MODEL, v) for v in (v1, v2)}
    assert {(d.deployed_model_id, d.traffic_percent) for d in by_version[v1].deployments} == {(d1.id, 0), (d3.id, 100)}
    assert all(d.undeployed_at is not None for d in by_version[v2].deployments)

    # every split the stand-in accepted summed to 100 over deployed models; nothing was refused
    assert not [r for r in standin.requests if r.path.endswith(":predict")]
    assert all(r.method in {"GET", "POST", "PATCH"} for r in standin.requests)


# ---------------------------------------------------------------------------------------------- traffic, predictions


def test_set_traffic_and_predictions_through_vertex(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    d1, _, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    d2, _, _ = registry.deploy_model(MODEL, v2, endpoint_name="shop", traffic_percent=10, **on_vertex(standin))
    _, versions = _only_model(standin)
    assert sorted(versions[1]["versionAliases"]) == ["development", "v2"]  # the stage alias moved from v1
    assert sorted(versions[0]["versionAliases"]) == ["default", "v1"]

    answer = registry.predict("shop", [{"frame": "round"}])
    assert (answer.deployed_model_id, answer.model_version) == (d1.id, v1)  # the stand-in's first slot is 90 %
    assert answer.predictions == [
        {"deployedModelId": d1.id, "model": d1.target_ref.split("@")[0], "modelVersionId": "1",
         "instance": {"frame": "round"}},
    ]  # fmt: skip

    before = len(standin.calls("POST", ":predict"))
    routed = registry.predict("shop", [{"frame": "square"}], deployed_model_id=d2.id)
    assert (routed.deployed_model_id, routed.model_version) == (d2.id, v2)
    assert routed.predictions[0]["instance"] == {"frame": "square"}
    assert 1 < len(standin.calls("POST", ":predict")) - before <= 100  # sent until the 10 % model answered

    record = registry.set_traffic("shop", {d1.id: 30, d2.id: 70}, reason="more v2")
    assert _only_endpoint(standin)["trafficSplit"] == {d1.id: 30, d2.id: 70} == record.traffic
    assert standin.calls("PATCH")[-1].body["trafficSplit"] == {d1.id: 30, d2.id: 70}

    record = registry.set_traffic("shop", {d1.id: 0, d2.id: 100})
    assert _only_endpoint(standin)["trafficSplit"] == {d2.id: 100}  # 0 % is sent as "not in the map"
    assert record.traffic == {d1.id: 0, d2.id: 100}
    with pytest.raises(DeploymentError, match="gets no traffic"):
        registry.predict("shop", [1], deployed_model_id=d1.id)

    record = registry.undeploy_model("shop", d1.id, reason="unused")
    assert _serving(standin) == {d2.id: "2"}
    assert record.traffic == {d2.id: 100}
    assert _posts(standin, ":undeployModel")[-1].body == {"deployedModelId": d1.id, "trafficSplit": {d2.id: 100}}

    record = registry.undeploy_model("shop", d2.id)  # the last one: the endpoint serves nothing
    assert _only_endpoint(standin)["deployedModels"] == []
    assert _only_endpoint(standin)["trafficSplit"] == {} == record.traffic


def test_undeploying_what_vertex_already_dropped_only_fixes_the_record(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    d1, _, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    d2, record, _ = registry.deploy_model(MODEL, v2, endpoint_name="shop", traffic_percent=50, **on_vertex(standin))
    # an earlier attempt undeployed it on Vertex, then failed before the registry recorded it
    registry.endpoints.target_for(record).undeploy(record, d2.id, {d1.id: 100})
    undeploys = len(_posts(standin, ":undeployModel"))

    record = registry.undeploy_model("shop", d2.id)

    assert len(_posts(standin, ":undeployModel")) == undeploys
    assert record.traffic == {d1.id: 100} == _only_endpoint(standin)["trafficSplit"]
    assert [d.id for d in record.active()] == [d1.id]
    with pytest.raises(DeploymentError, match="has no deployed model"):
        registry.predict("shop", [1], deployed_model_id=d2.id)


# ---------------------------------------------------------------------------------------------- canaries


def test_canary_on_vertex_rolls_back_when_the_check_fails(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    d1, _, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))
    seen: list[str] = []

    def check(context: CanaryContext) -> tuple[bool, str]:
        seen.append(context.predict([{"frame": "cat-eye"}]).model_version)
        return False, "click-through fell by 12%"

    result = registry.canary_deploy(
        MODEL, v2, endpoint_name="shop", health_check=check, canary_percent=20, **on_vertex(standin)
    )

    assert result.promoted is False
    assert "click-through fell" in result.report.reason
    assert seen == [v2]  # the check's prediction came from the canary
    canary = result.deployment.id
    assert _posts(standin, ":deployModel")[-1].body["trafficSplit"] == {d1.id: 80, "0": 20}
    assert _posts(standin, ":undeployModel")[-1].body == {"deployedModelId": canary, "trafficSplit": {d1.id: 100}}
    assert _serving(standin) == {d1.id: "1"}
    assert _only_endpoint(standin)["trafficSplit"] == {d1.id: 100} == result.endpoint.traffic
    assert result.endpoint.history[-1].action == "canary_rolled_back"
    assert "rolled back" in registry.get_model_metadata(MODEL, v2).annotations["canary"]


def test_canary_on_vertex_completes_when_the_check_passes(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    v1, v2 = register_versions(registry, tmp_path, 2)
    d1, _, _ = registry.deploy_model(MODEL, v1, endpoint_name="shop", **on_vertex(standin))

    result = registry.canary_deploy(
        MODEL, v2, endpoint_name="shop", health_check=lambda context: (True, "fine"), **on_vertex(standin)
    )

    assert result.promoted is True
    canary = result.deployment.id
    assert _serving(standin) == {canary: "2"}
    assert _only_endpoint(standin)["trafficSplit"] == {canary: 100} == result.endpoint.traffic
    assert _posts(standin, ":undeployModel")[-1].body == {"deployedModelId": d1.id, "trafficSplit": {canary: 100}}


# ---------------------------------------------------------------------------------------------- errors


def test_a_local_registry_cannot_deploy_to_vertex(standin: VertexStandIn, tmp_path: Path) -> None:
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    (version,) = register_versions(registry, tmp_path, 1)

    with pytest.raises(DeploymentError, match="Vertex AI serves from gs://; use a gs:// registry") as error:
        registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin))

    assert "\n" not in str(error.value)
    assert standin.requests == []
    assert registry.list_endpoints() == []


def test_vertex_refusals_are_one_line_deployment_errors(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)

    with pytest.raises(DeploymentError, match=r"400 Invalid project 'x' in resource name") as refused:
        registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin, project="x"))
    assert "\n" not in str(refused.value)
    assert isinstance(refused.value.__cause__, api_exceptions.BadRequest)
    assert registry.list_endpoints() == []

    deployment, _, _ = registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin))
    standin.endpoints.clear()  # deleted behind the registry's back
    with pytest.raises(DeploymentError, match="404") as missing:
        registry.undeploy_model("shop", deployment.id)
    assert "\n" not in str(missing.value)
    assert isinstance(missing.value.__cause__, api_exceptions.NotFound)
    assert registry.get_endpoint("shop").traffic == {deployment.id: 100}  # nothing recorded


def test_bad_settings_are_refused_before_any_call(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)

    with pytest.raises(InvalidInputError, match="credentials"):
        registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin, credentials="secret"))
    with pytest.raises(InvalidInputError, match="max_replica_count"):
        registry.deploy_model(
            MODEL, version, endpoint_name="shop", **on_vertex(standin, min_replica_count=3, max_replica_count=2)
        )
    with pytest.raises(InvalidInputError, match="location"):
        registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin, location="Mars"))
    with pytest.raises(InvalidInputError, match="project"):
        VertexTarget(project="")
    assert standin.requests == []
    with pytest.raises(EndpointNotFoundError):
        registry.get_endpoint("shop")


def test_settings_reach_vertex(registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path) -> None:
    (version,) = register_versions(registry, tmp_path, 1)
    settings = on_vertex(
        standin,
        machine_type="n1-highmem-4",
        min_replica_count=2,
        max_replica_count=5,
        serving_container_image_uri="us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-12:latest",
        service_account="serving@test-project.iam.gserviceaccount.com",
    )

    _, record, _ = registry.deploy_model(MODEL, version, endpoint_name="shop", **settings)

    deployed = _posts(standin, ":deployModel")[0].body["deployedModel"]
    assert deployed["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-highmem-4"},
        "minReplicaCount": 2,
        "maxReplicaCount": 5,
    }
    assert deployed["serviceAccount"] == "serving@test-project.iam.gserviceaccount.com"
    _, versions = _only_model(standin)
    assert versions[0]["containerSpec"]["imageUri"].endswith("tf2-cpu.2-12:latest")
    assert record.target_settings == {k: v for k, v in settings.items() if k != "target"}
    assert VertexTarget(**record.target_settings).settings["machine_type"] == "n1-highmem-4"


# ---------------------------------------------------------------------------------------------- the SDK is optional


def test_importing_the_target_does_not_import_the_sdk() -> None:
    code = (
        "import sys, registry_core.deploy.vertex, registry_core.deploy; "
        "assert 'google.cloud.aiplatform' not in sys.modules, 'aiplatform imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_missing_sdk_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.cloud

    monkeypatch.delattr(google.cloud, "aiplatform", raising=False)
    monkeypatch.setitem(sys.modules, "google.cloud.aiplatform", None)
    record = EndpointRecord(name="shop", target="vertex", target_ref=f"{PARENT}/endpoints/1", created_at=utc_now())

    with pytest.raises(DependencyMissingError, match=r"pip install 'registry-core\[kfp\]'"):
        VertexTarget(project=PROJECT).set_traffic(record, {})


def test_standin_endpoint_patch_checks_mask_etag_and_split(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    import requests

    (version,) = register_versions(registry, tmp_path, 1)
    deployment, _, _ = registry.deploy_model(MODEL, version, endpoint_name="shop", **on_vertex(standin))
    endpoint = _only_endpoint(standin)
    etag = endpoint["etag"]
    url = f"{standin.url}/v1/{endpoint['name']}"
    stale = {"etag": "etag-old", "trafficSplit": {deployment.id: 100}}

    assert requests.patch(url, json=stale, params={"updateMask": "trafficSplit"}, timeout=5).status_code == 409
    assert requests.patch(url, json={"trafficSplit": {deployment.id: 60}}, params={"updateMask": "trafficSplit"},
                          timeout=5).status_code == 400  # fmt: skip
    assert requests.patch(url, json={"trafficSplit": {"999": 100}}, params={"updateMask": "trafficSplit"},
                          timeout=5).status_code == 400  # fmt: skip
    assert requests.patch(url, json={}, timeout=5).status_code == 400  # no updateMask
    renamed = requests.patch(url, json={"displayName": "shop-2"}, params={"updateMask": "displayName"}, timeout=5)
    assert renamed.status_code == 200
    assert renamed.json()["displayName"] == "shop-2"
    assert renamed.json()["etag"] != etag
    assert _only_endpoint(standin)["trafficSplit"] == {deployment.id: 100}


def test_the_cli_deploys_and_rolls_back_on_vertex(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from registry_core.cli import main

    register_versions(registry, tmp_path, 2)
    root = registry.storage.uri
    vertex = ["--target", "vertex", "--project", PROJECT, "--region", REGION, "--api-endpoint", standin.url]
    for version in ("v1", "v2"):
        _to_production(registry, version)
        code = main(["--registry", root, "deploy", MODEL, "--version", version, "--endpoint-name", "shop", *vertex])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"deployed {MODEL} {version} to shop (vertex): {MODEL} {version}=100%" in out

    code = main(["--registry", root, "rollback", MODEL, "--endpoint-name", "shop"])
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "v1 is back in production and serves 100% of shop" in out
    (deployed,) = _only_endpoint(standin)["deployedModels"]
    assert registry.get_endpoint("shop").traffic == {deployed["id"]: 100}


SERVING_IMAGE = "europe-docker.pkg.dev/images-project/shared/model-registry-serving:2.0"  # named: not checked


def test_the_serving_image_is_uploaded_as_a_container_running_serve_container(
    registry: ModelRegistry, standin: VertexStandIn, tmp_path: Path
) -> None:
    (version,) = register_versions(registry, tmp_path, 1)

    _, record, metadata = registry.deploy_model(
        MODEL, version, endpoint_name="shop", **on_vertex(standin, serving_image=SERVING_IMAGE, log_sample_rate=0.1)
    )

    _, versions = _only_model(standin)
    spec = versions[0]["containerSpec"]
    assert spec["imageUri"] == SERVING_IMAGE
    assert spec["command"] == ["model-registry", "serve-container"]
    assert spec["ports"] == [{"containerPort": 8080}]
    assert (spec["predictRoute"], spec["healthRoute"]) == ("/predict", "/health")
    assert {e["name"]: e["value"] for e in spec["env"]} == {
        "REGISTRY_MODEL_NAME": MODEL,
        "REGISTRY_MODEL_VERSION": version,
        "REGISTRY_ARTIFACT_DIGEST": metadata.artifact_digest,  # the container refuses any other files
        # where it logs predictions; not the endpoint nor its rate: the container reads them from the record
        "REGISTRY_ROOT": registry.storage.uri,
    }
    assert record.target_settings["log_sample_rate"] == 0.1
    assert versions[0]["artifactUri"] == metadata.artifact_uri  # what Vertex copies to AIP_STORAGE_URI
    assert record.target_settings["serving_image"] == SERVING_IMAGE
    assert VertexTarget(**record.target_settings).serving_container_image_uri is None
    with pytest.raises(InvalidInputError, match="not both"):
        VertexTarget(PROJECT, serving_image=SERVING_IMAGE, serving_container_image_uri=PREBUILT_SERVING_IMAGE)


def test_the_cli_takes_the_serving_image_from_the_environment_unless_a_prebuilt_one_is_asked_for(
    registry: ModelRegistry,
    standin: VertexStandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from registry_core.cli import main

    register_versions(registry, tmp_path, 1)
    monkeypatch.setenv("REGISTRY_SERVING_IMAGE", SERVING_IMAGE)
    vertex = ["--target", "vertex", "--project", PROJECT, "--region", REGION, "--api-endpoint", standin.url]
    deploy = ["--registry", registry.storage.uri, "deploy", MODEL, "--version", "v1", *vertex]

    assert main([*deploy, "--endpoint-name", "shop"]) == 0, capsys.readouterr().err
    assert registry.get_endpoint("shop").target_settings["serving_image"] == SERVING_IMAGE
    _, versions = _only_model(standin)
    assert [v["containerSpec"]["imageUri"] for v in versions] == [SERVING_IMAGE]

    prebuilt = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-12:latest"
    assert main([*deploy, "--endpoint-name", "other", "--prebuilt-image", prebuilt]) == 0, capsys.readouterr().err
    settings = registry.get_endpoint("other").target_settings
    assert settings["serving_container_image_uri"] == prebuilt
    assert settings["serving_image"] is None  # the prebuilt container replaces a serving image kept before
    # the variable does not override the prebuilt container an endpoint was given
    assert main([*deploy, "--endpoint-name", "other", "--traffic-percent", "100"]) == 0, capsys.readouterr().err
    assert registry.get_endpoint("other").target_settings == settings

    code = main([*deploy, "--endpoint-name", "third", "--prebuilt-image", prebuilt, "--serving-image", "x"])
    assert code == InvalidInputError.exit_code
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("not both")
