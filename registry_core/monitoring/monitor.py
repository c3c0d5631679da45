"""Monitoring an endpoint: its traffic against its version's training profile, and live quality from feedback.

Each run is stored as a report (JSON + HTML) and recorded in the model's history. One run reads the window's
feedback first (usually far smaller), then the predictions once: per version it counts them, keeps a uniform sample
of their instances (bounded memory whatever the traffic) and keeps the predictions that got feedback. The version
that served most of the window is the one judged.
"""

from __future__ import annotations

import html
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from registry_core import html_tables
from registry_core.errors import InvalidInputError, NotFoundError, RegistryError
from registry_core.lifecycle.changes import HOLDOUT_PREFIX
from registry_core.metadata import utc_now
from registry_core.monitoring.live_quality import LiveQuality, live_quality
from registry_core.monitoring.log_reader import PredictionLogReader
from registry_core.monitoring.log_records import FeedbackRecord, LabeledPrediction, PredictionRecord
from registry_core.monitoring.policy import MonitorPolicy
from registry_core.monitoring.report import page, validation_tables
from registry_core.monitoring.run_reports import ReportKeys, new_report_keys, write_report
from registry_core.monitoring.validation import DataValidation, validate_rows
from registry_core.notifications.events import ALERT_DETAIL
from registry_core.text import one_line

if TYPE_CHECKING:
    from registry_core.monitoring.profile import DataProfile
    from registry_core.registry import ModelRegistry

logger = logging.getLogger(__name__)

RETRAIN_DATA_THRESHOLDS: Mapping[str, float] = {"numeric_drift": 1e9, "categorical_drift": 1e9}
"""The data gate of a retraining run: schema checks only (see `_retrain`); a policy's parameters may set another."""


@dataclass(frozen=True)
class MonitorResult:
    """One monitoring run (its `as_dict` is the stored summary and what ``monitor --json`` prints).

    Attributes:
        endpoint: The endpoint monitored.
        model: The model of the version judged ("" when the endpoint never served).
        version: The version judged: the one that served most of the window's logged predictions.
        checked_at: When the run looked (the window's end).
        window: How far back it looked.
        predictions: Logged predictions of `version` in the window.
        other_versions: Predictions in the window served by other versions ("model version" -> count).
        unprofiled: Predictions of `version` whose instance is not a mapping of feature values.
        validation: The sampled traffic against the version's training profile (None without a profile).
        enough_predictions: Whether `predictions` reached the policy's minimum for drift to count.
        quality: Live quality from feedback, or None without feedback.
        retrain: What retraining did: runner, run, version (or error); None when none started.
        keys: Where the report is stored.
        summary_uri: URI of the JSON summary.
        report_uri: URI of the HTML page.
    """

    endpoint: str
    model: str
    version: str
    checked_at: datetime
    window: timedelta
    predictions: int
    other_versions: dict[str, int]
    unprofiled: int
    validation: DataValidation | None
    enough_predictions: bool
    quality: LiveQuality | None
    retrain: dict[str, Any] | None
    keys: ReportKeys
    summary_uri: str
    report_uri: str

    @property
    def drift_detected(self) -> bool:
        """Whether enough traffic was seen and some feature drifted or broke the training schema."""
        if self.validation is None or not self.enough_predictions:
            return False
        return self.validation.drift_detected or bool(self.validation.anomalies)

    @property
    def quality_degraded(self) -> bool:
        """Whether enough feedback came and a metric fell further than its tolerance."""
        return self.quality is not None and self.quality.is_degraded

    @property
    def alert(self) -> bool:
        """Whether this run raises the alarm (drift or degraded quality)."""
        return self.drift_detected or self.quality_degraded

    @property
    def reason(self) -> str:
        """One line saying what the run found."""
        parts = []
        if self.validation is None:
            parts.append("no training profile to compare with" if self.version else "nothing served")
        elif not self.enough_predictions:
            parts.append(f"{self.predictions} predictions: too few to judge drift")
        else:
            drifted = [f"{d.feature} ({d.score:.3g} > {d.threshold:.3g})" for d in self.validation.drift if d.drifted]
            if drifted:
                parts.append(f"drift in {', '.join(drifted[:5])}{' and more' if len(drifted) > 5 else ''}")
            if self.validation.anomalies:
                parts.append(f"{len(self.validation.anomalies)} anomalies ({self.validation.anomalies[0].description})")
            if not drifted and not self.validation.anomalies:
                parts.append(f"no drift in {self.predictions} predictions")
        if self.quality is not None:
            for name, shortfall in self.quality.degraded.items():
                live, validated = self.quality.metrics[name], self.quality.validated[name]
                note = "" if self.quality.enough else f" (only {self.quality.labeled} labelled)"
                parts.append(f"{name} {live:.3g} is {shortfall:.3g} worse than {validated:.3g}{note}")
        return one_line("; ".join(parts))

    def as_dict(self) -> dict[str, Any]:
        """Return the run as one JSON-ready object with stable keys (README "Monitoring")."""
        validation = self.validation
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "version": self.version,
            "checked_at": self.checked_at.isoformat(),
            "window": {
                "start": (self.checked_at - self.window).isoformat(),
                "end": self.checked_at.isoformat(),
                "seconds": self.window.total_seconds(),
            },
            "predictions": self.predictions,
            "other_versions": self.other_versions,
            "unprofiled": self.unprofiled,
            "enough_predictions": self.enough_predictions,
            "drift_detected": self.drift_detected,
            "features": {d.feature: d.as_dict() for d in validation.drift} if validation else {},
            "anomalies": [a.as_dict() for a in validation.anomalies] if validation else [],
            "quality": self.quality.as_dict() if self.quality is not None else None,
            "quality_degraded": self.quality_degraded,
            "alert": self.alert,
            "retrain_triggered": self.retrain is not None,
            "retrain": self.retrain,
            "reason": self.reason,
            "summary_uri": self.summary_uri,
            "report_uri": self.report_uri,
        }


