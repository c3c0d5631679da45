"""`deploy --target sagemaker` and the brief's rollback, typed as users do (``python -m registry_core``), on moto."""

from __future__ import annotations

from typing import Any

import boto3
from sagemaker_support import BUCKET, IMAGE, MODEL
from support.registry_cli import RegistryCli
from support.sagemaker_standin import REGION, ROLE, SageMakerStandIn

from registry_core import ModelRegistry

SAGEMAKER = ["--target", "sagemaker", "--region", REGION, "--role", ROLE, "--image", IMAGE, "--s3-bucket", BUCKET]


def _weights() -> dict[str, float]:
    variants = boto3.session.Session().client("sagemaker").describe_endpoint(EndpointName="shop")["ProductionVariants"]
    return {v["VariantName"]: v.get("CurrentWeight", 0.0) for v in variants}


def _versions(registry: ModelRegistry) -> dict[str, str]:
    """Deployed id (= variant name) -> version, of the deployments still on the endpoint."""
    return {d.id: d.version for d in registry.get_endpoint("shop").active()}


def _to_production(registry: ModelRegistry, version: str) -> None:
    for stage in ("validation", "staging"):
        registry.promote_model(MODEL, version, stage, actor="alice")
    registry.promote_model(MODEL, version, "production", approved_by="bob", actor="bob")


def test_deploy_canary_split_describe_and_rollback_from_the_cli(
    registry: ModelRegistry, sagemaker: SageMakerStandIn
) -> None:
    cli = RegistryCli(registry.storage.uri)
    _to_production(registry, "v1")

    out = cli("deploy", MODEL, "--version", "v1", "--endpoint-name", "shop", *SAGEMAKER).stdout
    assert f"deployed {MODEL} v1 to shop (sagemaker): {MODEL} v1=100%" in out
    (v1,) = _versions(registry)
    assert _weights() == {v1: 100.0}

    # a canary whose check fails is rolled back by itself: exit 1, the endpoint as it was
    done = cli("deploy", MODEL, "--version", "v2", "--endpoint-name", "shop", "--target", "sagemaker",
               "--canary-percent", "20", "--health-check", "command=echo too slow; false", expect=1)  # fmt: skip
    assert f"canary {MODEL} v2 on shop: rolled back" in done.stdout
    assert "too slow" in done.stdout
    assert _weights() == {v1: 100.0}

    # 90/10, with the settings the record kept
    out = cli("deploy", MODEL, "--version", "v2", "--endpoint-name", "shop", "--target", "sagemaker",
              "--traffic-percent", "10").stdout  # fmt: skip
    assert f"{MODEL} v1=90%" in out
    assert f"{MODEL} v2=10%" in out
    v2 = next(i for i, v in _versions(registry).items() if v == "v2")
    assert _weights() == {v1: 90.0, v2: 10.0}

    out = cli("endpoints", "describe", "shop").stdout
    assert f"runs on: Amazon SageMaker, region {REGION}, endpoint shop" in out
    for deployment in registry.get_endpoint("shop").deployments:
        assert deployment.target_ref in out  # each deployment's SageMaker model

    # v2 takes production and the whole endpoint; the brief's rollback brings v1 back on SageMaker
    _to_production(registry, "v2")
    cli("deploy", MODEL, "--version", "v2", "--endpoint-name", "shop", "--target", "sagemaker")
    assert _weights() == {v2: 100.0}
    cli("rollback", MODEL, "v1", "--endpoint-name", "shop")
    record = registry.get_endpoint("shop")
    (back,) = record.serving()
    assert back.version == "v1"
    assert _weights() == {back.id: 100.0}
    assert registry.get_model_metadata(MODEL, stage="production").version == "v1"


def test_cli_errors_are_one_line(registry: ModelRegistry, sagemaker: SageMakerStandIn) -> None:
    cli = RegistryCli(registry.storage.uri)
    env: dict[str, Any] = {k: v for k, v in cli.env.items() if not k.startswith("AWS_SE") and k != "AWS_ACCESS_KEY_ID"}
    done = cli("deploy", MODEL, "--version", "v1", "--endpoint-name", "shop", *SAGEMAKER, expect=9, env=env)
    assert done.stderr.startswith("error: SageMaker could not ")
    assert "no AWS credentials" in done.stderr
    assert done.stderr.count("\n") == 1

    sagemaker.deny = {"CreateModel"}
    done = cli("deploy", MODEL, "--version", "v1", "--endpoint-name", "shop", *SAGEMAKER, expect=9)
    assert done.stderr.startswith(f"error: SageMaker could not create the model {MODEL}-v1-")
    assert ": AccessDeniedException: User: " in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    sagemaker.deny = set()
    sagemaker.calls.clear()

    done = cli("deploy", MODEL, "--version", "v1", "--endpoint-name", "shop", "--role", ROLE, expect=2)
    assert done.stderr == "error: --role and --s3-bucket are settings of --target sagemaker\n"
    done = cli("deploy", MODEL, "--version", "v1", "--endpoint-name", "shop", *SAGEMAKER, "--project", "p", expect=2)
    assert done.stderr.startswith("error: --project and --prebuilt-image are settings of --target vertex")
    no_role = [a for a in SAGEMAKER if a not in ("--role", ROLE)]
    done = cli("deploy", MODEL, "--version", "v1", "--endpoint-name", "shop", *no_role, expect=2)
    assert done.stderr.startswith("error: bad SageMaker target settings")
    assert done.stderr.count("\n") == 1
    assert sagemaker.calls == []
