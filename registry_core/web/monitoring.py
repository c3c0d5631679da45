"""An endpoint's monitoring runs for the UI and the API: the stored summaries, checked, and what the page shows.

Summaries come from `registry_core.monitoring.run_reports`. Each is checked against `RunSummary` before anything
shows it: one that does not fit (edited by hand, written by another release, damaged) is left out with a warning,
as `list_reports` leaves out one that is not JSON. Feature names in a summary come from the instances clients sent
to a prediction endpoint, so the pages escape them like any other text.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry_core.errors import NotFoundError
from registry_core.monitoring import run_reports
from registry_core.text import one_line
from registry_core.web import charts

if TYPE_CHECKING:
    from registry_core.registry import ModelRegistry

DEFAULT_RUNS = 90
"""Runs the monitoring page charts (the newest)."""
MAX_RUNS = 1000
"""Most runs the API returns at once."""

logger = logging.getLogger(__name__)

_REPORT_NAME = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{1,32}\.(json|html)$")


class _Open(BaseModel):
    """A part of a summary: the fields the UI reads are checked, others are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Window(_Open):
    """The time window a run looked at.

    Attributes:
        start: Start of the window.
        end: End of the window.
        seconds: Its length.
    """

    start: datetime | None = None
    end: datetime | None = None
    seconds: float | None = None


class FeatureDrift(_Open):
    """The drift test of one feature in one run.

    Attributes:
        test: Test used, e.g. "wasserstein_normalized" or "l_infinity".
        score: The test's score.
        threshold: Score above which the feature has drifted.
        drifted: Whether it has.
        baseline_count: Values in the training profile.
        current_count: Values in the window.
    """

    test: str = ""
    score: float
    threshold: float
    drifted: bool
    baseline_count: int | None = None
    current_count: int | None = None


class Anomaly(_Open):
    """A schema anomaly of the window's data (`registry_core.monitoring.checks.Anomaly.as_dict`).

    Attributes:
        feature: Feature concerned.
        kind: Kind of anomaly, e.g. "unknown_category".
        description: What is wrong, for a person.
        fraction: Share of the window's rows concerned.
        values: Offending values, most frequent first.
    """

    feature: str = ""
    kind: str = ""
    description: str = ""
    fraction: float | None = None
    values: list[str] = Field(default_factory=list)


class Quality(_Open):
    """Live quality of a run: the metrics of the predictions that got feedback beside the validated ones.

    Attributes:
        labeled: Predictions with feedback that were scored.
        unscorable: Predictions with feedback that could not be scored.
        metrics: Live metric -> value.
        validated: The version's validated value of each metric.
        tolerances: How much worse each metric may be live.
        degraded: Metrics beyond their tolerance -> shortfall.
        enough_feedback: Whether enough predictions were labelled to judge.
        quality_degraded: Whether quality counts as degraded.
    """

    labeled: int = 0
    unscorable: int = 0
    metrics: dict[str, float] = Field(default_factory=dict)
    validated: dict[str, float] = Field(default_factory=dict)
    tolerances: dict[str, float] = Field(default_factory=dict)
    degraded: dict[str, float] = Field(default_factory=dict)
    enough_feedback: bool = True
    quality_degraded: bool = False


class Retrain(_Open):
    """What a run did about retraining.

    Attributes:
        status: "registered", "submitted", "skipped" (within the cooldown) or "failed".
        runner: "local" or "vertex".
        run: Pipeline run name or Vertex job.
        version: The version it registered, once known.
        reason: Why it was skipped.
        error: Why it failed.
    """

    status: str = ""
    runner: str = ""
    run: str | None = None
    version: str | None = None
    reason: str | None = None
    error: str | None = None


class RunSummary(_Open):
    """One monitoring run, as `model-registry monitor --json` prints it and the registry stores it.

    Attributes:
        endpoint: Endpoint monitored.
        model: Model of the version that served most of the window.
        version: That version.
        checked_at: When the run happened.
        window: The window of predictions it read.
        predictions: Logged predictions of `version` in the window.
        other_versions: Predictions served by other versions (canaries).
        drift_detected: Whether some feature drifted.
        features: Feature -> its drift test.
        anomalies: Schema anomalies.
        quality: Live quality, or None without feedback.
        quality_degraded: Whether live quality fell beyond its tolerances.
        retrain_triggered: Whether the run started retraining.
        retrain: The retraining started, if any.
        reason: Why the run alerted or retrained, in one line.
        summary_uri: Where the summary is stored.
        report_uri: Where the HTML report is stored.
    """

    endpoint: str = ""
    model: str
    version: str
    checked_at: datetime
    window: Window = Field(default_factory=Window)
    predictions: int = 0
    other_versions: dict[str, int] = Field(default_factory=dict)
    drift_detected: bool
    features: dict[str, FeatureDrift] = Field(default_factory=dict)
    anomalies: list[Anomaly] = Field(default_factory=list)
    quality: Quality | None = None
    quality_degraded: bool = False
    retrain_triggered: bool = False
    retrain: Retrain | None = None
    reason: str = ""
    summary_uri: str = ""
    report_uri: str = ""

    @property
    def report_name(self) -> str | None:
        """Return the file name of the run's HTML report (what the report route takes), or None if unknown."""
        for uri in (self.report_uri, self.summary_uri):
            name = uri.rsplit("/", 1)[-1]
            if _REPORT_NAME.match(name):
                return name.removesuffix(".json").removesuffix(".html") + ".html"
        return None


