"""The deployment commands of the CLI on a real local registry and real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deploy_support import INSTANCE, MODEL, Exports, promote_to_production

from registry_core import ModelRegistry
from registry_core.cli import main

ENDPOINT = "shop"


@pytest.fixture
def cli(registry: ModelRegistry, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    root = registry.storage.uri

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--registry", root, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def instances(tmp_path: Path) -> Path:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"instances": [INSTANCE]}))
    return path


def test_deploy_predict_and_describe_an_endpoint(cli, instances: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("deploy", MODEL, "--version", "v1", "--endpoint-name", ENDPOINT)
    assert code == 0, err
    assert f"deployed {MODEL} v1 to {ENDPOINT} (local): {MODEL} v1=100%" in out

    code, out, _ = cli("predict", ENDPOINT, "--json", str(instances))
    answer = json.loads(out)
    assert code == 0
    assert answer["modelVersion"] == "v1"
    assert "frame_style" in answer["predictions"][0]

    code, out, _ = cli("deploy", MODEL, "--version", "v2", "--endpoint-name", ENDPOINT, "--traffic-percent", "10")
    assert f"{MODEL} v1=90%" in out
    assert f"{MODEL} v2=10%" in out
    code, out, _ = cli("endpoints", "list")
    assert ENDPOINT in out
    assert "v2=10%" in out
    code, out, _ = cli("endpoints", "describe", ENDPOINT)
    assert code == 0
    assert out.count("deployed") >= 2


def test_a_canary_from_the_cli_completes_when_healthy(cli, instances: Path) -> None:  # type: ignore[no-untyped-def]
    cli("deploy", MODEL, "--version", "v1", "--endpoint-name", ENDPOINT)

    code, out, err = cli(
        "deploy", MODEL, "--version", "v2", "--endpoint-name", ENDPOINT, "--canary-percent", "10",
        "--health-check", f"instances={instances}", "--health-check", "probes=3",
    )  # fmt: skip

    assert code == 0, err
    assert "promoted to 100%" in out


def test_a_canary_whose_command_check_fails_is_rolled_back(cli, registry: ModelRegistry) -> None:  # type: ignore[no-untyped-def]
    cli("deploy", MODEL, "--version", "v1", "--endpoint-name", ENDPOINT)

    code, out, _ = cli(
        "deploy", MODEL, "--version", "v2", "--endpoint-name", ENDPOINT, "--canary-percent", "10",
        "--health-check", "command=echo error budget exceeded for $MODEL_REGISTRY_VERSION; exit 1",
    )  # fmt: skip

    assert code == 1
    assert "rolled back" in out
    assert "error budget exceeded for v2" in out
    serving = registry.get_endpoint(ENDPOINT).serving()
    assert [d.version for d in serving] == ["v1"]


def test_rollback_with_an_endpoint_puts_the_previous_version_back(  # type: ignore[no-untyped-def]
    cli, registry: ModelRegistry, exports: Exports
) -> None:
    promote_to_production(registry, "v1")
    cli("deploy", MODEL, "--stage", "production", "--endpoint-name", ENDPOINT)
    promote_to_production(registry, "v2")
    cli("deploy", MODEL, "--stage", "production", "--endpoint-name", ENDPOINT)

    code, out, err = cli("rollback", MODEL, "--endpoint-name", ENDPOINT, "--reason", "latency")

    assert code == 0, err
    assert f"{MODEL} v1 is back in production and serves 100% of {ENDPOINT}" in out
    assert [d.version for d in registry.get_endpoint(ENDPOINT).serving()] == ["v1"]
