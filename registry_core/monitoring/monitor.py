"""Monitoring an endpoint: its traffic against its version's training profile, and live quality from feedback.

Each run is stored as a report (JSON + HTML) and recorded in the model's history. One run reads the window's
feedback first (usually far smaller), then the predictions once: per version it counts them, keeps a uniform sample
of their instances (bounded memory whatever the traffic) and keeps the predictions that got feedback. The version
that served most of the window is the one judged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from registry_core.errors import NotFoundError, RegistryError
from registry_core.lifecycle.changes import HOLDOUT_PREFIX
from registry_core.metadata import utc_now
from registry_core.monitoring.live_quality import live_quality
from registry_core.monitoring.log_reader import PredictionLogReader
from registry_core.monitoring.policy import MonitorPolicy
from registry_core.monitoring.profile import SERVING
from registry_core.monitoring.retrain_claim import RetrainClaim
from registry_core.monitoring.run_reports import new_report_keys, write_report
from registry_core.monitoring.run_result import MonitorResult
from registry_core.monitoring.traffic import Served, read_window
from registry_core.monitoring.validation import validate_rows
from registry_core.notifications.events import ALERT_DETAIL
from registry_core.text import one_line

if TYPE_CHECKING:
    from registry_core.deploy.records import EndpointRecord
    from registry_core.metadata import HistoryEntry, ModelMetadata, ModelStage
    from registry_core.monitoring.profile import DataProfile
    from registry_core.storage.base import StorageBackend

logger = logging.getLogger(__name__)

class MonitoredRegistry(Protocol):
    """What a monitoring run needs of the registry: a `ModelRegistry` (which calls this module, not the reverse)."""

    storage: StorageBackend

    def get_endpoint(self, endpoint_name: str) -> EndpointRecord:
        """Return the endpoint's record."""
        ...

    def get_data_profile(
        self, model_name: str, version: str | None = None, stage: ModelStage | str | None = None
    ) -> DataProfile:
        """Return the profile of a version's training data."""
        ...

    def get_model_metadata(
        self, model_name: str, version: str | None = None, stage: ModelStage | str | None = None
    ) -> ModelMetadata:
        """Return a version's metadata."""
        ...

    def record_monitoring(
        self, model_name: str, version: str, details: Mapping[str, str], *, reason: str = "", actor: str | None = None
    ) -> HistoryEntry:
        """Record a monitoring run of a version in the model's history."""
        ...


RETRAIN_DATA_THRESHOLDS: Mapping[str, float] = {"numeric_drift": 1e9, "categorical_drift": 1e9}
"""The data gate of a retraining run: schema checks only (see `_retrain`); a policy's parameters may set another."""


def run_monitor(
    registry: MonitoredRegistry,
    endpoint: str,
    *,
    policy: MonitorPolicy | None = None,
    retrain: bool | None = None,
    now: datetime | None = None,
    actor: str | None = None,
) -> MonitorResult:
    """Monitor `endpoint` over the policy's window ending `now`; store the report and record the run.

    A retraining that was due and failed does not raise: the result (and its report and history entry) says so,
    and `MonitorResult.retrain_error` holds the error for callers that want to fail.

    Args:
        registry: The registry the endpoint and its logs live in.
        endpoint: The endpoint.
        policy: Thresholds and retraining; default `MonitorPolicy()`.
        retrain: Overrides `policy.retrain`.
        now: The end of the window (default: now, UTC).
        actor: Who runs it (default: the current user).

    Raises:
        EndpointNotFoundError: no such endpoint.
        StorageError: the logs or the report cannot be read or written.
    """
    policy = policy or MonitorPolicy()
    record = registry.get_endpoint(endpoint)
    end = now or utc_now()
    start = end - policy.window
    reader = PredictionLogReader(registry.storage, endpoint)
    window = read_window(
        reader.predictions(start, end), reader.feedback(start, end), sample_size=policy.sample_size,
        max_feedback=policy.max_feedback,
    )  # fmt: skip
    model, version = judged_version(window.served, record)
    mine = window.served.get((model, version), Served())
    validation = quality = None
    if version:
        baseline = _training_profile(registry, model, version)
        if baseline is not None:
            trained_on = baseline.feature_kinds()
            rows = [{k: v for k, v in row.items() if k in trained_on} for row in mine.rows.items]
            name = f"the training data of {model} {version}"
            validation = validate_rows(rows, baseline, policy.thresholds, baseline_name=name, environment=SERVING)
        validated = _validated_metrics(registry, model, version)
        quality = live_quality(
            mine.scored.items, validated, tolerances=policy.quality_tolerances, min_labeled=policy.min_labeled
        )
    keys = new_report_keys(endpoint, end)
    # What the servers did not log (sampling aside: a sample is still the traffic), and what this run could not keep.
    gaps = {kind: count for kind, count in reader.gaps(start, end).items() if kind != "sampledOut"}
    gaps |= {"feedbackNotKept": window.feedback_not_kept, "unreadableLines": reader.skipped}
    result = MonitorResult(
        endpoint=endpoint, model=model, version=version, checked_at=end, window=policy.window,
        predictions=mine.count, unprofiled=mine.unprofiled,
        other_versions={f"{m} {v}": s.count for (m, v), s in window.served.items() if (m, v) != (model, version)},
        validation=validation, enough_predictions=mine.count >= policy.min_predictions, quality=quality,
        gaps={name: count for name, count in gaps.items() if count}, retrain=None, keys=keys,
        summary_uri=registry.storage.uri_for(keys.summary), report_uri=registry.storage.uri_for(keys.page),
    )  # fmt: skip
    if (policy.retrain if retrain is None else retrain) and result.alert and version:
        result = _retrain_if_due(registry, result, policy)
    _store(registry, result)
    if version:
        registry.record_monitoring(model, version, _history_details(result), reason=result.reason, actor=actor)
    return result


