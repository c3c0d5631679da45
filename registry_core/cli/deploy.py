"""Commands that serve versions: deploy (with canaries), predict, serve, endpoints list/describe."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from registry_core.cli._context import open_registry, registry_uri
from registry_core.cli._output import echo, emit, table, transfer_bar, when
from registry_core.cli._parsing import pairs, parse_number, read_instances
from registry_core.deploy.base import SERVING_IMAGE_VARIABLE
from registry_core.deploy.vertex_image import IMAGE_REPOSITORY_VARIABLE, PREBUILT_SERVING_IMAGE
from registry_core.errors import InvalidInputError
from registry_core.text import shown

if TYPE_CHECKING:
    from registry_core.registry import ModelRegistry


commands = typer.Typer()
endpoints_app = typer.Typer(help="Inspect endpoints.", no_args_is_help=True)
commands.add_typer(endpoints_app, name="endpoints")


def _health_check(specs: list[str]) -> Any:
    """Build a HealthCheck (probes, max-error-rate, max-latency-ms, instances=FILE) or a command check."""
    from registry_core.deploy.canary import HealthCheck, command_check

    options = pairs(specs, "health check")
    if "command" in options:
        if len(options) > 1:
            msg = "a health check 'command=...' takes no other settings"
            raise InvalidInputError(msg)
        return command_check(options["command"])
    known = {"probes", "max-error-rate", "max-latency-ms", "instances"}
    if unknown := sorted(set(options) - known):
        msg = f"unknown health check settings {shown(unknown)}; use {sorted(known)} or command=CMD"
        raise InvalidInputError(msg)
    if "instances" not in options:
        msg = "a probing health check needs instances=FILE (JSON with the probe instances)"
        raise InvalidInputError(msg)
    settings: dict[str, Any] = {"instances": read_instances(Path(options["instances"]))}
    if "probes" in options:
        settings["probes"] = int(parse_number(options["probes"], "probes"))
    if "max-error-rate" in options:
        settings["max_error_rate"] = parse_number(options["max-error-rate"], "max-error-rate")
    if "max-latency-ms" in options:
        settings["max_latency_ms"] = parse_number(options["max-latency-ms"], "max-latency-ms")
    try:
        return HealthCheck(**settings)
    except ValueError as exc:
        msg = f"invalid health check: {str(exc).splitlines()[-1].strip()}"
        raise InvalidInputError(msg) from None


@commands.command("deploy")
def deploy(
    name: Annotated[str, typer.Argument(help="Model name.")],
    endpoint_name: Annotated[str, typer.Option(help="Endpoint to deploy to (created on first use).")],
    version: Annotated[Optional[str], typer.Option("--version", "-v", help="Version label.")] = None,  # noqa: UP045
    stage: Annotated[Optional[str], typer.Option("--stage", "-s", help="Deploy the version in this stage.")] = None,  # noqa: UP045
    target: Annotated[str, typer.Option(help="local (model-registry serve), vertex, sagemaker or kserve.")] = "local",
    traffic_percent: Annotated[int, typer.Option(help="Share of the endpoint's traffic, 1-100.")] = 100,
    canary_percent: Annotated[Optional[int], typer.Option(help="Canary share; needs --health-check.")] = None,  # noqa: UP045
    health_check: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(help="instances=FILE, probes=N, max-error-rate=R, max-latency-ms=M, or command=CMD."),
    ] = None,
    project: Annotated[Optional[str], typer.Option(help="Vertex: Google Cloud project.")] = None,  # noqa: UP045
    region: Annotated[Optional[str], typer.Option(help="Vertex, SageMaker (or AWS_REGION): region.")] = None,  # noqa: UP045
    machine_type: Annotated[Optional[str], typer.Option(help="Vertex: machine type; SageMaker: instance type.")] = None,  # noqa: UP045
    min_replicas: Annotated[Optional[int], typer.Option(help="Vertex: minimum replicas; SageMaker: instances.")] = None,  # noqa: UP045
    max_replicas: Annotated[Optional[int], typer.Option(help="Vertex: maximum replicas.")] = None,  # noqa: UP045
    role: Annotated[Optional[str], typer.Option(help="SageMaker: execution role ARN.")] = None,  # noqa: UP045
    serving_image: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--serving-image", "--image",
            help=(
                f"The serving image (serve-container), used as named: Vertex, SageMaker, KServe; default "
                f"${SERVING_IMAGE_VARIABLE}, else for Vertex the project's own, REGION-docker.pkg.dev/PROJECT/"
                f"${IMAGE_REPOSITORY_VARIABLE} (default ml)/model-registry-serving:VERSION as cloudbuild.yaml "
                "pushes it, checked in Artifact Registry first."
            ),
        ),
    ] = None,
    prebuilt_image: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            metavar="URI",
            help=(
                "Vertex: a prebuilt serving container instead of the serving image, e.g. Vertex's TensorFlow 2.15 "
                f"CPU one, {PREBUILT_SERVING_IMAGE} (older than the TensorFlow that trains the models)."
            ),
        ),
    ] = None,
    s3_bucket: Annotated[Optional[str], typer.Option(help="SageMaker: bucket for model.tar.gz uploads.")] = None,  # noqa: UP045
    namespace: Annotated[Optional[str], typer.Option(help="KServe: Kubernetes namespace (default: default).")] = None,  # noqa: UP045
    kube_context: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="KServe: kube config context (default: in-cluster, else the current context)."),
    ] = None,
    log_sample_rate: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            help=(
                "Vertex, SageMaker, KServe on a gs:// registry: share of requests whose predictions the serving "
                "container logs under monitoring/ (0 to 1; default all, at most 100000 records an hour per replica)."
            ),
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    api_endpoint: Annotated[Optional[str], typer.Option(hidden=True)] = None,  # noqa: UP045 - a Vertex stand-in
) -> None:
    """Deploy a version to an endpoint, optionally as a canary that completes or rolls back by itself."""
    registry = open_registry()
    if log_sample_rate is not None and target == "local":
        msg = "--log-sample-rate is for cloud targets; for the local server: model-registry serve --log-sample-rate"
        raise InvalidInputError(msg)
    if target != "kserve" and (namespace is not None or kube_context is not None):
        msg = "--namespace and --kube-context are settings of --target kserve"
        raise InvalidInputError(msg)
    if target == "kserve":
        settings = _kserve_settings(
            namespace, kube_context, serving_image, api_endpoint,
            [project, region, machine_type, min_replicas, max_replicas, role, s3_bucket, prebuilt_image],
        )  # fmt: skip
    elif target == "sagemaker":
        if project is not None or api_endpoint is not None or prebuilt_image is not None:
            msg = (
                "--project and --prebuilt-image are settings of --target vertex; SageMaker takes --region, --role, "
                "--serving-image, --s3-bucket"
            )
            raise InvalidInputError(msg)
        settings = _sagemaker_settings(region, role, serving_image, s3_bucket, machine_type, min_replicas, max_replicas)
    else:
        if role is not None or s3_bucket is not None:
            msg = "--role and --s3-bucket are settings of --target sagemaker"
            raise InvalidInputError(msg)
        if target == "vertex" and serving_image is None and prebuilt_image is None:
            serving_image = _serving_image_from_env(registry, endpoint_name)
        settings = {
            key: value
            for key, value in {
                "project": project, "location": region, "machine_type": machine_type,
                "min_replica_count": min_replicas, "max_replica_count": max_replicas, "api_endpoint": api_endpoint,
                "serving_image": serving_image, "serving_container_image_uri": prebuilt_image,
            }.items()
            if value is not None
        }  # fmt: skip
        if target == "vertex" and (serving_image is None) != (prebuilt_image is None):
            # One image named now replaces the other kind that the endpoint's record may keep from earlier deploys.
            settings.setdefault("serving_image", None)
            settings.setdefault("serving_container_image_uri", None)
    if log_sample_rate is not None:
        settings["log_sample_rate"] = log_sample_rate  # kept with the endpoint, as its other settings
    _download_with_bar(registry, name, version, stage)
    if canary_percent is not None:
        if not health_check:
            msg = "--canary-percent needs --health-check (instances=FILE ... or command=CMD)"
            raise InvalidInputError(msg)
        result = registry.canary_deploy(
            name, version, stage, endpoint_name=endpoint_name, health_check=_health_check(health_check),
            canary_percent=canary_percent, target=target, **settings,
        )  # fmt: skip
        outcome = "promoted to 100%" if result.promoted else "rolled back"
        emit(result, lambda: echo(f"canary {name} {result.deployment.version} on {endpoint_name}: "
                                        f"{outcome} ({result.report.reason})"))  # fmt: skip
        if not result.promoted:
            raise typer.Exit(1)
        return
    if health_check:
        msg = "--health-check is for canaries: add --canary-percent"
        raise InvalidInputError(msg)
    deployment, endpoint, _ = registry.deploy_model(
        name, version, stage, endpoint_name=endpoint_name, target=target, traffic_percent=traffic_percent,
        reason=reason, **settings,
    )  # fmt: skip
    split = ", ".join(f"{_version_of(endpoint, i)}={p}%" for i, p in endpoint.traffic.items())
    emit(
        {"deployment": deployment, "endpoint": endpoint},
        lambda: echo(f"deployed {name} {deployment.version} to {endpoint_name} ({endpoint.target}): {split}"),
    )


def _kserve_settings(
    namespace: str | None, kube_context: str | None, image: str | None, api_endpoint: str | None, others: list[Any]
) -> dict[str, Any]:
    """The KServe target's settings from the flags, with REGISTRY_SERVING_IMAGE resolved now (see SageMaker's)."""
    if any(value is not None for value in others):
        msg = "KServe takes --namespace, --kube-context and --serving-image; the other target flags are not its"
        raise InvalidInputError(msg)
    image = image or os.environ.get(SERVING_IMAGE_VARIABLE)
    return {
        key: value
        for key, value in {
            "namespace": namespace, "kube_context": kube_context, "image": image, "api_endpoint": api_endpoint,
        }.items()
        if value is not None
    }  # fmt: skip


def _sagemaker_settings(
    region: str | None,
    role: str | None,
    image: str | None,
    s3_bucket: str | None,
    instance_type: str | None,
    instances: int | None,
    max_replicas: int | None,
) -> dict[str, Any]:
    """The SageMaker target's settings from the flags, with AWS_REGION and REGISTRY_SERVING_IMAGE resolved now.

    They are kept in the endpoint's record, so that later changes (traffic, undeploy, rollback) from another shell
    use the same region and image.
    """
    if max_replicas is not None:
        msg = "--max-replicas is a Vertex setting; SageMaker variants run --min-replicas instances"
        raise InvalidInputError(msg)
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    image = image or os.environ.get(SERVING_IMAGE_VARIABLE)
    return {
        key: value
        for key, value in {
            "region": region, "role": role, "image": image, "s3_bucket": s3_bucket, "instance_type": instance_type,
            "instance_count": instances,
        }.items()
        if value is not None
    }  # fmt: skip


def _serving_image_from_env(registry: ModelRegistry, endpoint_name: str) -> str | None:
    """$REGISTRY_SERVING_IMAGE for a Vertex deploy, unless the endpoint was given a prebuilt container explicitly.

    The image goes into the endpoint's record with the other settings, so later deploys use it without the variable.
    """
    from registry_core.errors import EndpointNotFoundError

    image = os.environ.get(SERVING_IMAGE_VARIABLE, "").strip()
    if not image:
        return None
    try:
        chosen = registry.get_endpoint(endpoint_name).target_settings
    except EndpointNotFoundError:
        return image
    return None if chosen.get("serving_container_image_uri") else image


def _download_with_bar(registry: ModelRegistry, name: str, version: str | None, stage: str | None) -> None:
    """Download a remote registry's artifacts of the version first, showing a bar (see `transfer_bar`).

    Deploying verifies the artifacts (and downloads them, from a remote registry) without a progress callback; a
    copy downloaded here is verified and reused from the cache.
    """
    sizes: list[int] = []
    with transfer_bar(f"downloading {name}", lambda: sizes[0]) as progress:
        if progress is None or registry.storage.local_root() is not None:
            return
        metadata = registry.get_model_metadata(name, version, stage)
        sizes.append(metadata.artifact_size)
        registry.artifact_path(name, metadata.version, progress=progress)


def _version_of(endpoint: Any, deployed_id: str) -> str:
    deployment = endpoint.deployment(deployed_id)
    return f"{deployment.model_name} {deployment.version}"


@commands.command("predict")
def predict(
    endpoint_name: Annotated[str, typer.Argument(help="Endpoint.")],
    json_file: Annotated[Path, typer.Option("--json", help='JSON file with {"instances": [...]}.')],
    deployed_model_id: Annotated[Optional[str], typer.Option(help="Ask one deployed model.")] = None,  # noqa: UP045
) -> None:
    """Send instances to an endpoint and print the predictions (JSON)."""
    result = open_registry().predict(endpoint_name, read_instances(json_file), deployed_model_id)
    body = {
        "predictions": result.predictions,
        "deployedModelId": result.deployed_model_id,
        "modelVersion": result.model_version,
        "predictionIds": result.prediction_ids,
    }
    echo(json.dumps(body, indent=2))


@commands.command("serve")
def serve(
    endpoint_name: Annotated[str, typer.Argument(help="Local endpoint to serve.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    log_sample_rate: Annotated[
        float, typer.Option(help="Share of requests whose predictions are logged under monitoring/ (0 to 1).")
    ] = 1.0,
    no_prediction_log: Annotated[
        bool, typer.Option("--no-prediction-log", help="Log no predictions (ids are still returned).")
    ] = False,
    log_max_per_hour: Annotated[int, typer.Option(help="Most prediction records logged per hour.")] = 100_000,
    log_flush_seconds: Annotated[float, typer.Option(help="Seconds a logged prediction waits at most.")] = 5.0,
    feedback_max_per_hour: Annotated[
        int, typer.Option(help="Most feedback items kept per hour; more are refused (429).")
    ] = 100_000,
) -> None:
    """Run the local prediction server for an endpoint; it follows deploys and rollbacks without a restart.

    Each answered instance gets a prediction id (predictionIds); sampled requests are logged under the registry's
    monitoring/ENDPOINT/predictions/ and POST /v1/endpoints/ENDPOINT:feedback keeps labels for them.
    """
    from registry_core.deploy.server import run_server_cli
    from registry_core.monitoring.log_settings import PredictionLogSettings

    settings = PredictionLogSettings(
        enabled=not no_prediction_log,
        sample_rate=log_sample_rate,
        max_records_per_hour=log_max_per_hour,
        flush_seconds=log_flush_seconds,
        max_feedback_per_hour=feedback_max_per_hour,
    )
    raise typer.Exit(run_server_cli(open_registry(), endpoint_name, host, port, settings))


@commands.command("serve-container")
def serve_container(
    model: Annotated[Optional[str], typer.Option(help="Registry model to serve (with --version or --stage).")] = None,  # noqa: UP045
    version: Annotated[Optional[str], typer.Option("--version", "-v", help="Its version label.")] = None,  # noqa: UP045
    stage: Annotated[Optional[str], typer.Option("--stage", "-s", help="Serve the version in this stage.")] = None,  # noqa: UP045
    registry: Annotated[Optional[str], typer.Option(help="Registry root of --model (default: as -r).")] = None,  # noqa: UP045
    model_dir: Annotated[Optional[str], typer.Option(help="A SavedModel folder or gs:// URI to serve.")] = None,  # noqa: UP045
    platform: Annotated[
        Optional[str], typer.Option(help="vertex, kserve, sagemaker or local (default: from the environment).")  # noqa: UP045
    ] = None,
    host: Annotated[Optional[str], typer.Option(help="Address to bind (default 0.0.0.0).")] = None,  # noqa: UP045
    port: Annotated[
        Optional[int], typer.Option("--port", "--http_port", "--http-port", help="Port (default: the platform's).")  # noqa: UP045
    ] = None,
    model_name: Annotated[
        Optional[str], typer.Option("--model-name", "--model_name", help="Name the protocols answer to.")  # noqa: UP045
    ] = None,
    model_version: Annotated[Optional[str], typer.Option(help="Version the protocols report.")] = None,  # noqa: UP045
    predict_route: Annotated[Optional[str], typer.Option(help="Vertex predict route.")] = None,  # noqa: UP045
    health_route: Annotated[Optional[str], typer.Option(help="Vertex health route.")] = None,  # noqa: UP045
    digest: Annotated[Optional[str], typer.Option(help="Refuse artifacts without this digest (sha256:...).")] = None,  # noqa: UP045
    log_sample_rate: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(help="With $REGISTRY_ROOT: share of requests logged (default $REGISTRY_LOG_SAMPLE_RATE or 1)."),
    ] = None,
    no_prediction_log: Annotated[
        bool, typer.Option("--no-prediction-log", help="Log no predictions, even with $REGISTRY_ROOT.")
    ] = False,
) -> None:
    """Serve one version in a container: Vertex AI, KServe or SageMaker, read from the environment; flags override.

    The platform is --platform, else Vertex AI (AIP_* variables), KServe (STORAGE_URI or /mnt/models), SageMaker
    (SM_MODEL_DIR or /opt/ml/model), in that order. --model (from the registry, verified) or --model-dir replaces
    the platform's model location. With $REGISTRY_ROOT (a registry root), predictions are logged and feedback kept
    there, under the endpoint $REGISTRY_ENDPOINT (default: the model name).
    """
    from registry_core.deploy.container import run_container
    from registry_core.deploy.container_settings import ContainerFlags, resolve
    from registry_core.deploy.server import logging_to_stderr

    flags = ContainerFlags(
        platform=platform, host=host, port=port, model_dir=model_dir, registry=registry or registry_uri(),
        model=model, version=version, stage=stage, model_name=model_name, model_version=model_version,
        predict_route=predict_route, health_route=health_route, digest=digest, log_sample_rate=log_sample_rate,
        prediction_log=not no_prediction_log,
    )  # fmt: skip
    settings = resolve(flags, os.environ)
    with logging_to_stderr():
        raise typer.Exit(run_container(settings, lambda line: echo(line)))


@endpoints_app.command("list")
def endpoints_list() -> None:
    """List endpoints with what serves on them."""
    records = open_registry().list_endpoints()
    rows = [
        [r.name, r.target, ", ".join(f"{_version_of(r, i)}={p}%" for i, p in r.traffic.items() if p) or "-"]
        for r in records
    ]
    emit(records, lambda: table(["endpoint", "target", "traffic"], rows) if rows else echo("no endpoints"))


@endpoints_app.command("describe")
def endpoints_describe(endpoint_name: Annotated[str, typer.Argument(help="Endpoint.")]) -> None:
    """Show an endpoint: deployments, traffic split and history."""
    record = open_registry().get_endpoint(endpoint_name)
    images = ["image"] if any(d.image for d in record.deployments) else []  # the image each deployment runs

    def render() -> None:
        echo(f"endpoint {record.name} ({record.target}) {record.target_ref}".rstrip())
        echo(f"runs on: {_where(record)}")
        table(
            ["deployed id", "model", "version", "traffic", "deployed", "undeployed", "resource", *images],
            [
                [d.id, d.model_name, d.version, f"{record.traffic.get(d.id, 0)}%",
                 d.deployed_at.strftime("%Y-%m-%d %H:%M:%S"),
                 d.undeployed_at.strftime("%Y-%m-%d %H:%M:%S") if d.undeployed_at else "", d.target_ref,
                 *([d.image or "-"] if images else [])]
                for d in record.deployments
            ],
        )  # fmt: skip
        echo("")
        table(
            ["when", "who", "action", "version", "reason"],
            [
                [
                    when(e.at),
                    f"{e.actor} (via {e.principal})" if e.principal else e.actor,
                    e.action,
                    e.version,
                    e.reason,
                ]
                for e in record.history
            ],
        )

    emit(record, render)


def _where(record: Any) -> str:
    """Say where an endpoint's deployments run: platform, region and the platform's resource names."""
    settings = record.target_settings
    if record.target == "sagemaker":
        return (
            f"Amazon SageMaker, region {settings.get('region', '?')}, endpoint {record.target_ref or '(none yet)'}; "
            "each deployed id is a production variant, its resource a SageMaker model"
        )
    if record.target == "kserve":
        revisions = ", ".join(f"{i} ({p}%)" for i, p in record.traffic.items() if p) or "none"
        return (
            f"KServe, cluster {settings.get('kube_context') or settings.get('api_endpoint') or '(current context)'}, "
            f"namespace {settings.get('namespace', 'default')}, InferenceService "
            f"{record.target_ref.rpartition('/')[2] or '(none yet)'}, revisions {revisions}; "
            "each deployed id is a predictor revision"
        )
    if record.target == "vertex":
        if settings.get("serving_container_image_uri"):
            uploads = f"the prebuilt container {settings['serving_container_image_uri']}"
        elif settings.get("serving_image"):
            uploads = f"the serving image {settings['serving_image']}"
        else:
            uploads = "the project's serving image of the deploying registry-core version"
        return (
            f"Vertex AI, project {settings.get('project', '?')}, region {settings.get('location', '?')}, "
            f"endpoint {record.target_ref or '(none yet)'}; each resource is a Vertex model version; versions "
            f"uploaded from now on serve with {uploads}"
        )
    return "this machine's prediction server (model-registry serve)"


@endpoints_app.command("reconcile")
def endpoints_reconcile(
    endpoint_name: Annotated[str, typer.Argument(help="Endpoint.")],
    target: Annotated[Optional[str], typer.Option(help="No record yet: the target (vertex, kserve).")] = None,  # noqa: UP045
    project: Annotated[Optional[str], typer.Option(help="No record yet: Google Cloud project.")] = None,  # noqa: UP045
    region: Annotated[Optional[str], typer.Option(help="No record yet: Vertex AI region.")] = None,  # noqa: UP045
    namespace: Annotated[Optional[str], typer.Option(help="No record yet: KServe namespace.")] = None,  # noqa: UP045
    kube_context: Annotated[Optional[str], typer.Option(help="No record yet: KServe kube context.")] = None,  # noqa: UP045
    api_endpoint: Annotated[Optional[str], typer.Option(hidden=True)] = None,  # noqa: UP045 - a Vertex stand-in
) -> None:
    """Record what the endpoint's target really serves: unrecorded deploys, undeploys, the traffic split.

    Deploying does this first. For an endpoint whose first deploy was never recorded, give --project and --region
    (and --target vertex), or --target kserve --namespace NS [--kube-context C].
    """
    if target != "kserve" and (namespace is not None or kube_context is not None):
        msg = "--namespace and --kube-context are settings of --target kserve"
        raise InvalidInputError(msg)
    if target == "kserve":
        given = {"namespace": namespace or "default", "kube_context": kube_context, "api_endpoint": api_endpoint}
    else:
        given = {"project": project, "location": region, "api_endpoint": api_endpoint}
    settings = {key: value for key, value in given.items() if value is not None}
    if settings and target is None:
        target = "vertex"
    result = open_registry().reconcile_endpoint(endpoint_name, target=target, **settings)
    record = result.endpoint

    def render() -> None:
        if not result.changes:
            echo(f"endpoint {endpoint_name} agrees with {record.target}: nothing to record")
        for event in result.changes:
            what = " ".join(part for part in (event.action, event.model_name, event.version) if part)
            echo(f"{what}: {event.reason}")
        split = ", ".join(f"{_version_of(record, i)}={p}%" for i, p in record.traffic.items() if p) or "nothing"
        echo(f"endpoint {endpoint_name} ({record.target}) serves: {split}")

    emit(result, render)
