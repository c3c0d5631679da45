"""Which platform `serve-container` believes it runs on, and what the flags override (no process, no model)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry_core.deploy.container_settings import ContainerFlags, resolve
from registry_core.errors import InvalidInputError


def folders(*present: str) -> Callable[[str], bool]:
    """An `is_dir` that sees only `present` (the platforms' model folders do not exist on this machine)."""
    return lambda path: path in present


NOTHING = folders()
VERTEX = {"AIP_STORAGE_URI": "gs://b/copy", "AIP_ENDPOINT_ID": "4567"}  # as Vertex AI starts a container


@pytest.mark.parametrize(
    ("env", "present", "platform", "source", "port"),
    [
        ({"AIP_STORAGE_URI": "gs://b/m", "STORAGE_URI": "/k", "SM_MODEL_DIR": "/s"}, (), "vertex", "gs://b/m", 8080),
        ({"AIP_HTTP_PORT": "9000", "AIP_STORAGE_URI": "gs://b/m"}, (), "vertex", "gs://b/m", 9000),
        ({"STORAGE_URI": "gs://b/k", "SM_MODEL_DIR": "/s", "PORT": "8012"}, (), "kserve", "gs://b/k", 8012),
        ({"STORAGE_URI": "gs://b/k"}, ("/mnt/models",), "kserve", "/mnt/models", 8080),  # the initializer's copy
        ({}, ("/mnt/models", "/opt/ml/model"), "kserve", "/mnt/models", 8080),
        ({"SM_MODEL_DIR": "/s", "SAGEMAKER_BIND_TO_PORT": "8081"}, (), "sagemaker", "/s", 8081),
        ({}, ("/opt/ml/model",), "sagemaker", "/opt/ml/model", 8080),
        ({"PORT": "9999", "SM_MODEL_DIR": "/s"}, (), "sagemaker", "/s", 8080),  # PORT is KServe's, not SageMaker's
    ],
)
def test_the_platform_is_the_first_whose_environment_is_there(
    env: dict[str, str], present: tuple[str, ...], platform: str, source: str, port: int
) -> None:
    settings = resolve(ContainerFlags(), env, folders(*present))
    assert (settings.platform, settings.source, settings.port) == (platform, source, port)
    assert settings.host == "0.0.0.0"  # noqa: S104 - what a container must bind


def test_flags_override_the_environment() -> None:
    env = {"AIP_HTTP_PORT": "9000", "AIP_STORAGE_URI": "gs://b/m", "AIP_PREDICT_ROUTE": "/v1/x:predict"}
    flags = ContainerFlags(port=7000, model_dir="/here", predict_route="/p", host="127.0.0.1", model_name="shop")
    settings = resolve(flags, env, NOTHING)
    assert (settings.platform, settings.port, settings.source, settings.predict_route) == (
        "vertex",
        7000,
        "/here",
        "/p",
    )
    assert (settings.host, settings.model_name) == ("127.0.0.1", "shop")
    assert resolve(ContainerFlags(platform="sagemaker"), env, NOTHING).source == "/opt/ml/model"


def test_vertex_routes_and_ids_come_from_its_variables() -> None:
    env = {
        "AIP_STORAGE_URI": "gs://b/m",
        "AIP_PREDICT_ROUTE": "/v1/endpoints/1/deployedModels/2:predict",
        "AIP_HEALTH_ROUTE": "/v1/endpoints/1/deployedModels/2",
        "AIP_DEPLOYED_MODEL_ID": "2",
        "REGISTRY_MODEL_NAME": "eyewear",
        "REGISTRY_MODEL_VERSION": "v3",
    }
    settings = resolve(ContainerFlags(), env, NOTHING)
    assert settings.predict_route == "/v1/endpoints/1/deployedModels/2:predict"
    assert settings.health_route == "/v1/endpoints/1/deployedModels/2"
    assert (settings.deployed_model_id, settings.model_name, settings.model_version) == ("2", "eyewear", "v3")
    defaults = resolve(ContainerFlags(), {"AIP_STORAGE_URI": "gs://b/m"}, NOTHING)
    assert (defaults.predict_route, defaults.health_route) == ("/predict", None)  # /health is always served


def test_a_registry_version_needs_no_platform() -> None:
    flags = ContainerFlags(model="eyewear", stage="production", registry="gs://b/registry")
    settings = resolve(flags, {}, NOTHING)
    assert (settings.platform, settings.source, settings.model, settings.model_name) == (
        "local",
        "",
        "eyewear",
        "eyewear",
    )


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (ContainerFlags(), {}, "nothing to serve"),
        (ContainerFlags(platform="kserve"), {}, "/mnt/models does not exist and STORAGE_URI is empty"),
        (ContainerFlags(), {"AIP_HEALTH_ROUTE": "/h"}, "AIP_STORAGE_URI is not set"),
        (ContainerFlags(), {"STORAGE_URI": "/k", "PORT": "-1"}, "PORT must be a port number"),
        (ContainerFlags(model_dir="/m", port=70000), {}, "the port must be from 0 to 65535"),
        (ContainerFlags(model_dir="/m", health_route="/a b"), {}, "the health route must be a path"),
        (ContainerFlags(model="m", version="v1", stage="production"), {}, "--version or --stage, not both"),
        (ContainerFlags(model_dir="/m"), {"REGISTRY_ARTIFACT_DIGEST": "sha256:abc"}, "the artifact digest must be"),
    ],
)
def test_bad_or_missing_settings_are_refused(flags: ContainerFlags, env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        resolve(flags, env, NOTHING)


@pytest.mark.parametrize(
    ("flags", "env", "logged"),
    [
        (ContainerFlags(model_dir="/m"), {}, (None, "model", None)),
        (ContainerFlags(model_dir="/m"), {"REGISTRY_ROOT": "gs://b/r"}, ("gs://b/r", "model", None)),
        (
            ContainerFlags(model_dir="/m", model_name="eyewear"),
            {"REGISTRY_ROOT": "/r", "REGISTRY_ENDPOINT": "shop", "REGISTRY_LOG_SAMPLE_RATE": "0.25"},
            ("/r", "shop", 0.25),
        ),
        (ContainerFlags(model_dir="/m", log_sample_rate=0.5), {"REGISTRY_LOG_SAMPLE_RATE": ".1"}, (None, "model", 0.5)),
        (ContainerFlags(model_dir="/m", prediction_log=False), {"REGISTRY_ROOT": "/r"}, (None, "model", None)),
        # Vertex: the endpoint is found from AIP_ENDPOINT_ID (on Vertex only), unless REGISTRY_ENDPOINT names it
        (ContainerFlags(), VERTEX | {"REGISTRY_ROOT": "gs://b/r"}, ("gs://b/r", None, None, "4567")),
        (ContainerFlags(), VERTEX | {"REGISTRY_ENDPOINT": "shop"}, (None, "shop", None, "4567")),
        (ContainerFlags(model_dir="/m"), {"AIP_ENDPOINT_ID": "4567"}, (None, "model", None, None)),
    ],
)
def test_predictions_are_logged_only_with_a_registry_root(
    flags: ContainerFlags, env: dict[str, str], logged: tuple[str | None, ...]
) -> None:
    settings = resolve(flags, env, NOTHING)
    found = (settings.log_root, settings.log_endpoint, settings.log_sample_rate, settings.vertex_endpoint_id)
    assert found[: len(logged)] == logged


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REGISTRY_ROOT": "/r", "REGISTRY_ENDPOINT": "Shop EU"}, "invalid endpoint name 'Shop EU'"),
        ({"REGISTRY_LOG_SAMPLE_RATE": "half"}, "REGISTRY_LOG_SAMPLE_RATE must be a number from 0 to 1, got 'half'"),
        (VERTEX | {"AIP_ENDPOINT_ID": "../x"}, "AIP_ENDPOINT_ID must be a Vertex AI endpoint id, got '../x'"),
    ],
)
def test_bad_logging_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        resolve(ContainerFlags(model_dir="/m"), env, NOTHING)