def judged_version(served: Mapping[tuple[str, str], Served], record: EndpointRecord) -> tuple[str, str]:
    """The (model, version) a run judges: the endpoint's main deployment if it served, else the busiest one.

    The record is the registry's word: callers can send a deployed model of their choice any number of requests.
    """
    live = {d.id: d for d in record.deployments if d.undeployed_at is None}
    ranked = [live[i] for i, _ in sorted(record.traffic.items(), key=lambda item: -item[1]) if i in live]
    if ranked and (ranked[0].model_name, ranked[0].version) in served:
        return ranked[0].model_name, ranked[0].version
    if served:
        return max(served, key=lambda key: served[key].count)
    return (ranked[0].model_name, ranked[0].version) if ranked else ("", "")


def _training_profile(registry: MonitoredRegistry, model: str, version: str) -> DataProfile | None:
    try:
        return registry.get_data_profile(model, version)
    except NotFoundError as exc:  # registered without a profile: quality can still be judged
        logger.info("no drift check for %s %s: %s", model, version, exc)
        return None


def _validated_metrics(registry: MonitoredRegistry, model: str, version: str) -> dict[str, float]:
    """The version's metrics, its holdout (validation) value of each where it has one."""
    try:
        metrics = registry.get_model_metadata(model, version).metrics.as_dict()
    except NotFoundError:
        return {}
    found = {k: v for k, v in metrics.items() if not k.startswith(HOLDOUT_PREFIX)}
    found.update({k.removeprefix(HOLDOUT_PREFIX): v for k, v in metrics.items() if k.startswith(HOLDOUT_PREFIX)})
    return found


def _with_retrain(result: MonitorResult, retrain: dict[str, Any], error: RegistryError | None = None) -> MonitorResult:
    return replace(result, retrain=retrain, retrain_error=error)


def _retrain_if_due(registry: MonitoredRegistry, result: MonitorResult, policy: MonitorPolicy) -> MonitorResult:
    """Start retraining unless another run did within the cooldown; the report exists first (the lineage links it)."""
    runner = str(policy.retraining.get("runner", "local"))
    claim = RetrainClaim(registry.storage, result.endpoint)
    refused = claim.take(result.checked_at, policy.retrain_cooldown)
    if refused is not None:
        return _with_retrain(result, {"status": "skipped", "runner": runner, "reason": refused})
    _store(registry, _with_retrain(result, {"status": "started", "runner": runner}))
    result = _retrain(registry, result, policy)
    if result.retrain_error is not None:
        claim.release()  # the next run may try again
    return result


def _retrain(registry: MonitoredRegistry, result: MonitorResult, policy: MonitorPolicy) -> MonitorResult:
    """Start the pipeline on fresh data; return the result saying how it went (and the error, if it failed)."""
    from registry_core.monitoring.retraining import RetrainRequest, start_retraining

    settings = dict(policy.retraining)
    parameters = dict(settings.pop("parameters", None) or {})
    # The fresh data is expected to have drifted from what the judged version learnt: that is why it is retrained.
    # Its data gate still refuses data that breaks the schema (unknown categories, missing features).
    parameters.setdefault("data_thresholds", dict(RETRAIN_DATA_THRESHOLDS))
    runner = str(settings.get("runner", "local"))
    try:
        request = RetrainRequest(
            registry_root=registry.storage.uri, model_name=result.model, endpoint=result.endpoint,
            reason=f"monitoring of {result.endpoint}: {result.reason}", report_uri=result.report_uri,
            parameters=parameters, **settings,
        )  # fmt: skip
        outcome = start_retraining(request)
    except RegistryError as exc:
        return _with_retrain(result, {"status": "failed", "runner": runner, "error": one_line(exc)}, exc)
    status = "registered" if outcome.version else "submitted"
    return _with_retrain(result, {"status": status, **outcome.as_dict()})


def _store(registry: MonitoredRegistry, result: MonitorResult) -> None:
    from registry_core.monitoring.monitor_page import render_page

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