@dataclass
class _Served:
    """What one version served in the window."""

    count: int = 0
    unprofiled: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    labeled: list[LabeledPrediction] = field(default_factory=list)


def run_monitor(
    registry: ModelRegistry,
    endpoint: str,
    *,
    policy: MonitorPolicy | None = None,
    retrain: bool | None = None,
    now: datetime | None = None,
    actor: str | None = None,
) -> MonitorResult:
    """Monitor `endpoint` over the policy's window ending `now`; store the report and record the run.

    Args:
        registry: The registry the endpoint and its logs live in.
        endpoint: The endpoint.
        policy: Thresholds and retraining; default `MonitorPolicy()`.
        retrain: Overrides `policy.retrain`.
        now: The end of the window (default: now, UTC).
        actor: Who runs it (default: the current user).

    Raises:
        EndpointNotFoundError: no such endpoint.
        RetrainingError (a RegistryError): retraining was due and failed; the report and history say so first.
        StorageError: the logs or the report cannot be read or written.
    """
    policy = policy or MonitorPolicy()
    record = registry.get_endpoint(endpoint)
    end = now or utc_now()
    start = end - policy.window
    reader = PredictionLogReader(registry.storage, endpoint)
    feedback = _latest_feedback(reader.feedback(start, end))
    served = _read_traffic(reader.predictions(start, end), feedback, policy.sample_size)
    model, version = _judged_version(served, record)
    mine = served.get((model, version), _Served())
    validation = quality = None
    if version:
        baseline = _training_profile(registry, model, version)
        if baseline is not None:
            trained_on = baseline.feature_kinds()
            rows = [_known_features(row, trained_on) for row in mine.sample]
            name = f"the training data of {model} {version}"
            validation = validate_rows(rows, baseline, policy.thresholds, baseline_name=name)
        validated = _validated_metrics(registry, model, version)
        quality = live_quality(
            mine.labeled, validated, tolerances=policy.quality_tolerances, min_labeled=policy.min_labeled
        )
    keys = new_report_keys(endpoint, end)
    result = MonitorResult(
        endpoint=endpoint, model=model, version=version, checked_at=end, window=policy.window,
        predictions=mine.count, unprofiled=mine.unprofiled,
        other_versions={f"{m} {v}": s.count for (m, v), s in served.items() if (m, v) != (model, version)},
        validation=validation, enough_predictions=mine.count >= policy.min_predictions, quality=quality,
        retrain=None, keys=keys, summary_uri=registry.storage.uri_for(keys.summary),
        report_uri=registry.storage.uri_for(keys.page),
    )  # fmt: skip
    failure: RegistryError | None = None
    if (policy.retrain if retrain is None else retrain) and result.alert and version:
        result = _with_retrain(result, {"status": "started", "runner": policy.retraining.get("runner", "local")})
        _store(registry, result)  # the new version's lineage points at this report: it exists before training
        result, failure = _retrain(registry, result, policy)
    _store(registry, result)
    if version:
        registry.record_monitoring(model, version, _history_details(result), reason=result.reason, actor=actor)
    if failure is not None:
        raise failure
    return result


