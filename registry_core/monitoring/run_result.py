"""One monitoring run's result: what it saw, its verdict, its reason in one line, and the summary it stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from registry_core.errors import RegistryError
from registry_core.monitoring.live_quality import LiveQuality
from registry_core.monitoring.run_reports import ReportKeys
from registry_core.monitoring.validation import DataValidation
from registry_core.text import one_line


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
        gaps: What the run could not see, by kind ("feedbackNotKept", "unreadableLines", and what the servers
            report they did not log): empty when it saw everything.
        retrain: What retraining did: status ("registered", "submitted", "skipped" or "failed"), runner, run,
            version, or why not; None when it was not due.
        retrain_error: The error of a retraining that failed (not stored: the summary has its message).
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
    gaps: dict[str, int]
    retrain: dict[str, Any] | None
    keys: ReportKeys
    summary_uri: str
    report_uri: str
    retrain_error: RegistryError | None = None

    @property
    def complete(self) -> bool:
        """Whether the run saw all the traffic that was served (sampling aside): nothing dropped, capped or lost."""
        return not self.gaps

    @property
    def retrain_triggered(self) -> bool:
        """Whether a retraining run was started (and registered a version, or was submitted)."""
        return self.retrain is not None and self.retrain.get("status") in {"registered", "submitted"}

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
            for name in self.quality.degraded:
                live, validated = self.quality.metrics[name], self.quality.validated[name]
                note = "" if self.quality.enough else f" (only {self.quality.labeled} labelled)"
                parts.append(f"{name} {live:.3g} against {validated:.3g} at validation{note}")
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
            "complete": self.complete,
            "gaps": self.gaps,
            "retrain_triggered": self.retrain_triggered,
            "retrain": self.retrain,
            "reason": self.reason,
            "summary_uri": self.summary_uri,
            "report_uri": self.report_uri,
        }
