"""The monitor command: an endpoint's traffic against its version's training data, live quality, retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from registry_core.cli._context import open_registry, state
from registry_core.cli._output import echo, emit, table

commands = typer.Typer()


@commands.command("monitor")
def monitor(
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose logged traffic is checked.")],
    window: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
        typer.Option(help="How far back to look, e.g. 24h, 7d, 30m (default: the policy's, else 24h)."),
    ] = None,
    retrain: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--retrain/--no-retrain", help="Start retraining when drift or degraded quality is found."),
    ] = None,
    policy_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--policy", help="A JSON or TOML policy (thresholds, retraining); default: the stored one."),
    ] = None,
    save_policy: Annotated[
        bool, typer.Option("--save-policy", help="Store --policy as the endpoint's policy for later runs.")
    ] = False,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="Exit with 1 when drift or degraded quality is found.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's summary as JSON.")] = False,
) -> None:
    """Compare an endpoint's logged traffic with its version's training data, and live quality with validation."""
    from registry_core.errors import InvalidInputError
    from registry_core.monitoring.policy import MonitorPolicy, read_policy_file, store_policy

    state.as_json = state.as_json or as_json
    registry = open_registry()
    if save_policy and policy_file is None:
        msg = "--save-policy stores the file given with --policy"
        raise InvalidInputError(msg)
    policy = None
    if policy_file is not None:
        values = read_policy_file(str(policy_file))
        if save_policy:
            registry.get_endpoint(endpoint)  # a policy for an endpoint that does not exist is a typo
            policy = store_policy(registry.storage, endpoint, values)
        else:
            policy = MonitorPolicy.from_mapping(values)
    result = registry.monitor(endpoint, window=window, policy=policy, retrain=retrain)
    summary = result.as_dict()
    emit(summary, lambda: _render(summary))
    if result.retrain_error is not None:  # after the summary, so that scripts read what happened
        raise result.retrain_error
    if fail_on_alert and result.alert:
        raise typer.Exit(1)


def _render(summary: dict[str, Any]) -> None:
    served = f"{summary['model']} {summary['version']}" if summary["version"] else "nothing"
    hours = summary["window"]["seconds"] / 3600
    echo(f"{summary['endpoint']}: {served}, {summary['predictions']} predictions in the last {hours:g} h")
    echo(f"{'ALERT' if summary['alert'] else 'ok'}: {summary['reason']}")
    judged = summary["enough_predictions"]
    if summary["features"]:
        rows = [
            [name, d["test"], f"{d['score']:.3g}", f"{d['threshold']:.3g}", _drifted(d["drifted"], judged)]
            for name, d in summary["features"].items()
        ]
        table(["feature", "test", "score", "threshold", "drifted"], rows)
    for anomaly in summary["anomalies"]:
        echo(f"anomaly: {anomaly['feature']}: {anomaly['description']}")
    quality = summary["quality"]
    if quality is not None:
        rows = [[k, f"{v:.4g}", _number(quality["validated"].get(k))] for k, v in quality["metrics"].items()]
        table(["metric", "live", "validated"], rows, title=f"live quality ({quality['labeled']} with feedback)")
    if summary["gaps"]:
        unseen = ", ".join(f"{kind} {count}" for kind, count in summary["gaps"].items())
        echo(f"incomplete: traffic this run could not see: {unseen}")
    retrain = summary["retrain"]
    if retrain is not None:
        what = retrain.get("version") or retrain.get("run") or retrain.get("error") or retrain.get("reason") or ""
        echo(f"retraining ({retrain.get('runner', '?')}): {retrain['status']} {what}".rstrip())
    echo(f"report: {summary['report_uri']}")


def _drifted(drifted: bool, judged: bool) -> str:
    if not drifted:
        return "-"
    return "DRIFT" if judged else "above (too few predictions)"


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float | int) else "-"