def _latest_feedback(items: Any) -> dict[str, FeedbackRecord]:
    latest: dict[str, FeedbackRecord] = {}
    for item in items:
        known = latest.get(item.prediction_id)
        if known is None or item.time >= known.time:
            latest[item.prediction_id] = item
    return latest


def _read_traffic(
    predictions: Any, feedback: Mapping[str, FeedbackRecord], sample_size: int
) -> dict[tuple[str, str], _Served]:
    """Count, sample (reservoir sampling: every instance equally likely) and join feedback, per version."""
    served: dict[tuple[str, str], _Served] = {}
    rng = random.Random(0)  # the same logs give the same sample, hence the same report
    for prediction in predictions:
        assert isinstance(prediction, PredictionRecord)
        stats = served.setdefault((prediction.model, prediction.version), _Served())
        stats.count += 1
        if (label := feedback.get(prediction.prediction_id)) is not None:
            stats.labeled.append(LabeledPrediction(prediction=prediction, feedback=label))
        row = _scalar_features(prediction.features)
        if row is None:
            stats.unprofiled += 1
            continue
        if len(stats.sample) < sample_size:
            stats.sample.append(row)
        elif (slot := rng.randrange(stats.count)) < sample_size:
            stats.sample[slot] = row
    return served


def _scalar_features(instance: Any) -> dict[str, Any] | None:
    """The instance as feature -> scalar (one-element lists unwrapped, as Vertex clients often send them)."""
    if not isinstance(instance, dict):
        return None
    row: dict[str, Any] = {}
    for name, value in instance.items():
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None or isinstance(value, str | int | float) and not isinstance(value, bool):
            row[str(name)] = value
    return row


def _known_features(row: dict[str, Any], trained_on: Mapping[str, str]) -> dict[str, Any]:
    """Keep the features the version was trained on: callers choose the other keys, and nothing bounds them."""
    return {name: value for name, value in row.items() if name in trained_on}


def _judged_version(served: Mapping[tuple[str, str], _Served], record: Any) -> tuple[str, str]:
    if served:
        return max(served, key=lambda key: served[key].count)
    live = {d.id: d for d in record.deployments if d.undeployed_at is None}
    ranked = sorted(record.traffic.items(), key=lambda item: -item[1])
    for deployed_id, _ in ranked:
        if deployed_id in live:
            return live[deployed_id].model_name, live[deployed_id].version
    return "", ""


def _training_profile(registry: ModelRegistry, model: str, version: str) -> DataProfile | None:
    try:
        return registry.get_data_profile(model, version)
    except NotFoundError as exc:  # registered without a profile: quality can still be judged
        logger.info("no drift check for %s %s: %s", model, version, exc)
        return None


def _validated_metrics(registry: ModelRegistry, model: str, version: str) -> dict[str, float]:
    """The version's metrics, its holdout (validation) value of each where it has one."""
    try:
        metrics = registry.get_model_metadata(model, version).metrics.as_dict()
    except NotFoundError:
        return {}
    found = {k: v for k, v in metrics.items() if not k.startswith(HOLDOUT_PREFIX)}
    found.update({k.removeprefix(HOLDOUT_PREFIX): v for k, v in metrics.items() if k.startswith(HOLDOUT_PREFIX)})
    return found


def _with_retrain(result: MonitorResult, retrain: dict[str, Any]) -> MonitorResult:
    from dataclasses import replace

    return replace(result, retrain=retrain)


