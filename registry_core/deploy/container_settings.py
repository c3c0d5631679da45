"""What `model-registry serve-container` serves, and where: the platform's environment, overridden by flags.

The platform is the ``--platform`` flag, else the first whose environment is there, in this order:

- ``vertex``: any of ``AIP_HTTP_PORT``, ``AIP_STORAGE_URI``, ``AIP_PREDICT_ROUTE``, ``AIP_HEALTH_ROUTE`` is set. Port
  ``AIP_HTTP_PORT`` (8080), predict route ``AIP_PREDICT_ROUTE`` (``/predict``), health route ``AIP_HEALTH_ROUTE``
  (``/health``), the SavedModel at ``AIP_STORAGE_URI`` (a ``gs://`` folder Vertex copied the artifact to).
- ``kserve``: ``STORAGE_URI`` is set or ``/mnt/models`` exists. Port ``--http_port`` or ``PORT`` (8080), the
  SavedModel in ``/mnt/models`` (where KServe's storage initializer puts it), else at ``STORAGE_URI``; model name
  ``--model_name`` (KServe's argument) or ``MODEL_NAME`` (``model``).
- ``sagemaker``: ``SM_MODEL_DIR`` or ``SAGEMAKER_BIND_TO_PORT`` is set, or ``/opt/ml/model`` exists. Port
  ``SAGEMAKER_BIND_TO_PORT`` (8080), the SavedModel in ``SM_MODEL_DIR`` (``/opt/ml/model``).
- ``local``: none of these; the flags must say what to serve.

``--model`` (with ``--version`` or ``--stage``) serves a registry version, resolved in ``--registry`` (or
``$MODEL_REGISTRY_ROOT``) and verified against its manifest; ``--model-dir`` serves a folder or ``gs://`` URI. Either
replaces the platform's model location; ``--port``, ``--host`` and the routes replace the platform's too. With an
expected digest (``--digest`` or ``REGISTRY_ARTIFACT_DIGEST``), a folder is refused unless its files are exactly the
ones of that manifest digest.

With ``REGISTRY_ROOT`` (a registry root: a folder or ``gs://...``), served predictions are logged and feedback kept
there (`registry_core.monitoring`) under the registry endpoint ``REGISTRY_ENDPOINT``, a share ``--log-sample-rate``
or ``REGISTRY_LOG_SAMPLE_RATE`` of requests; ``--no-prediction-log`` turns it off. Without ``REGISTRY_ROOT`` nothing
is logged, and ``/health`` says so. The KServe and SageMaker targets set all three. On Vertex AI, whose uploaded model
serves on any number of endpoints, only ``REGISTRY_ROOT`` is set: without ``REGISTRY_ENDPOINT``, the endpoint is the
one whose record names the Vertex endpoint ``AIP_ENDPOINT_ID`` (see `registry_core.deploy.container_log`), and its
sample rate the record's, unless one is given here. Elsewhere the endpoint defaults to the model name, the rate to 1.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from registry_core.arguments import validate_name
from registry_core.errors import InvalidInputError
from registry_core.text import shown

logger = logging.getLogger(__name__)

PLATFORMS = ("vertex", "kserve", "sagemaker", "local")
DEFAULT_PORT = 8080
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - a container must listen on every interface (Vertex AI requires it)
KSERVE_MODEL_DIR = "/mnt/models"
SAGEMAKER_MODEL_DIR = "/opt/ml/model"
DIGEST_ENV = "REGISTRY_ARTIFACT_DIGEST"
MODEL_NAME_ENV = "REGISTRY_MODEL_NAME"
MODEL_VERSION_ENV = "REGISTRY_MODEL_VERSION"
LOG_ROOT_ENV = "REGISTRY_ROOT"
LOG_ENDPOINT_ENV = "REGISTRY_ENDPOINT"
LOG_SAMPLE_RATE_ENV = "REGISTRY_LOG_SAMPLE_RATE"
VERTEX_ENDPOINT_ENV = "AIP_ENDPOINT_ID"  # Vertex AI: the last part of the name of the endpoint the container serves
_VERTEX_VARS = ("AIP_HTTP_PORT", "AIP_STORAGE_URI", "AIP_PREDICT_ROUTE", "AIP_HEALTH_ROUTE")
_SAID_LOCAL: set[str] = set()  # registry roots already said to be out of the containers' reach
_VERTEX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")  # a number, or a name chosen at creation
_PLATFORM_NAMES = {"vertex": "Vertex AI", "kserve": "KServe", "sagemaker": "SageMaker", "local": "local"}


@dataclass(frozen=True)
class ContainerFlags:
    """What the command line said (None: not given, so the environment decides)."""

    platform: str | None = None
    host: str | None = None
    port: int | None = None
    model_dir: str | None = None
    registry: str | None = None
    model: str | None = None
    version: str | None = None
    stage: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    predict_route: str | None = None
    health_route: str | None = None
    digest: str | None = None
    log_sample_rate: float | None = None
    prediction_log: bool = True


@dataclass(frozen=True)
class ContainerSettings:
    """What a serving container serves, and where.

    Attributes:
        platform: "vertex", "kserve", "sagemaker" or "local".
        host: Address to bind.
        port: Port to bind.
        source: The SavedModel folder or ``gs://`` URI; "" when serving a registry version.
        registry: Registry root of a registry version (None: the default root).
        model: Registry model to serve, or None.
        version: Its version label (None: by `stage`, or the latest).
        stage: Its stage, or None.
        model_name: The name the protocols answer to (by default the registry model's, when serving one).
        model_version: The version the protocols report.
        predict_route: Vertex's predict route, or None.
        health_route: Vertex's health route, or None.
        deployed_model_id: The ``deployedModelId`` of Vertex-style answers.
        digest: The artifact digest a folder must have, or None.
        log_root: The registry root where predictions are logged and feedback kept, or None (nothing logged).
        log_endpoint: The endpoint name they are kept under, or None: the one naming `vertex_endpoint_id`.
        log_sample_rate: Share of requests logged, or None: the endpoint's (Vertex), else all.
        vertex_endpoint_id: The id of the Vertex AI endpoint served (``AIP_ENDPOINT_ID``), or None.
    """

    platform: str
    host: str
    port: int
    source: str
    registry: str | None
    model: str | None
    version: str | None
    stage: str | None
    model_name: str
    model_version: str
    predict_route: str | None
    health_route: str | None
    deployed_model_id: str
    digest: str | None
    log_root: str | None = None
    log_endpoint: str | None = "model"
    log_sample_rate: float | None = None
    vertex_endpoint_id: str | None = None

    @property
    def platform_name(self) -> str:
        """The platform as people name it ("Vertex AI", "KServe", ...)."""
        return _PLATFORM_NAMES[self.platform]


def prediction_log_env(registry_root: str | None, endpoint: str | None, sample_rate: float | None) -> dict[str, str]:
    """The environment that makes a target's serving container log predictions (see the module's docstring).

    Args:
        registry_root: The registry's root URI; only a ``gs://`` one is reachable from a container, so for any other
            the container logs nothing (said once per process, in the deploy's log).
        endpoint: The registry endpoint the container serves, or None when it finds it itself (Vertex AI).
        sample_rate: The endpoint's share of requests to log, or None (all; on Vertex AI the record keeps it).
    """
    if registry_root is None or not registry_root.startswith("gs://"):
        if registry_root is not None and registry_root not in _SAID_LOCAL:
            _SAID_LOCAL.add(registry_root)
            logger.info(  # info: a local registry deploying to a cloud is a test or a demo, not worth a warning
                "the registry %s is not on gs://, so serving containers cannot reach it: they log no predictions "
                "(model-registry monitor needs a gs:// registry for cloud endpoints)", registry_root,
            )  # fmt: skip
        return {}
    env = {LOG_ROOT_ENV: registry_root}
    if endpoint is not None:
        env[LOG_ENDPOINT_ENV] = endpoint
    if sample_rate is not None:
        env[LOG_SAMPLE_RATE_ENV] = repr(float(sample_rate))
    return env


def check_sample_rate(value: object) -> float | None:
    """Return a target's ``log_sample_rate`` setting (None: not set). Raises: InvalidInputError unless 0 to 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        msg = f"the log sample rate must be a number from 0 to 1, got {shown(value)}"
        raise InvalidInputError(msg)
    return float(value)


def detect_platform(env: Mapping[str, str], is_dir: Callable[[str], bool] = lambda p: Path(p).is_dir()) -> str:
    """Return the platform whose environment is there (see the module's docstring for the order)."""
    if any(env.get(name) for name in _VERTEX_VARS):
        return "vertex"
    if env.get("STORAGE_URI") or is_dir(KSERVE_MODEL_DIR):
        return "kserve"
    if env.get("SM_MODEL_DIR") or env.get("SAGEMAKER_BIND_TO_PORT") or is_dir(SAGEMAKER_MODEL_DIR):
        return "sagemaker"
    return "local"


def resolve(
    flags: ContainerFlags, env: Mapping[str, str], is_dir: Callable[[str], bool] = lambda p: Path(p).is_dir()
) -> ContainerSettings:
    """Decide what to serve and where, from the flags, else the platform's environment.

    Args:
        flags: The command line.
        env: The environment (``os.environ``).
        is_dir: Whether a path is a folder (the platforms' model folders are looked for with it).

    Raises:
        InvalidInputError: a setting is malformed, contradicts another, or nothing says what to serve.
    """
    if flags.platform is not None and flags.platform not in PLATFORMS:
        msg = f"unknown platform {shown(flags.platform)}; use one of {list(PLATFORMS)}"
        raise InvalidInputError(msg)
    platform = flags.platform or detect_platform(env, is_dir)
    if flags.model_dir is not None and flags.model is not None:
        msg = "give --model-dir or --model, not both"
        raise InvalidInputError(msg)
    if flags.model is None and (flags.version is not None or flags.stage is not None):
        msg = "--version and --stage choose a version of --model: add --model"
        raise InvalidInputError(msg)
    if flags.version is not None and flags.stage is not None:
        msg = "give --version or --stage, not both"
        raise InvalidInputError(msg)
    port_text, port_name = _platform_port(platform, env)
    port = flags.port if flags.port is not None else _port(port_text, port_name)
    if not 0 <= port <= 65535:
        msg = f"the port must be from 0 to 65535, got {port}"
        raise InvalidInputError(msg)
    source = "" if flags.model is not None else flags.model_dir or _platform_source(platform, env, is_dir)
    if flags.model is None and not source.strip():
        msg = _nothing_to_serve(platform)
        raise InvalidInputError(msg)
    predict, health = flags.predict_route, flags.health_route
    if platform == "vertex":
        predict = predict or env.get("AIP_PREDICT_ROUTE") or "/predict"
        health = health or env.get("AIP_HEALTH_ROUTE") or "/health"
    for route, name in ((predict, "predict"), (health, "health")):
        if route is not None and not (route.startswith("/") and route.isprintable() and " " not in route):
            msg = f"the {name} route must be a path starting with '/', got {shown(route)}"
            raise InvalidInputError(msg)
    model_name = flags.model_name or flags.model or env.get(MODEL_NAME_ENV) or env.get("MODEL_NAME") or "model"
    model_version = flags.version or flags.model_version or env.get(MODEL_VERSION_ENV) or "1"
    digest = flags.digest or env.get(DIGEST_ENV) or None
    if digest is not None and not (digest.startswith("sha256:") and len(digest) == 71):
        msg = f"the artifact digest must be 'sha256:' and 64 hex digits, got {shown(digest)}"
        raise InvalidInputError(msg)
    log_root = (env.get(LOG_ROOT_ENV) or "").strip() or None if flags.prediction_log else None
    vertex_endpoint_id = (env.get(VERTEX_ENDPOINT_ENV) or "").strip() or None if platform == "vertex" else None
    if vertex_endpoint_id is not None and not _VERTEX_ID.match(vertex_endpoint_id):
        msg = f"{VERTEX_ENDPOINT_ENV} must be a Vertex AI endpoint id, got {shown(vertex_endpoint_id)}"
        raise InvalidInputError(msg)
    log_endpoint = (env.get(LOG_ENDPOINT_ENV) or "").strip() or (None if vertex_endpoint_id else model_name)
    if log_root is not None and log_endpoint is not None:
        validate_name(log_endpoint, "endpoint")
    rate = flags.log_sample_rate if flags.log_sample_rate is not None else _rate(env.get(LOG_SAMPLE_RATE_ENV))
    return ContainerSettings(
        platform=platform,
        host=flags.host or DEFAULT_HOST,
        port=port,
        source=source.strip(),
        registry=flags.registry,
        model=flags.model,
        version=flags.version,
        stage=flags.stage,
        model_name=model_name,
        model_version=model_version,
        predict_route=predict,
        health_route=health if health != "/health" else None,  # /health is always there
        deployed_model_id=env.get("AIP_DEPLOYED_MODEL_ID") or f"{model_name}-{model_version}",
        digest=digest,
        log_root=log_root,
        log_endpoint=log_endpoint,
        log_sample_rate=rate,
        vertex_endpoint_id=vertex_endpoint_id,
    )


def _rate(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        msg = f"{LOG_SAMPLE_RATE_ENV} must be a number from 0 to 1, got {shown(text)}"
        raise InvalidInputError(msg) from None


def _platform_port(platform: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    name = {"vertex": "AIP_HTTP_PORT", "kserve": "PORT", "sagemaker": "SAGEMAKER_BIND_TO_PORT"}.get(platform, "")
    return (env.get(name) if name else None), name


def _port(text: str | None, name: str) -> int:
    if text is None or not text.strip():
        return DEFAULT_PORT
    if not text.strip().isdigit():
        msg = f"{name} must be a port number, got {shown(text)}"
        raise InvalidInputError(msg)
    return int(text)


def _platform_source(platform: str, env: Mapping[str, str], is_dir: Callable[[str], bool]) -> str:
    if platform == "vertex":
        return env.get("AIP_STORAGE_URI", "")
    if platform == "kserve":
        return KSERVE_MODEL_DIR if is_dir(KSERVE_MODEL_DIR) else env.get("STORAGE_URI", "")
    if platform == "sagemaker":
        return env.get("SM_MODEL_DIR") or SAGEMAKER_MODEL_DIR
    return ""


def _nothing_to_serve(platform: str) -> str:
    if platform == "vertex":
        return "AIP_STORAGE_URI is not set: give the model's Model.upload an artifact_uri, or pass --model-dir"
    if platform == "kserve":
        return f"nothing to serve: {KSERVE_MODEL_DIR} does not exist and STORAGE_URI is empty (or pass --model-dir)"
    return (
        "nothing to serve: pass --model-dir (a SavedModel folder or gs:// URI) or --model with --version/--stage, "
        "or run on Vertex AI (AIP_STORAGE_URI), KServe (STORAGE_URI, /mnt/models) or SageMaker (SM_MODEL_DIR)"
    )