def is_report_name(name: str) -> bool:
    """Return True if `name` is shaped like the file name of a run's report (`run_reports.new_report_keys`)."""
    return bool(_REPORT_NAME.match(name))


def endpoint_runs(registry: ModelRegistry, endpoint: str, limit: int = DEFAULT_RUNS) -> list[RunSummary]:
    """Return the newest `limit` runs of an endpoint that can be read, oldest first.

    An endpoint without a record but with reports (deleted since, or served outside the registry) still has them.

    Raises:
        EndpointNotFoundError: no such endpoint and no reports for it. InvalidNameError: a malformed name.
    """
    documents = run_reports.list_reports(registry.storage, endpoint, limit=limit)
    if not documents:
        registry.get_endpoint(endpoint)  # an unknown endpoint is a 404, a known one without runs an empty page
    runs = []
    for document in documents:
        try:
            runs.append(RunSummary.model_validate(document))
        except ValidationError as exc:
            logger.warning("skipping a monitoring report of %s that does not fit: %s", endpoint, one_line(exc, 200))
    return runs


def read_report(registry: ModelRegistry, endpoint: str, name: str) -> str:
    """Return the HTML report of one run.

    Raises:
        NotFoundError: no such run (or a name that is not a report's).
    """
    if not is_report_name(name):
        msg = f"no monitoring report {name!r} for endpoint {endpoint!r}"
        raise NotFoundError(msg)
    return run_reports.read_report_page(registry.storage, endpoint, name)


# ------------------------------------------------------------------------------------------------ page content


def finite(value: float | None) -> float | None:
    """Return `value` if it is a finite number, else None (NaN and infinities are not drawn)."""
    return value if value is not None and math.isfinite(value) else None


def feature_order(runs: list[RunSummary]) -> list[str]:
    """Return the features of the runs, those of the latest run first by falling score, then the others by name."""
    latest = runs[-1].features if runs else {}
    ranked = sorted(latest, key=lambda f: (-(finite(latest[f].score) or 0.0), f))
    older = sorted({f for run in runs for f in run.features} - set(latest))
    return ranked + older


def quality_metrics(runs: list[RunSummary]) -> list[str]:
    """Return the live quality metrics the runs have, in the order the monitor computes them, then any others."""
    order = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "loss")
    names = {m for run in runs if run.quality is not None for m in run.quality.metrics}
    return [n for n in order if n in names] + sorted(names - set(order))


def as_json(runs: list[RunSummary]) -> list[dict[str, Any]]:
    """Return the runs as the JSON the API answers with (the stored summaries' own fields)."""
    return [run.model_dump(mode="json") for run in runs]


CHARTED_FEATURES = 8
"""Features drawn in the drift chart (those with the highest latest scores); the table lists every one."""


@dataclass(frozen=True)
class MonitoringPage:
    """What the monitoring page of an endpoint shows.

    Attributes:
        runs: The runs, newest first.
        latest: The newest run, if any.
        features: The latest run's drift per feature, highest score first.
        drift_chart: Drift score per feature over time, with the thresholds; None without drift tests.
        charted: Features in the drift chart.
        quality_charts: Live metric -> its chart over time, with the validated value.
    """

    runs: list[RunSummary]
    latest: RunSummary | None
    features: list[tuple[str, FeatureDrift]]
    drift_chart: Markup | None
    charted: list[str]
    quality_charts: list[tuple[str, Markup]]


def monitoring_page(runs: list[RunSummary]) -> MonitoringPage:
    """Return the content of the monitoring page of `runs` (oldest first)."""
    latest = runs[-1] if runs else None
    order = feature_order(runs)
    charted = order[:CHARTED_FEATURES]
    drift_chart = None
    if charted:
        series = [charts.Series(f, [(_utc(r.checked_at), _score(r, f)) for r in runs]) for f in charted]
        thresholds = sorted({t for f in charted if (t := _threshold(runs, f)) is not None})
        references = [charts.Reference(t, f"threshold {t:.3g}") for t in thresholds]
        drift_chart = charts.time_chart(series, references, chart_id="drift-chart", title="Drift score per feature")
    quality_charts = []
    for metric in quality_metrics(runs):
        points = [(_utc(r.checked_at), finite(r.quality.metrics.get(metric)) if r.quality else None) for r in runs]
        validated = next((v for r in reversed(runs) if r.quality and (v := finite(r.quality.validated.get(metric)))
                          is not None), None)  # fmt: skip
        references = [charts.Reference(validated, f"validated {validated:.3g}")] if validated is not None else []
        chart = charts.time_chart([charts.Series(metric, points)], references, chart_id=f"quality-{metric}",
                                  title=f"Live {metric}", height=200)  # fmt: skip
        quality_charts.append((metric, chart))
    features = [(f, latest.features[f]) for f in order if latest is not None and f in latest.features]
    return MonitoringPage(
        runs=list(reversed(runs)), latest=latest, features=features, drift_chart=drift_chart, charted=charted,
        quality_charts=quality_charts,
    )  # fmt: skip


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _score(run: RunSummary, feature: str) -> float | None:
    drift = run.features.get(feature)
    return finite(drift.score) if drift is not None else None


def _threshold(runs: list[RunSummary], feature: str) -> float | None:
    """Return the threshold of `feature` in the latest run that tested it."""
    return next((finite(r.features[feature].threshold) for r in reversed(runs) if feature in r.features), None)
