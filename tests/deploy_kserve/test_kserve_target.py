"""The KServe target through the library: the real kubernetes client against the Kubernetes API stand-in.

Each change is checked in what the cluster holds (the InferenceService's predictor, its revisions' traffic) and in
the registry's endpoint record.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kserve_support import MODEL
from support.kserve_standin import KServeStandIn

from registry_core import ModelRegistry, RegistryConfig
from registry_core.deploy.base import NEW_DEPLOYMENT
from registry_core.deploy.canary import HealthCheck
from registry_core.deploy.kserve import KServeConflictError, KServeError, KServeForbiddenError, KServeTarget
from registry_core.errors import DeploymentError, InvalidInputError

IMAGE = "europe-docker.pkg.dev/acme/serving/model-registry:1"


def _settings(kserve: KServeStandIn) -> dict[str, Any]:
    return {"target": "kserve", "namespace": "ml", "image": IMAGE, "api_endpoint": kserve.url}


def _service(kserve: KServeStandIn, name: str = "shop") -> dict[str, Any]:
    return kserve.services[("ml", name)]


def _traffic(kserve: KServeStandIn, name: str = "shop") -> dict[str, int]:
    entries = _service(kserve, name)["status"]["components"]["predictor"]["traffic"]
    return {t["revisionName"]: t["percent"] for t in entries if t["percent"]}


def _env(kserve: KServeStandIn) -> dict[str, str]:
    container = _service(kserve)["spec"]["predictor"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def test_deploy_canary_promote_and_undeploy_are_made_on_kserve_and_recorded(
    registry: ModelRegistry, kserve: KServeStandIn
) -> None:
    d1, record, meta1 = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **_settings(kserve))

    service = _service(kserve)
    container = service["spec"]["predictor"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["command"] == ["model-registry", "serve-container"]
    env = _env(kserve)
    assert len(env.pop("REGISTRY_DEPLOYMENT")) == 12
    assert env == {
        "STORAGE_URI": meta1.artifact_uri, "REGISTRY_MODEL_NAME": MODEL, "REGISTRY_MODEL_VERSION": "v1",
        "REGISTRY_ARTIFACT_DIGEST": meta1.artifact_digest,
    }  # fmt: skip
    assert "canaryTrafficPercent" not in service["spec"]["predictor"]
    assert d1.id == "shop-predictor-00001"
    assert _traffic(kserve) == {d1.id: 100}
    assert record.target_ref == "ml/shop"
    assert record.traffic == {d1.id: 100}
    assert record.target_settings == {"namespace": "ml", "image": IMAGE, "api_endpoint": kserve.url}

    d2, record, _ = registry.deploy_model(
        MODEL, "v2", endpoint_name="shop", traffic_percent=10, target="kserve", actor="carol"
    )
    assert _service(kserve)["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert _env(kserve)["REGISTRY_MODEL_VERSION"] == "v2"
    assert _traffic(kserve) == {d2.id: 10, d1.id: 90} == record.traffic

    record = registry.set_traffic("shop", {d1.id: 0, d2.id: 100}, actor="carol")
    assert "canaryTrafficPercent" not in _service(kserve)["spec"]["predictor"]  # promoted: the field removed
    assert _traffic(kserve) == {d2.id: 100}
    record = registry.undeploy_model("shop", d1.id, actor="carol")
    assert record.traffic == {d2.id: 100}
    assert [d.id for d in record.active()] == [d2.id]

    record = registry.undeploy_model("shop", d2.id, actor="carol")
    assert ("ml", "shop") not in kserve.services  # the last deployment gone: the InferenceService is deleted
    assert record.active() == []
    kinds = {k for _, _, k in kserve.requests if k}
    assert "application/merge-patch+json" in kinds


def test_a_canary_is_probed_on_its_own_revision_then_promoted(registry: ModelRegistry, kserve: KServeStandIn) -> None:
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **_settings(kserve))

    result = registry.canary_deploy(
        MODEL, "v2", endpoint_name="shop", target="kserve", canary_percent=10,
        health_check=HealthCheck(instances=[[1.0]], probes=5), actor="carol",
    )  # fmt: skip

    assert result.promoted, result.report.reason
    # the probes went to the canary's tag URL, not through the 90/10 split
    assert kserve.predictions == [(result.deployment.id, result.deployment.id)] * 6  # 5 probes and a warm-up
    assert _traffic(kserve) == {result.deployment.id: 100} == result.endpoint.traffic
    assert [d.id for d in result.endpoint.active()] == [result.deployment.id]
    answer = registry.predict("shop", [[1.0]])
    assert answer.predictions == [[MODEL, "v2"]]
    assert answer.deployed_model_id == result.deployment.id
    assert answer.model_version == "v2"
    assert d1.id != result.deployment.id


def test_a_canary_whose_probes_fail_is_rolled_back(registry: ModelRegistry, kserve: KServeStandIn) -> None:
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **_settings(kserve))
    kserve.bad_predictions.add("v2")

    result = registry.canary_deploy(
        MODEL, "v2", endpoint_name="shop", target="kserve", canary_percent=20,
        health_check=HealthCheck(instances=[[1.0]], probes=3), actor="carol",
    )  # fmt: skip

    assert not result.promoted
    assert "500" in result.report.reason
    assert _service(kserve)["spec"]["predictor"]["canaryTrafficPercent"] == 0  # KServe's canary rollback
    assert _traffic(kserve) == {d1.id: 100} == result.endpoint.traffic
    assert registry.predict("shop", [[1.0]]).predictions == [[MODEL, "v1"]]

    # the same version again: a new revision, not the rolled-back canary's
    kserve.bad_predictions.clear()
    again = registry.canary_deploy(
        MODEL, "v2", endpoint_name="shop", target="kserve", canary_percent=20,
        health_check=HealthCheck(instances=[[1.0]], probes=3), actor="carol",
    )  # fmt: skip
    assert again.promoted
    assert again.deployment.id not in {d1.id, result.deployment.id}
    assert _traffic(kserve) == {again.deployment.id: 100} == again.endpoint.traffic

    # the next deploy replaces the canary's spec with a new revision
    d3, record, _ = registry.deploy_model(MODEL, "v3", endpoint_name="shop", target="kserve", actor="carol")
    assert _traffic(kserve) == {d3.id: 100} == record.traffic
    assert [d.version for d in record.active()] == ["v3"]


def test_a_revision_that_fails_raises_one_line_and_is_not_recorded(
    registry: ModelRegistry, kserve: KServeStandIn
) -> None:
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **_settings(kserve))
    kserve.failing.add("v2")

    with pytest.raises(KServeError) as caught:
        registry.deploy_model(MODEL, "v2", endpoint_name="shop", traffic_percent=10, target="kserve", actor="carol")

    assert "RevisionFailed" in str(caught.value)
    assert "\n" not in str(caught.value)
    record = registry.get_endpoint("shop")
    assert [d.version for d in record.active()] == ["v1"]
    assert record.traffic == {d1.id: 100} == _traffic(kserve)  # the old revision keeps serving


def test_splits_over_more_than_two_revisions_are_refused(registry: ModelRegistry, kserve: KServeStandIn) -> None:
    d1, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **_settings(kserve))
    d2, _, _ = registry.deploy_model(
        MODEL, "v2", endpoint_name="shop", traffic_percent=10, target="kserve", actor="carol"
    )
    before = dict(kserve.services[("ml", "shop")]["spec"]["predictor"])

    with pytest.raises(KServeError, match="two revisions only") as caught:
        registry.deploy_model(MODEL, "v3", endpoint_name="shop", traffic_percent=10, target="kserve", actor="carol")

    assert "\n" not in str(caught.value)
    assert _service(kserve)["spec"]["predictor"] == before  # refused before any change
    assert registry.get_endpoint("shop").traffic == {d1.id: 90, d2.id: 10}
    # a split the two revisions can make is fine
    assert registry.set_traffic("shop", {d1.id: 50, d2.id: 50}, actor="carol").traffic == _traffic(kserve)


def test_rollback_patches_the_predictor_back_to_the_previous_version(
    registry: ModelRegistry, kserve: KServeStandIn
) -> None:
    for version in ("v1", "v2"):
        for stage in ("validation", "staging"):
            registry.promote_model(MODEL, version, stage, actor="alice")
        registry.promote_model(MODEL, version, "production", approved_by="bob", actor="bob")
        registry.deploy_model(MODEL, version, endpoint_name="shop", actor="carol", **_settings(kserve))
    assert _env(kserve)["REGISTRY_MODEL_VERSION"] == "v2"

    registry.rollback(MODEL, reason="v2 is wrong", actor="bob", endpoint_name="shop")

    assert _env(kserve)["REGISTRY_MODEL_VERSION"] == "v1"
    record = registry.get_endpoint("shop")
    (serving,) = record.active()
    assert serving.version == "v1"
    assert serving.id == "shop-predictor-00003"  # a new revision of v1's spec
    assert _traffic(kserve) == {serving.id: 100} == record.traffic


def test_a_deploy_whose_client_died_is_recorded_by_the_next_deploy(
    registry: ModelRegistry, kserve: KServeStandIn
) -> None:
    d1, record, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **_settings(kserve))
    meta2 = registry.get_model_metadata(MODEL, "v2")
    # the target made the change, and its client died before the registry recorded it
    lost = KServeTarget(namespace="ml", image=IMAGE, api_endpoint=kserve.url).deploy(
        record, meta2, None, {d1.id: 70, NEW_DEPLOYMENT: 30}
    )

    result = registry.reconcile_endpoint("shop", actor="carol")

    assert [(e.action, e.version) for e in result.changes][0] == ("deployed", "v2")
    assert result.endpoint.traffic == {d1.id: 70, lost.deployed_id: 30} == _traffic(kserve)
    again, record, _ = registry.deploy_model(
        MODEL, "v2", endpoint_name="shop", traffic_percent=30, target="kserve", actor="carol"
    )
    assert again.id == lost.deployed_id  # no second copy
    assert len(kserve.revisions) == 2


def test_api_errors_are_typed_one_line_errors(registry: ModelRegistry, kserve: KServeStandIn) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", actor="carol", **_settings(kserve))
    kserve.forbidden = True
    with pytest.raises(KServeForbiddenError, match="403") as forbidden:
        registry.deploy_model(MODEL, "v2", endpoint_name="shop", traffic_percent=10, target="kserve", actor="carol")
    assert "\n" not in str(forbidden.value)
    kserve.forbidden = False
    kserve.conflicts = 1
    with pytest.raises(KServeConflictError, match="409"):
        registry.deploy_model(MODEL, "v2", endpoint_name="shop", traffic_percent=10, target="kserve", actor="carol")
    assert [d.version for d in registry.get_endpoint("shop").active()] == ["v1"]
    with pytest.raises(DeploymentError, match="serving image"):
        registry.deploy_model(MODEL, "v1", endpoint_name="other", target="kserve", api_endpoint=kserve.url)
    with pytest.raises(InvalidInputError, match="namespace"):
        registry.deploy_model(MODEL, "v1", endpoint_name="other", target="kserve", namespace="Bad_NS", image=IMAGE)


def test_the_kube_context_comes_from_kubeconfig(
    registry: ModelRegistry, kserve: KServeStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\n"
        f"clusters:\n- name: standin\n  cluster: {{server: '{kserve.url}'}}\n"
        "- name: far\n  cluster: {server: 'http://127.0.0.1:9'}\n"
        "users:\n- name: carol\n  user: {token: t0ken}\n"
        "contexts:\n- name: standin\n  context: {cluster: standin, user: carol}\n"
        "- name: elsewhere\n  context: {cluster: far, user: carol}\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    before = config.read_text()

    d1, record, _ = registry.deploy_model(
        MODEL, "v1", endpoint_name="shop", target="kserve", namespace="ml", image=IMAGE, kube_context="standin"
    )

    assert _traffic(kserve) == {d1.id: 100}
    assert record.target_settings["kube_context"] == "standin"
    assert config.read_text() == before
    with pytest.raises(KServeForbiddenError, match="no Kubernetes access") as caught:
        registry.deploy_model(
            MODEL, "v1", endpoint_name="other", target="kserve", namespace="ml", image=IMAGE, kube_context="nope"
        )
    assert "\n" not in str(caught.value)


def test_endpoint_names_that_are_no_kubernetes_names_get_services_of_their_own(
    registry: ModelRegistry, kserve: KServeStandIn
) -> None:
    first, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name="shop_eu", actor="carol", **_settings(kserve))
    second, _, _ = registry.deploy_model(MODEL, "v2", endpoint_name="shop-eu", actor="carol", **_settings(kserve))

    names = sorted(name for _, name in kserve.services)
    assert len(names) == 2
    assert "shop-eu" in names
    (other,) = [n for n in names if n != "shop-eu"]
    assert re.fullmatch(r"e-shop-eu-[0-9a-f]{8}", other)
    assert registry.get_endpoint("shop_eu").target_ref == f"ml/{other}"
    assert first.version == "v1"
    assert second.version == "v2"


def test_the_predictor_is_told_where_to_log_and_its_ids_reach_the_caller(
    registry: ModelRegistry, kserve: KServeStandIn, gcs_bucket: str
) -> None:
    # a gs:// registry: the predictor's environment names the registry root, the endpoint and the deploy's rate
    remote = ModelRegistry(RegistryConfig(root=f"gs://{gcs_bucket}/registry"))
    remote.register_model(MODEL, registry.artifact_path(MODEL, "v1"), registered_by="alice")
    settings = _settings(kserve) | {"log_sample_rate": 0.5}
    d1, record, _ = remote.deploy_model(MODEL, "v1", endpoint_name="shop", **settings)
    env = _env(kserve)
    logging = {k: env[k] for k in ("REGISTRY_ROOT", "REGISTRY_ENDPOINT", "REGISTRY_LOG_SAMPLE_RATE")}
    assert logging == {
        "REGISTRY_ROOT": f"gs://{gcs_bucket}/registry", "REGISTRY_ENDPOINT": "shop", "REGISTRY_LOG_SAMPLE_RATE": "0.5"
    }  # fmt: skip
    assert record.target_settings["log_sample_rate"] == 0.5

    # the predictor's ids (one per instance) come back with the predictions
    answer = remote.predict("shop", [{"face_width_mm": 140.0}])
    assert answer.prediction_ids == [f"{d1.id}-1"]
