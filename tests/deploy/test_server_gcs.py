"""The server process follows a registry on GCS (the emulator): deploy, replace, roll back, with no restart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from deploy_support import (
    INSTANCE,
    MODEL,
    Exports,
    ServerProcess,
    call,
    make_registry,
    predict_url,
    promote_to_production,
    wait_until_following,
)

from registry_core import ModelRegistry

ENDPOINT = "shop"


def test_server_follows_a_gcs_registry(
    gcs_bucket: str, exports: Exports, start_server: Callable[[ModelRegistry, str], ServerProcess]
) -> None:
    registry = make_registry(f"gs://{gcs_bucket}/registry", exports)
    promote_to_production(registry, "v1")
    registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT)
    server = start_server(registry, ENDPOINT)  # inherits STORAGE_EMULATOR_HOST
    pid = server.process.pid
    url = predict_url(server.url, ENDPOINT)

    def versions(requests: int) -> Counter[str]:
        replies = [call("POST", url, {"instances": [INSTANCE]}) for _ in range(requests)]
        assert {r.status for r in replies} == {200}, replies[0].text
        assert all(r.body["predictions"][0]["frame_style"] for r in replies)
        return Counter(r.body["modelVersion"] for r in replies)

    assert versions(10) == Counter({"v1": 10})

    promote_to_production(registry, "v2")
    registry.deploy_model(MODEL, "v2", endpoint_name=ENDPOINT, traffic_percent=100)
    health = wait_until_following(server.url, registry, ENDPOINT)
    assert [(d["version"], d["loaded"]) for d in health.body["deployedModels"]] == [("v2", True)]
    assert versions(10) == Counter({"v2": 10})

    assert registry.rollback(MODEL, endpoint_name=ENDPOINT).version == "v1"
    health = wait_until_following(server.url, registry, ENDPOINT)
    assert [(d["version"], d["traffic"]) for d in health.body["deployedModels"]] == [("v1", 100)]
    assert versions(10) == Counter({"v1": 10})

    assert server.process.pid == pid
    assert server.stop() == 0, server.log_text()
