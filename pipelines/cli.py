"""`model-registry pipeline ...`: compile, run locally, submit to Vertex AI (a plugin of the registry CLI)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from registry_core.cli._context import registry_uri
from registry_core.cli._output import emit, table
from registry_core.cli._parsing import pairs, parse_number

app = typer.Typer(help="Compile, run locally or submit the train-and-register pipeline.", no_args_is_help=True)


def _thresholds(items: list[str] | None) -> dict[str, float]:
    return {k: parse_number(v, f"threshold {k!r}") for k, v in pairs(items or [], "threshold").items()}


_IMAGE_HELP = "Image every task runs in, pinned as given (tag or @sha256 digest); default: $REGISTRY_IMAGE."


@app.command("compile")
def compile_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the YAML.")] = Path(
        "eyewear-train-and-register.yaml"
    ),
    image: Annotated[Optional[str], typer.Option(help=_IMAGE_HELP)] = None,  # noqa: UP045
) -> None:
    """Compile the pipeline to Vertex AI Pipelines YAML."""
    from pipelines.compile import compile_pipeline

    path = compile_pipeline(output, image=image)
    emit({"output": str(path)}, lambda: typer.echo(f"wrote {path}"))


@app.command("run-local")
def run_local_command(
    model_name: Annotated[str, typer.Option(help="Registry model name.")] = "eyewear-recommender",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 3,
    num_train: Annotated[int, typer.Option(help="Synthetic training examples.")] = 2000,
    data_seed: Annotated[Optional[int], typer.Option(help="Data seed (default: a new one per version).")] = None,  # noqa: UP045
    data_source_uri: Annotated[str, typer.Option(help="Use existing TFRecords instead of synthetic ones.")] = "",
    threshold: Annotated[Optional[list[str]], typer.Option(help="METRIC=BOUND, repeatable.")] = None,  # noqa: UP045
    max_regression: Annotated[float, typer.Option(help="Allowed drop against the champion.")] = 0.02,
    promote_to_staging: Annotated[bool, typer.Option(help="Promote to staging when validation passes.")] = True,
    approved_by: Annotated[str, typer.Option(help="Also promote to production, approved by this person.")] = "",
    registered_by: Annotated[str, typer.Option(help="Who registers (default: current user).")] = "",
    pipeline_root: Annotated[Optional[Path], typer.Option(help="Folder for run artifacts.")] = None,  # noqa: UP045
    deploy: Annotated[bool, typer.Option(help="Deploy to a local endpoint when validation passes.")] = False,
    endpoint_name: Annotated[str, typer.Option(help="Endpoint to deploy to.")] = "eyewear-local",
    cache: Annotated[bool, typer.Option(help="Reuse data and training of earlier runs with the same inputs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Stream the full log to the terminal.")] = False,
) -> None:
    """Run the whole pipeline on this machine with kfp's local runner, then show what happened.

    One line per task as it finishes; the full log is in run-local.log in the run's folder (path printed).
    """
    from pipelines.local import run_local
    from registry_core.config import RegistryConfig
    from registry_core.errors import ModelNotFoundError, RegistryRootNotFoundError
    from registry_core.registry import ModelRegistry

    registry = ModelRegistry(RegistryConfig(root=registry_uri()))
    if data_seed is None:
        try:
            data_seed = len(registry.list_versions(model_name))
        except ModelNotFoundError:
            data_seed = 0
        except RegistryRootNotFoundError:
            if registry.storage.local_root() is None:  # a missing bucket: registering would fail too
                raise
            data_seed = 0  # a new local folder, which the first registration creates
    version = run_local(
        registry_root=registry.storage.uri, pipeline_root=pipeline_root, model_name=model_name,
        model_config={"epochs": epochs}, num_train=num_train, data_seed=data_seed, data_source_uri=data_source_uri,
        thresholds=_thresholds(threshold) or {"accuracy": 0.5}, max_regression=max_regression,
        promote_to_staging=promote_to_staging, promote_to_production=bool(approved_by), approved_by=approved_by,
        registered_by=registered_by, deploy=deploy, endpoint_name=endpoint_name, enable_caching=cache,
        verbose=verbose,
    )  # fmt: skip
    report(registry, model_name, version, endpoint_name if deploy else None)


def report(registry: Any, model_name: str, version: str, endpoint_name: str | None = None) -> None:
    """Print the outcome of a run: the version, its stage, validation, metrics, the champion comparison.

    With `endpoint_name`, also one prediction from that endpoint (if the version was deployed there).
    """
    from registry_core.metadata import ModelStage

    metadata = registry.get_model_metadata(model_name, version)
    champion = metadata.annotations.get("validation_champion", "")
    others = [v for v in registry.list_versions(model_name) if v.version != version]
    baseline = champion or (others[-1].version if others else "")

    def render() -> None:
        typer.echo(f"\nregistered {model_name} {version} -> stage: {metadata.stage.value}")
        typer.echo(f"validation: {metadata.annotations.get('validation_reason', 'not run')}")
        typer.echo(f"artifacts:  {metadata.artifact_uri}")
        typer.echo(f"registry:   {registry.storage.uri}")
        typer.echo(f"run:        {metadata.lineage.pipeline_run}")
        if baseline:
            label = "champion" if champion else "previous version"
            typer.echo(f"\n{label} {baseline} vs {version} (* = best):")
            comparison = registry.compare_models(model_name, [baseline, version])
            table(["metric", *comparison.versions], comparison.rows())
        else:
            metrics = metadata.metrics.as_dict()
            table(["metric", version], [[k, f"{v:.4g}"] for k, v in metrics.items()])
        production = [v.version for v in registry.list_versions(model_name) if v.stage is ModelStage.PRODUCTION]
        typer.echo(f"\nproduction: {production[0] if production else 'none'}")
        if endpoint_name is not None:
            _show_prediction(registry, endpoint_name, model_name, version)

    emit(metadata, render)


@app.command("submit")
def submit_command(
    project: Annotated[str, typer.Option(help="Google Cloud project.")],
    region: Annotated[str, typer.Option(help="Vertex AI region, e.g. us-central1.")],
    pipeline_root: Annotated[str, typer.Option(help="gs:// folder for the run's artifacts.")],
    image: Annotated[Optional[str], typer.Option(help=_IMAGE_HELP)] = None,  # noqa: UP045
    service_account: Annotated[Optional[str], typer.Option(help="Service account the run uses.")] = None,  # noqa: UP045
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="NAME=VALUE, repeatable.")] = None,  # noqa: UP045
    template: Annotated[Optional[Path], typer.Option(help="A compiled YAML (default: compile now).")] = None,  # noqa: UP045
    api_endpoint: Annotated[Optional[str], typer.Option(hidden=True)] = None,  # noqa: UP045
) -> None:
    """Submit the pipeline to Vertex AI Pipelines; the registry is --registry or $MODEL_REGISTRY_ROOT (gs://)."""
    from pipelines.submission import prepare_submission
    from pipelines.vertex import quiet_sdk_logging, submit_pipeline

    quiet_sdk_logging()
    with tempfile.TemporaryDirectory() as scratch:
        path, values = prepare_submission(
            _param_values(param), registry=registry_uri(), image=image, template=template, scratch=Path(scratch)
        )
        job = submit_pipeline(
            path, project=project, region=region, pipeline_root=pipeline_root, parameter_values=values,
            service_account=service_account, api_endpoint=api_endpoint,
        )  # fmt: skip
    from registry_core.console import pipeline_run_url

    url = pipeline_run_url(job)
    emit({"job": job, "console_url": url}, lambda: typer.echo(f"submitted {job}\n  {url}"))


def _param_values(items: list[str] | None) -> dict[str, Any]:
    """Parse --param NAME=VALUE pairs; a VALUE that is JSON is taken as JSON, anything else as a string."""
    import json

    values: dict[str, Any] = {}
    for key, raw in pairs(items or [], "param").items():
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def _show_prediction(registry: Any, endpoint_name: str, model_name: str, version: str) -> None:
    """Print one prediction of the endpoint on a fresh synthetic example, and how to serve it over HTTP."""
    import json

    import numpy as np

    from registry_core.errors import EndpointNotFoundError
    from registry_core.tensorflow_import import native_stderr_caught

    with native_stderr_caught():  # TensorFlow's runtime notices, written as it loads (eyewear_model imports it)
        from eyewear_model.data import simulate_examples
        from eyewear_model.schema import LABEL_KEY

    try:
        endpoint = registry.get_endpoint(endpoint_name)
    except EndpointNotFoundError:
        typer.echo(f"endpoint {endpoint_name}: not deployed (validation did not pass)")
        return
    serving = ", ".join(f"{d.model_name} {d.version}={endpoint.traffic[d.id]}%" for d in endpoint.serving())
    example = simulate_examples(1, np.random.default_rng())[0]
    truth = example.pop(LABEL_KEY)
    with native_stderr_caught():
        answer = registry.predict(endpoint_name, [example])
    typer.echo(f"endpoint {endpoint_name}: {serving}")
    typer.echo(f"prediction by {model_name} {answer.model_version} for {json.dumps(example)}:")
    typer.echo(f"  frame_style={answer.predictions[0]['frame_style']} (true label: {truth})")
    typer.echo(f"serve it over HTTP: model-registry serve {endpoint_name} --port 8080")


# ----------------------------------------------------------------------------------------- publishing on Google Cloud


@app.command("upload")
def upload_command(
    host: Annotated[str, typer.Option(help="Artifact Registry repository: https://REGION-kfp.pkg.dev/PROJECT/REPO.")],
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Tag the version (repeatable).")] = None,  # noqa: UP045
    template: Annotated[Optional[Path], typer.Option(help="A compiled YAML (default: compile now).")] = None,  # noqa: UP045
    image: Annotated[Optional[str], typer.Option(help=_IMAGE_HELP)] = None,  # noqa: UP045
    api_endpoint: Annotated[Optional[str], typer.Option(hidden=True)] = None,  # noqa: UP045 - a local stand-in
) -> None:
    """Upload the compiled pipeline to Artifact Registry as a template version, to run or schedule from there."""
    from pipelines.publish import upload_template
    from pipelines.submission import prepare_template

    with tempfile.TemporaryDirectory() as scratch:
        path = prepare_template(image=image, template=template, scratch=Path(scratch))
        uploaded = upload_template(path, host=host, tags=tag or [], api_endpoint=api_endpoint)

    def render() -> None:
        typer.echo(f"uploaded {uploaded.package} {uploaded.version} to {uploaded.host}")
        typer.echo(f"template: {uploaded.template_url}")
        for name in uploaded.tags:
            typer.echo(f"tag {name}: {uploaded.tag_url(name)}")

    emit(uploaded.as_dict(), render)


@app.command("schedule")
def schedule_command(
    cron: Annotated[str, typer.Option(help='When to run, e.g. "0 3 * * 1" or "TZ=Europe/Paris 0 3 * * *".')],
    project: Annotated[str, typer.Option(help="Google Cloud project.")],
    region: Annotated[str, typer.Option(help="Vertex AI region, e.g. us-central1.")],
    pipeline_root: Annotated[str, typer.Option(help="gs:// folder for the runs' artifacts.")],
    display_name: Annotated[Optional[str], typer.Option(help="The schedule's name (default: the pipeline's).")] = None,  # noqa: UP045
    service_account: Annotated[Optional[str], typer.Option(help="Service account the runs use.")] = None,  # noqa: UP045
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="NAME=VALUE, repeatable.")] = None,  # noqa: UP045
    template: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="A compiled YAML or an Artifact Registry template URL (default: compile now)."),
    ] = None,
    max_concurrent_runs: Annotated[int, typer.Option(help="Runs that may go at once.")] = 1,
    max_runs: Annotated[Optional[int], typer.Option(help="Stop after this many runs.")] = None,  # noqa: UP045
    image: Annotated[Optional[str], typer.Option(help=_IMAGE_HELP)] = None,  # noqa: UP045
    api_endpoint: Annotated[Optional[str], typer.Option(hidden=True)] = None,  # noqa: UP045 - a local stand-in
) -> None:
    """Run the pipeline on Vertex AI Pipelines on a schedule; the registry is --registry or $MODEL_REGISTRY_ROOT."""
    from pipelines.publish import schedule_pipeline
    from pipelines.submission import prepare_submission
    from pipelines.vertex import quiet_sdk_logging
    from registry_core.console import pipeline_schedule_url

    quiet_sdk_logging()
    with tempfile.TemporaryDirectory() as scratch:
        path, values = prepare_submission(
            _param_values(param), registry=registry_uri(), image=image, template=template, scratch=Path(scratch)
        )
        schedule = schedule_pipeline(
            path, project=project, region=region, pipeline_root=pipeline_root, cron=cron, display_name=display_name,
            parameter_values=values, service_account=service_account, max_concurrent_runs=max_concurrent_runs,
            max_runs=max_runs, api_endpoint=api_endpoint,
        )  # fmt: skip
    url = pipeline_schedule_url(schedule)
    emit({"schedule": schedule, "console_url": url}, lambda: typer.echo(f"scheduled {schedule}\n  {url}"))
