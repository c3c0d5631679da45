"""`deploy --target kserve`, canaries, describe and undeploy typed as users do (``python -m registry_core``)."""

from __future__ import annotations

import json
from pathlib import Path

from kserve_support import MODEL
from support.kserve_standin import KServeStandIn
from support.registry_cli import RegistryCli

from registry_core import ModelRegistry

IMAGE = "europe-docker.pkg.dev/acme/serving/model-registry:1"


def _traffic(kserve: KServeStandIn) -> dict[str, int]:
    entries = kserve.services[("ml", "shop")]["status"]["components"]["predictor"]["traffic"]
    return {t["revisionName"]: t["percent"] for t in entries if t["percent"]}


def test_deploy_canary_describe_and_undeploy_from_the_cli(
    registry: ModelRegistry, kserve: KServeStandIn, tmp_path: Path
) -> None:
    cli = RegistryCli(registry.storage.uri)
    kube = ["--target", "kserve", "--namespace", "ml", "--api-endpoint", kserve.url]
    # the image from the environment, kept in the endpoint's record for the later deploys
    done = cli("deploy", MODEL, "-v", "v1", "--endpoint-name", "shop", *kube, "--log-sample-rate", "0.2",
               env=cli.env | {"REGISTRY_SERVING_IMAGE": IMAGE})  # fmt: skip
    assert "deployed eyewear v1 to shop (kserve)" in done.stdout
    assert registry.get_endpoint("shop").target_settings["image"] == IMAGE
    assert registry.get_endpoint("shop").target_settings["log_sample_rate"] == 0.2

    probes = tmp_path / "probes.json"
    probes.write_text(json.dumps({"instances": [[1.0]]}))
    done = cli("deploy", MODEL, "-v", "v2", "--endpoint-name", "shop", "--target", "kserve", "--canary-percent", "10",
               "--health-check", f"instances={probes}", "--health-check", "probes=3")  # fmt: skip
    assert "canary eyewear v2 on shop: promoted to 100%" in done.stdout
    (serving,) = registry.get_endpoint("shop").active()
    assert serving.version == "v2"
    assert _traffic(kserve) == {serving.id: 100}

    kserve.bad_predictions.add("v3")
    done = cli("deploy", MODEL, "-v", "v3", "--endpoint-name", "shop", "--target", "kserve", "--canary-percent", "10",
               "--health-check", f"instances={probes}", expect=1)  # fmt: skip
    assert "rolled back" in done.stdout
    assert _traffic(kserve) == {serving.id: 100}

    described = cli("endpoints", "describe", "shop").stdout
    assert (
        f"runs on: KServe, cluster {kserve.url}, namespace ml, InferenceService shop, revisions {serving.id} (100%)"
        in (described)
    )

    registry.undeploy_model("shop", serving.id, actor="carol")
    assert ("ml", "shop") not in kserve.services


def test_cli_errors_are_one_line(registry: ModelRegistry, kserve: KServeStandIn) -> None:
    cli = RegistryCli(registry.storage.uri)
    kube = ["--target", "kserve", "--namespace", "ml", "--api-endpoint", kserve.url]

    no_image = cli("deploy", MODEL, "-v", "v1", "--endpoint-name", "shop", *kube, expect=9)
    assert no_image.stderr.startswith("error: the KServe target needs a serving image")
    kserve.forbidden = True
    denied = cli("deploy", MODEL, "-v", "v1", "--endpoint-name", "shop", *kube, "--serving-image", IMAGE, expect=9)
    assert denied.stderr.count("\n") == 1
    assert "403" in denied.stderr
    assert "Traceback" not in denied.stderr
    wrong = cli("deploy", MODEL, "-v", "v1", "--endpoint-name", "shop", *kube, "--role", "x", expect=2)
    assert wrong.stderr.startswith("error: KServe takes --namespace")
    stray = cli("deploy", MODEL, "-v", "v1", "--endpoint-name", "shop", "--namespace", "ml", expect=2)
    assert stray.stderr == "error: --namespace and --kube-context are settings of --target kserve\n"
    rate = cli("deploy", MODEL, "-v", "v1", "--endpoint-name", "shop", *kube, "--log-sample-rate", "3", expect=2)
    assert rate.stderr == "error: the log sample rate must be a number from 0 to 1, got 3.0\n"
    local = cli("deploy", MODEL, "-v", "v1", "--endpoint-name", "here", "--log-sample-rate", "0.5", expect=2)
    assert local.stderr.startswith("error: --log-sample-rate is for cloud targets; for the local server: ")


def test_reconcile_adopts_a_first_deploy_whose_client_died(registry: ModelRegistry, kserve: KServeStandIn) -> None:
    from registry_core.deploy import EndpointRecord
    from registry_core.deploy.base import NEW_DEPLOYMENT
    from registry_core.deploy.kserve import KServeTarget
    from registry_core.metadata import utc_now

    meta = registry.get_model_metadata(MODEL, "v2")
    fresh = EndpointRecord(name="shop", target="kserve", created_at=utc_now())
    # the InferenceService was created, and the client died before the registry kept any record
    lost = KServeTarget(namespace="ml", image=IMAGE, api_endpoint=kserve.url).deploy(
        fresh, meta, None, {NEW_DEPLOYMENT: 100}
    )
    cli = RegistryCli(registry.storage.uri)

    done = cli(
        "endpoints", "reconcile", "shop", "--target", "kserve", "--namespace", "ml", "--api-endpoint", kserve.url
    )

    assert "deployed eyewear v2" in done.stdout
    assert "endpoint shop (kserve) serves: eyewear v2=100%" in done.stdout
    record = registry.get_endpoint("shop")
    assert record.traffic == {lost.deployed_id: 100}
    assert record.target_ref == "ml/shop"
