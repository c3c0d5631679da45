"""Start the train-and-register pipeline again when monitoring finds drift or degraded live quality."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_core.errors import DependencyMissingError, InvalidInputError
from registry_core.text import one_line, shown

logger = logging.getLogger(__name__)

RETRAINER_GROUP = "registry_core.retrainers"
"""Entry point group of the retraining runners: name -> a function taking a `RetrainRequest`."""

# The runners of this distribution, found by import name too, so that they work before the package's entry points
# are installed (an editable checkout, a venv installed before they were declared). Entry points take precedence.
DEFAULT_RETRAINERS: Mapping[str, str] = {
    "local": "pipelines.retrain:run_local_retraining",
    "vertex": "pipelines.retrain:submit_retraining",
}

TRAINED_BECAUSE = "trained_because"
"""`Lineage.extra` key: why a monitor had the version trained (the monitoring run's reason)."""
MONITORING_REPORT = "monitoring_report"
"""`Lineage.extra` key: the monitoring report (its URI) that started the run."""

# Pipeline parameters the request sets itself; `parameters` may not set them a second time.
_OWN_PARAMETERS = frozenset({"registry_root", "model_name", "data_source_uri", "trigger_reason", "trigger_report"})
POLICY_SETTINGS: tuple[str, ...] = (
    "runner", "data_source_uri", "parameters", "project", "region", "pipeline_root", "service_account", "image",
    "template", "api_endpoint",
)  # fmt: skip
"""The `RetrainRequest` fields a monitoring policy's ``retraining`` table sets (the monitor sets the others)."""
_INSTALL_HINT = "pip install 'registry-core[kfp]'"

Retrainer = Callable[["RetrainRequest"], "RetrainOutcome"]


@dataclass(frozen=True)
class RetrainRequest:
    """What a monitor asks for when it starts retraining: which model, why, where to run and with which data.

    Attributes:
        registry_root: Registry the run registers into ("" = this machine's default; a ``gs://`` one on Vertex AI).
        model_name: The model to train a new version of.
        endpoint: The monitored endpoint whose traffic crossed the thresholds.
        reason: Why, in one line (folded into one line, bounded, if it is not); stored in the new version's lineage.
        report_uri: The monitoring report that explains it; stored in the new version's lineage.
        runner: "local" (kfp's local runner, synchronous) or "vertex" (a submitted Vertex AI pipeline job), or
            another runner installed in the ``registry_core.retrainers`` entry point group.
        data_source_uri: Fresh training data (TFRecords); "" lets the pipeline generate synthetic data with a new
            seed.
        parameters: More pipeline parameters (e.g. model_config, thresholds, num_train, data_drift, data_seed);
            those the request sets itself (registry_root, model_name, data_source_uri, trigger_*) are refused.
        project: Vertex AI: the Google Cloud project.
        region: Vertex AI: the region, e.g. ``us-central1``.
        pipeline_root: Where the run keeps its artifacts: ``gs://bucket[/prefix]`` on Vertex AI (required); for the
            local runner a folder ("" = the machine's default, as for ``pipeline run-local``).
        service_account: Vertex AI: the service account the job runs as ("" = the project's default).
        image: Vertex AI: the published image the tasks run in ("" = $REGISTRY_IMAGE).
        template: Vertex AI: a compiled pipeline to send (a YAML file or an Artifact Registry URL); "" compiles it.
        api_endpoint: Vertex AI: another API endpoint (e.g. a local stand-in in tests); "" = Google's.
    """

    registry_root: str
    model_name: str
    endpoint: str
    reason: str
    report_uri: str
    runner: str = "local"
    data_source_uri: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    project: str = ""
    region: str = ""
    pipeline_root: str = ""
    service_account: str = ""
    image: str = ""
    template: str = ""
    api_endpoint: str = ""

    def __post_init__(self) -> None:
        """Fold the reason into one line and refuse parameters that the request sets itself.

        Raises:
            InvalidInputError: no model name, or `parameters` names a parameter the request sets.
        """
        if not self.model_name:
            msg = "a retraining request needs the model's name"
            raise InvalidInputError(msg)
        object.__setattr__(self, "reason", one_line(self.reason))
        object.__setattr__(self, "parameters", dict(self.parameters))
        clashes = sorted(_OWN_PARAMETERS & set(self.parameters))
        if clashes:
            msg = one_line(
                f"retraining parameters may not set {', '.join(clashes)}: the request sets them "
                "(registry_root, model_name, data_source_uri, reason, report_uri)"
            )
            raise InvalidInputError(msg)

    def pipeline_parameters(self) -> dict[str, Any]:
        """Return the train-and-register pipeline's parameter values for this request.

        `parameters` plus the request's own: the registry, the model, the data source and the trigger (reason and
        report), which the register task writes into the new version's lineage.
        """
        return self.parameters | {
            "registry_root": self.registry_root,
            "model_name": self.model_name,
            "data_source_uri": self.data_source_uri,
            "trigger_reason": self.reason,
            "trigger_report": self.report_uri,
        }


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retraining runner started.

    Attributes:
        runner: The runner's name.
        run: The local run's folder, or the Vertex AI pipeline job's resource name.
        version: The version the run registered (a local run finishes first); None for a job still running.
    """

    runner: str
    run: str
    version: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """Return the outcome as JSON-ready data: ``{"runner", "run", "version"}``."""
        return {"runner": self.runner, "run": self.run, "version": self.version}


def trigger_lineage(reason: str, report_uri: str) -> dict[str, str]:
    """Return the lineage entries that say why a version was trained; empty values are left out."""
    entries = {TRAINED_BECAUSE: one_line(reason), MONITORING_REPORT: report_uri.strip()}
    return {key: value for key, value in entries.items() if value}


def start_retraining(request: RetrainRequest) -> RetrainOutcome:
    """Start the train-and-register pipeline for `request` with its runner and return what was started.

    The local runner returns once the run has finished (with the registered version); the Vertex AI runner once
    the job is submitted.

    Raises:
        InvalidInputError: an unknown runner, or arguments the runner refuses.
        DependencyMissingError: the runner cannot be loaded (the pipelines package or kfp is not installed).
        RegistryError: the run failed or could not be submitted (the runner's own errors).
    """
    runner = find_retrainer(request.runner)
    logger.info("retraining %s with the %s runner: %s", request.model_name, request.runner, request.reason)
    outcome = runner(request)
    if not isinstance(outcome, RetrainOutcome):
        msg = one_line(f"the {shown(request.runner)} retraining runner returned {shown(outcome)}, not a RetrainOutcome")
        raise DependencyMissingError(msg)
    return outcome


def find_retrainer(name: str) -> Retrainer:
    """Return the retraining runner called `name`: an installed entry point, else one of `DEFAULT_RETRAINERS`.

    Raises:
        InvalidInputError: no runner has that name.
        DependencyMissingError: the runner's package (or one it needs) is not installed, or it is not callable.
    """
    from importlib.metadata import entry_points

    declared = {entry.name: entry.value for entry in entry_points(group=RETRAINER_GROUP)}
    target = declared.get(name) or DEFAULT_RETRAINERS.get(name)
    if target is None:
        known = ", ".join(sorted(set(declared) | set(DEFAULT_RETRAINERS)))
        msg = one_line(f"unknown retraining runner {shown(name)}: choose one of {known}")
        raise InvalidInputError(msg)
    try:
        runner = _load(target)
    except ImportError as exc:
        msg = one_line(f"the {name!r} retraining runner ({target}) is not installed: {exc}; {_INSTALL_HINT}")
        raise DependencyMissingError(msg) from exc
    except AttributeError as exc:
        msg = one_line(f"the {name!r} retraining runner ({target}) does not exist: {exc}")
        raise DependencyMissingError(msg) from exc
    if not callable(runner):
        msg = one_line(f"the {name!r} retraining runner ({target}) is not a function")
        raise DependencyMissingError(msg)
    return runner  # type: ignore[no-any-return]  # a callable found by name; its result is checked by the caller


def _load(target: str) -> Any:
    """Return the object named ``module:attribute.path`` (an entry point's value), importing its module."""
    module_name, _, attribute = target.partition(":")
    found: Any = importlib.import_module(module_name.strip())
    for part in attribute.strip().split(".") if attribute.strip() else ():
        found = getattr(found, part)
    return found
