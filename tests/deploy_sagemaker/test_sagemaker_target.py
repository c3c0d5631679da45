"""The SageMaker target through the library: real boto3 against moto's server (`sagemaker_standin`).

Each change is checked twice: in what SageMaker holds (models, endpoint configs, the endpoint's variants and
weights, the model.tar.gz in S3) and in the registry's endpoint record.
"""

from __future__ import annotations

import functools
import io
import tarfile
import time
from typing import Any

import boto3
import pytest
from sagemaker_support import BUCKET, IMAGE, MODEL, SETTINGS
from support.sagemaker_standin import REGION, ROLE, SageMakerStandIn

from registry_core import ModelRegistry, RegistryConfig
from registry_core.deploy import EndpointRecord
from registry_core.deploy.base import NEW_DEPLOYMENT
from registry_core.deploy.canary import HealthCheck
from registry_core.deploy.sagemaker import (
    SageMakerAccessDeniedError,
    SageMakerError,
    SageMakerTarget,
    SageMakerValidationError,
)
from registry_core.errors import DeploymentError, EndpointNotFoundError, InvalidInputError
from registry_core.metadata import utc_now


@functools.cache
def _client(service: str = "sagemaker") -> Any:
    """A client of the stand-in (kept: the stand-in's address and credentials are the same all session long)."""
    return boto3.session.Session().client(service)


def _weights(endpoint: str = "shop") -> dict[str, float]:
    """Variant name -> current weight, as SageMaker reports them (0 when it reports none)."""
    variants = _client().describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return {v["VariantName"]: v.get("CurrentWeight", 0.0) for v in variants}


def _models() -> list[str]:
    return sorted(m["ModelName"] for m in _client().list_models()["Models"])


def _configs() -> list[str]:
    return [c["EndpointConfigName"] for c in _client().list_endpoint_configs()["EndpointConfigs"]]


def _endpoints() -> list[str]:
    return [e["EndpointName"] for e in _client().list_endpoints()["Endpoints"]]


