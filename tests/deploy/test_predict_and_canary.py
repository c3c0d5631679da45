"""ModelRegistry.predict on a local endpoint, and canary rollouts that complete or roll back by themselves."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import INSTANCE, MODEL, REGISTRANT, Exports

from eyewear_model import FRAME_STYLES
from registry_core import ModelRegistry
from registry_core.deploy.canary import CanaryContext, HealthCheck
from registry_core.errors import DeploymentError, InvalidInputError

ENDPOINT = "shop"
CHECK = HealthCheck(instances=[INSTANCE], probes=5)


def actions(registry: ModelRegistry) -> list[str]:
    return [event.action for event in registry.get_endpoint(ENDPOINT).history]


def test_registry_predict_routes_and_checks_instances(registry: ModelRegistry) -> None:
    first, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    answer = registry.predict(ENDPOINT, [INSTANCE, INSTANCE | {"face_shape": "heart"}])
    assert (answer.model_version, answer.deployed_model_id) == ("v1", first.id)
    assert [p["frame_style"] in FRAME_STYLES for p in answer.predictions] == [True, True]

    second, record, _ = registry.deploy_model(MODEL, "v2", endpoint_name=ENDPOINT, traffic_percent=50)
    assert record.traffic == {first.id: 50, second.id: 50}
    assert registry.predict(ENDPOINT, [INSTANCE], second.id).model_version == "v2"
    assert {registry.predict(ENDPOINT, [INSTANCE]).model_version for _ in range(40)} == {"v1", "v2"}

    with pytest.raises(InvalidInputError, match=r"missing \['wears_daily'\]"):
        registry.predict(ENDPOINT, [{k: v for k, v in INSTANCE.items() if k != "wears_daily"}])
    with pytest.raises(InvalidInputError, match="'budget_usd'"):
        registry.predict(ENDPOINT, [INSTANCE | {"budget_usd": "cheap"}])
    with pytest.raises(InvalidInputError, match="non-empty list"):
        registry.predict(ENDPOINT, [])
    with pytest.raises(DeploymentError, match="cannot serve"):
        registry.predict(ENDPOINT, [INSTANCE], "no-such-id")


def test_healthy_canary_takes_all_traffic_and_the_old_version_is_undeployed(registry: ModelRegistry) -> None:
    old, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    result = registry.canary_deploy(MODEL, "v2", endpoint_name=ENDPOINT, health_check=CHECK, canary_percent=20)

    assert result.promoted, result.report.reason
    assert result.report.probes == 5
    assert result.report.errors == 0
    record = registry.get_endpoint(ENDPOINT)
    assert record.traffic == {result.deployment.id: 100}
    assert record.deployment(old.id).undeployed_at is not None
    assert actions(registry) == ["deployed", "deployed", "canary_promoted", "undeployed"]
    assert registry.predict(ENDPOINT, [INSTANCE]).model_version == "v2"
    note = registry.get_model_metadata(MODEL, "v2").annotations["canary"]
    assert note.startswith(f"promoted on {ENDPOINT}: healthy")


def test_failing_canary_is_rolled_back(registry: ModelRegistry, exports: Exports) -> None:
    baseline, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    failing = registry.register_model(MODEL, exports.failing, registered_by=REGISTRANT)
    assert failing.version == "v3"

    result = registry.canary_deploy(MODEL, "v3", endpoint_name=ENDPOINT, health_check=CHECK)

    assert not result.promoted
    assert result.report.errors == 5
    assert "this model always fails" in result.report.first_error
    record = registry.get_endpoint(ENDPOINT)
    assert record.traffic == {baseline.id: 100}  # back on the previous version
    assert record.deployment(result.deployment.id).undeployed_at is not None
    assert [d.version for d in record.active()] == ["v1"]
    last = record.history[-1]
    assert (last.action, last.version) == ("canary_rolled_back", "v3")
    assert last.reason.startswith("unhealthy: error rate 100% > 0%")
    assert "this model always fails" in last.reason
    metadata = registry.get_model_metadata(MODEL, "v3")
    assert metadata.annotations["canary"].startswith(f"rolled back on {ENDPOINT}: unhealthy")
    assert [d.undeployed_at is not None for d in metadata.deployments] == [True]
    assert registry.predict(ENDPOINT, [INSTANCE]).model_version == "v1"


def test_user_check_saying_no_rolls_back(registry: ModelRegistry) -> None:
    baseline, _, _ = registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    seen: list[Any] = []

    def check(context: CanaryContext) -> tuple[bool, str]:
        seen.append(context.predict([INSTANCE]))  # the canary itself answers
        return False, "nope"

    result = registry.canary_deploy(MODEL, "v2", endpoint_name=ENDPOINT, health_check=check, canary_percent=30)

    assert not result.promoted
    assert result.report.reason == "unhealthy: nope"
    assert [p.model_version for p in seen] == ["v2"]
    record = registry.get_endpoint(ENDPOINT)
    assert record.traffic == {baseline.id: 100}
    assert (record.history[-1].action, record.history[-1].reason) == ("canary_rolled_back", "unhealthy: nope")
    assert (
        registry.get_model_metadata(MODEL, "v2").annotations["canary"] == f"rolled back on {ENDPOINT}: unhealthy: nope"
    )