def _retrain(
    registry: ModelRegistry, result: MonitorResult, policy: MonitorPolicy
) -> tuple[MonitorResult, RegistryError | None]:
    """Start the pipeline on fresh data; return the result saying how it went, and the error to raise, if any."""
    from registry_core.monitoring.retraining import RetrainRequest, start_retraining

    settings = dict(policy.retraining)
    parameters = dict(settings.pop("parameters", None) or {})
    # The fresh data is expected to have drifted from what the judged version learnt: that is why it is retrained.
    # Its data gate still refuses data that breaks the schema (unknown categories, missing features).
    parameters.setdefault("data_thresholds", dict(RETRAIN_DATA_THRESHOLDS))
    try:
        request = RetrainRequest(
            registry_root=registry.storage.uri, model_name=result.model, endpoint=result.endpoint,
            reason=f"monitoring of {result.endpoint}: {result.reason}", report_uri=result.report_uri,
            parameters=parameters, **settings,
        )  # fmt: skip
    except TypeError as exc:
        error: RegistryError = InvalidInputError(f"the monitoring policy's retraining settings: {one_line(exc)}")
        return _with_retrain(result, {"status": "failed", "error": str(error)}), error
    except RegistryError as exc:
        return _with_retrain(result, {"status": "failed", "error": one_line(exc)}), exc
    try:
        outcome = start_retraining(request)
    except RegistryError as exc:
        return _with_retrain(result, {"status": "failed", "runner": request.runner, "error": one_line(exc)}), exc
    status = "registered" if outcome.version else "submitted"
    return _with_retrain(result, {"status": status, **outcome.as_dict()}), None


def _store(registry: ModelRegistry, result: MonitorResult) -> None:
    write_report(registry.storage, result.keys, result.as_dict(), render_page(result))


def _history_details(result: MonitorResult) -> dict[str, str]:
    drifted = [d.feature for d in result.validation.drift if d.drifted] if result.validation else []
    details = {
        "endpoint": result.endpoint,
        ALERT_DETAIL: str(result.alert).lower(),
        "drift_detected": str(result.drift_detected).lower(),
        "quality_degraded": str(result.quality_degraded).lower(),
        "predictions": str(result.predictions),
        "report": result.report_uri,
    }
    if drifted:
        details["drifted"] = ", ".join(drifted[:20])
    if result.quality is not None:
        details.update({f"live_{k}": f"{v:.4g}" for k, v in list(result.quality.metrics.items())[:8]})
    if result.retrain is not None:
        details.update({f"retrain_{k}": str(v) for k, v in result.retrain.items() if v is not None})
    return details


def render_page(result: MonitorResult) -> str:
    """Return the run's standalone HTML page: verdict, quality, anomalies and drift per feature (all escaped)."""
    verdict = "alert" if result.alert else "ok"
    served = f"{result.model} {result.version}" if result.version else "nothing"
    window = result.as_dict()["window"]
    body = [
        f'<p class="{"failed" if result.alert else "passed"}"><strong>{verdict}</strong>: '
        f"{html.escape(result.reason)}</p>",
        f"<p>Endpoint {html.escape(result.endpoint)} served {html.escape(served)}: {result.predictions} logged "
        f"predictions from {html.escape(window['start'])} to {html.escape(window['end'])}.</p>",
    ]
    if result.other_versions:
        body.append(html_tables.table(["version", "predictions"], sorted(result.other_versions.items()),
                                      caption="Other versions in the window"))  # fmt: skip
    if result.retrain is not None:
        body.append(html_tables.table(["field", "value"], sorted(result.retrain.items()), caption="Retraining"))
    if result.quality is not None:
        q = result.quality
        rows = [[name, value, q.validated.get(name), q.degraded.get(name)] for name, value in q.metrics.items()]
        caption = f"Live quality ({q.labeled} predictions with feedback{'' if q.enough else ', too few to judge'})"
        body.append(html_tables.table(["metric", "live", "validated", "shortfall"], rows, caption=caption))
    if result.validation is not None:
        body.append(validation_tables(result.validation))
    return page(f"Monitoring of {result.endpoint}", "".join(body))