def test_deploy_split_and_undeploy_are_made_on_sagemaker_and_recorded(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    d1, record, meta1 = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)

    # one model running the image on the uploaded model.tar.gz, tagged with what it serves
    assert _models() == [d1.target_ref]
    model = _client().describe_model(ModelName=d1.target_ref)
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["ExecutionRoleArn"] == ROLE
    url = model["PrimaryContainer"]["ModelDataUrl"]
    digest = meta1.artifact_digest.rpartition(":")[2][:16]
    assert url == f"s3://{BUCKET}/model-registry/{MODEL}/v1/{digest}/model.tar.gz"
    tags = {t["Key"]: t["Value"] for t in _client().list_tags(ResourceArn=model["ModelArn"])["Tags"]}
    assert tags == {
        "registry_model": MODEL, "registry_version": "v1", "registry_digest": meta1.artifact_digest,
        "registry_endpoint": "shop",
    }  # fmt: skip
    tarball = _client("s3").get_object(Bucket=BUCKET, Key=url.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == ["saved_model.pb", "variables", "variables/variables.index"]
        member = archive.extractfile("saved_model.pb")
        assert member is not None
        assert member.read() == b"not really a SavedModel: weights 1"
    # the endpoint has the registry endpoint's name and one variant, the deployed id
    assert _endpoints() == ["shop"]
    assert _weights() == {d1.id: 100.0}
    assert record.target == "sagemaker"
    assert record.target_ref == "shop"
    assert record.target_settings["region"] == REGION
    assert record.traffic == {d1.id: 100}

    # v2 at 10 %: a new config with both variants, weighted 90/10; the old config is deleted
    d2, record, _ = registry.deploy_model(
        MODEL, "v2", endpoint_name="shop", actor="carol", traffic_percent=10, **SETTINGS
    )
    assert _weights() == {d1.id: 90.0, d2.id: 10.0}
    assert record.traffic == {d1.id: 90, d2.id: 10}
    assert len(_configs()) == 1
    config = _client().describe_endpoint_config(EndpointConfigName=_configs()[0])
    assert {v["VariantName"]: v["ModelName"] for v in config["ProductionVariants"]} == {
        d1.id: d1.target_ref,
        d2.id: d2.target_ref,
    }
    assert "UpdateEndpoint" in sagemaker.actions()

    # a split is UpdateEndpointWeightsAndCapacities, with no new config
    record = registry.set_traffic("shop", {d1.id: 50, d2.id: 50}, actor="carol")
    assert _weights() == {d1.id: 50.0, d2.id: 50.0}
    assert sagemaker.actions().count("UpdateEndpointWeightsAndCapacities") == 1
    assert record.traffic == {d1.id: 50, d2.id: 50}

    # undeploying v2 removes its variant (new config) and its model; v1 takes its share
    record = registry.undeploy_model("shop", d2.id, actor="carol")
    assert _weights() == {d1.id: 100.0}
    assert _models() == [d1.target_ref]
    assert len(_configs()) == 1
    assert record.traffic == {d1.id: 100}
    assert record.deployment(d2.id).undeployed_at is not None

    # the last one goes: the endpoint is deleted, nothing is left but the tarballs
    record = registry.undeploy_model("shop", d1.id, actor="carol")
    assert (_endpoints(), _configs(), _models()) == ([], [], [])
    assert record.traffic == {}
    assert [e.action for e in record.history] == ["deployed", "deployed", "traffic", "undeployed", "undeployed"]
    served = {d.endpoint for d in registry.get_model_metadata(MODEL, "v1").deployments}
    assert served == {"shop"}


def test_replacing_and_rolling_back_reuse_the_uploaded_tarball(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    for version in ("v1", "v2"):
        for stage in ("validation", "staging"):
            registry.promote_model(MODEL, version, stage, actor="alice")
        registry.promote_model(MODEL, version, "production", approved_by="bob", actor="bob")
        registry.deploy_model(MODEL, version, endpoint_name="shop", actor="carol", **SETTINGS)
    record = registry.get_endpoint("shop")
    (serving,) = record.serving()
    assert serving.version == "v2"
    assert list(_weights()) == [serving.id]  # v2 at 100 % replaced v1 on the endpoint too

    registry.rollback(MODEL, "v1", endpoint_name="shop", reason="v2 is worse", actor="bob")
    record = registry.get_endpoint("shop")
    (back,) = record.serving()
    assert back.version == "v1"
    assert list(_weights()) == [back.id]
    assert _models() == [back.target_ref]
    uploads = _client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert len(uploads) == 2  # v1's tarball was uploaded once, and found again by the rollback


def test_a_canary_is_probed_through_sagemaker_and_rolled_back_or_promoted(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    check = HealthCheck(instances=[{"face_width_mm": 140.0}], probes=3)

    # moto answers InvokeEndpoint with a plain "body": not predictions, so every probe fails
    result = registry.canary_deploy(MODEL, "v2", endpoint_name="shop", health_check=check, actor="carol", **SETTINGS)
    assert not result.promoted
    assert "answered no JSON predictions" in result.report.reason
    assert result.endpoint.traffic == {d1.id: 100}
    assert _weights() == {d1.id: 100.0}
    assert [e.action for e in result.endpoint.history][-1] == "canary_rolled_back"
    probes = [body for action, body in sagemaker.calls if action == "CreateModel"]
    assert len(probes) == 2

    # answers with predictions: the canary takes everything and v1 goes
    sagemaker.set_invocation_results({"Body": '{"predictions": [{"frame_style": "round"}]}',
                                      "ContentType": "application/json"})  # fmt: skip
    result = registry.canary_deploy(MODEL, "v2", endpoint_name="shop", health_check=check, actor="carol", **SETTINGS)
    assert result.promoted, result.report.reason
    assert result.endpoint.traffic == {result.deployment.id: 100}
    assert _weights() == {result.deployment.id: 100.0}


def test_changes_wait_while_sagemaker_reports_the_endpoint_busy(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    # SageMaker refuses any change while the endpoint is Creating/Updating; each change here stays busy for 2 reads
    sagemaker.busy_reports = 2
    started = time.monotonic()
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    d2, record, _ = registry.deploy_model(
        MODEL, "v2", endpoint_name="shop", actor="carol", traffic_percent=10, **SETTINGS
    )
    record = registry.set_traffic("shop", {d1.id: 0, d2.id: 100}, actor="carol")
    elapsed = time.monotonic() - started
    assert _weights() == {d1.id: 0.0, d2.id: 100.0}
    assert record.traffic == {d1.id: 0, d2.id: 100}
    actions = sagemaker.actions()
    for change in ("CreateEndpoint", "UpdateEndpoint", "UpdateEndpointWeightsAndCapacities"):
        after = actions[actions.index(change) + 1 :]
        assert after[:3] == ["DescribeEndpoint"] * 3, (change, after[:4])  # 2 busy answers, then InService
    assert elapsed > 3 * (0.5 + 0.75) - 0.2  # it slept between the reads rather than spinning


def test_a_failed_change_raises_and_is_not_recorded(registry: ModelRegistry, sagemaker: SageMakerStandIn) -> None:
    sagemaker.busy_reports = 1
    sagemaker.fail_next = "the image cannot be pulled"
    with pytest.raises(
        SageMakerError, match="failed: the image cannot be pulled .*delete-endpoint --endpoint-name shop"
    ):
        registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    with pytest.raises(EndpointNotFoundError):
        registry.get_endpoint("shop")


def test_an_update_that_sagemaker_rolls_back_is_not_recorded(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    d1, before, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    (config,) = _configs()
    # SageMaker reports a failed update as InService on the old config, with a FailureReason
    sagemaker.busy_reports = 1
    sagemaker.fail_next = "not enough ml.m5.large capacity"
    with pytest.raises(SageMakerError, match="kept its config.*not enough ml.m5.large capacity"):
        registry.deploy_model(MODEL, "v2", endpoint_name="shop", actor="carol", traffic_percent=10, **SETTINGS)
    assert registry.get_endpoint("shop").traffic == before.traffic == {d1.id: 100}
    assert _weights() == {d1.id: 100.0}
    assert (_configs(), _models()) == ([config], [d1.target_ref])  # the new config and model are cleaned up


def test_throttling_is_retried_by_botocore(registry: ModelRegistry, sagemaker: SageMakerStandIn) -> None:
    sagemaker.throttle = 2
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    assert sagemaker.actions()[:3] == ["DescribeEndpoint"] * 3  # the first call, refused twice
    assert _weights() == {d1.id: 100.0}


def test_a_share_for_a_variant_the_endpoint_lacks_is_refused_by_sagemaker(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    d2, record, _ = registry.deploy_model(
        MODEL, "v2", endpoint_name="shop", actor="carol", traffic_percent=10, **SETTINGS
    )
    # someone moves the endpoint back to v1 alone, behind the registry's back
    variant = {"VariantName": d1.id, "ModelName": d1.target_ref, "InstanceType": "ml.m5.large",
               "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}  # fmt: skip
    _client().create_endpoint_config(EndpointConfigName="by-hand", ProductionVariants=[variant])
    _client().update_endpoint(EndpointName="shop", EndpointConfigName="by-hand")
    with pytest.raises(SageMakerValidationError, match=f"ValidationException: .*{d2.id}"):
        registry.set_traffic("shop", {d1.id: 50, d2.id: 50}, actor="carol")
    assert registry.get_endpoint("shop").traffic == record.traffic  # nothing recorded


def test_settings_and_credentials_are_checked(
    registry: ModelRegistry, sagemaker: SageMakerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInputError, match="IAM role ARN"):
        SageMakerTarget(role="registry-sagemaker")
    with pytest.raises(InvalidInputError, match="AWS region"):
        SageMakerTarget(role=ROLE, region="Mars")
    with pytest.raises(InvalidInputError, match="bad SageMaker target settings"):
        registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS, machine_type="n1")
    no_bucket = {k: v for k, v in SETTINGS.items() if k != "s3_bucket"}
    with pytest.raises(DeploymentError, match="give --s3-bucket"):
        registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **no_bucket)
    no_image = {k: v for k, v in SETTINGS.items() if k != "image"}
    with pytest.raises(DeploymentError, match="REGISTRY_SERVING_IMAGE"):
        registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **no_image)
    assert sagemaker.calls == []
    sagemaker.deny = {"DescribeEndpoint"}
    with pytest.raises(SageMakerAccessDeniedError, match="AccessDeniedException: User: .* not authorized"):
        registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    assert sagemaker.actions() == ["DescribeEndpoint"]  # refusals are not retried
    sagemaker.calls.clear()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    with pytest.raises(SageMakerAccessDeniedError, match="no AWS credentials"):
        registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    assert sagemaker.calls == []


def test_a_deploy_whose_client_died_is_recorded_by_the_retry_not_deployed_twice(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    # the target did its work and the process died before the registry recorded anything
    metadata = registry.get_model_metadata(MODEL, "v1")
    fresh = EndpointRecord(name="shop", target="sagemaker", created_at=utc_now())
    target = SageMakerTarget(role=ROLE, image=IMAGE, s3_bucket=BUCKET)
    left = target.deploy(fresh, metadata, registry.artifact_path(MODEL, "v1"), {NEW_DEPLOYMENT: 100})
    with pytest.raises(EndpointNotFoundError):
        registry.get_endpoint("shop")

    deployment, record, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **SETTINGS)
    assert deployment.id == left.deployed_id
    assert deployment.target_ref == left.target_ref
    assert _models() == [left.target_ref]
    assert _weights() == {left.deployed_id: 100.0}
    assert record.traffic == {left.deployed_id: 100}
    assert [(e.action, e.reason.startswith("reconcile:")) for e in record.history] == [("deployed", True)]

    # a variant removed by hand is recorded as undeployed by `endpoints reconcile`
    d2, _, _ = registry.deploy_model(MODEL, "v2", endpoint_name="shop", actor="carol", traffic_percent=10, **SETTINGS)
    variant = {"VariantName": deployment.id, "ModelName": deployment.target_ref, "InstanceType": "ml.m5.large",
               "InitialInstanceCount": 1, "InitialVariantWeight": 3.0}  # fmt: skip
    _client().create_endpoint_config(EndpointConfigName="by-hand", ProductionVariants=[variant])
    _client().update_endpoint(EndpointName="shop", EndpointConfigName="by-hand")
    result = registry.reconcile_endpoint("shop", actor="carol")
    assert [(e.action, e.version) for e in result.changes] == [("undeployed", "v2")]
    assert result.endpoint.traffic == {deployment.id: 100}


def test_weights_become_percentages_summing_to_100() -> None:
    from registry_core.deploy.sagemaker import _percentages

    assert _percentages({"a": 1.0, "b": 1.0, "c": 1.0}) == {"a": 34, "b": 33, "c": 33}
    assert _percentages({"a": 0.9, "b": 0.1, "c": 0.0}) == {"a": 90, "b": 10}
    assert _percentages({"a": 0.0}) == {}


def test_the_serving_container_is_told_where_to_log_and_its_ids_reach_the_caller(
    registry: ModelRegistry, sagemaker: SageMakerStandIn, gcs_bucket: str
) -> None:
    # a gs:// registry: the model's environment names the registry root, the endpoint and the deploy's sample rate
    remote = ModelRegistry(RegistryConfig(root=f"gs://{gcs_bucket}/registry"))
    remote.register_model(MODEL, registry.artifact_path(MODEL, "v1"), registered_by="alice")
    d1, record, _ = remote.deploy_model(MODEL, "v1", endpoint_name="shop", log_sample_rate=0.25, **SETTINGS)
    environment = _client().describe_model(ModelName=d1.target_ref)["PrimaryContainer"]["Environment"]
    assert environment == {
        "REGISTRY_MODEL_NAME": MODEL, "REGISTRY_MODEL_VERSION": "v1", "REGISTRY_ROOT": f"gs://{gcs_bucket}/registry",
        "REGISTRY_ENDPOINT": "shop", "REGISTRY_LOG_SAMPLE_RATE": "0.25",
    }  # fmt: skip
    assert record.target_settings["log_sample_rate"] == 0.25

    # the container's ids (one per instance) come back with the predictions
    body = '{"predictions": [{"frame_style": "round"}], "predictionIds": ["0197-a"]}'
    sagemaker.set_invocation_results({"Body": body, "ContentType": "application/json"})
    assert remote.predict("shop", [{"face_width_mm": 140.0}]).prediction_ids == ["0197-a"]

    # a local registry is out of a container's reach: nothing about logging, the model and version still
    d2, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="other", **SETTINGS)
    environment = _client().describe_model(ModelName=d2.target_ref)["PrimaryContainer"]["Environment"]
    assert environment == {"REGISTRY_MODEL_NAME": MODEL, "REGISTRY_MODEL_VERSION": "v1"}
    with pytest.raises(InvalidInputError, match="the log sample rate must be a number from 0 to 1, got 2"):
        registry.deploy_model(MODEL, "v2", endpoint_name="other", log_sample_rate=2, **SETTINGS)
