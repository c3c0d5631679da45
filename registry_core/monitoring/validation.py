"""New data against a baseline profile: schema checks and drift in one result that passes or fails."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_core.errors import InvalidInputError
from registry_core.monitoring.checks import Anomaly, CheckThresholds, check_columns
from registry_core.monitoring.columns import Columns, Row, collect_columns
from registry_core.monitoring.drift import (
    DEFAULT_CATEGORICAL_THRESHOLD,
    DEFAULT_NUMERIC_THRESHOLD,
    DriftThresholds,
    FeatureDrift,
    detect_drift,
)
from registry_core.monitoring.profile import DataProfile, compute_statistics
from registry_core.text import shown

_CHECK_KEYS = ("max_out_of_range_fraction", "max_unknown_category_fraction", "missing_tolerance")
_FEATURE_KEYS = (*_CHECK_KEYS, "drift")


@dataclass(frozen=True)
class ValidationThresholds:
    """Every threshold of a data validation.

    Attributes:
        drift: Where drift starts, per kind and per feature.
        checks: How many offending rows the schema checks let through.
    """

    drift: DriftThresholds = field(default_factory=DriftThresholds)
    checks: CheckThresholds = field(default_factory=CheckThresholds)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> ValidationThresholds:
        """Build from plain data, as a pipeline parameter gives it; absent keys keep their defaults.

        Keys: ``numeric_drift``, ``categorical_drift``, ``max_out_of_range_fraction``,
        ``max_unknown_category_fraction``, ``missing_tolerance``, and ``features``: feature name to a mapping of
        the check keys and ``drift``, e.g. ``{"features": {"budget_usd": {"drift": 0.3}}}``.

        Raises:
            InvalidInputError: an unknown key, or a value that is not a non-negative finite number.
        """
        values = dict(values or {})
        known = {"numeric_drift", "categorical_drift", "features", *_CHECK_KEYS}
        unknown = sorted(set(values) - known)
        if unknown:
            msg = f"unknown data validation threshold {shown(unknown[0])}; expected one of: {', '.join(sorted(known))}"
            raise InvalidInputError(msg)
        features = values.get("features") or {}
        if not isinstance(features, Mapping):
            msg = "data validation thresholds: 'features' must map feature names to thresholds"
            raise InvalidInputError(msg)
        per_drift: dict[str, float] = {}
        per_check: dict[str, dict[str, float]] = {}
        for name, own in features.items():
            if not isinstance(own, Mapping) or set(own) - set(_FEATURE_KEYS):
                keys = ", ".join(_FEATURE_KEYS)
                msg = f"thresholds of feature {shown(name)} must be a mapping with keys among: {keys}"
                raise InvalidInputError(msg)
            if "drift" in own:
                per_drift[str(name)] = _number(own["drift"], f"{name}.drift")
            per_check[str(name)] = {k: _number(v, f"{name}.{k}") for k, v in own.items() if k != "drift"}
        drift = DriftThresholds(
            numeric=_number(values.get("numeric_drift", DEFAULT_NUMERIC_THRESHOLD), "numeric_drift"),
            categorical=_number(values.get("categorical_drift", DEFAULT_CATEGORICAL_THRESHOLD), "categorical_drift"),
            per_feature=per_drift,
        )
        defaults = CheckThresholds()
        checks = CheckThresholds(
            **{key: _number(values.get(key, getattr(defaults, key)), key) for key in _CHECK_KEYS},
            per_feature=per_check,
        )
        return cls(drift=drift, checks=checks)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        msg = f"data validation threshold {name} must be a non-negative number, got {shown(value)}"
        raise InvalidInputError(msg)
    return float(value)


@dataclass(frozen=True)
class DataValidation:
    """The outcome of checking new data against a baseline profile.

    Attributes:
        status: "passed", "failed", or "no_baseline" (nothing to compare with: passes).
        message: One line saying what happened.
        baseline: What the data was compared with, e.g. "eyewear v3 (production)"; "" without a baseline.
        num_examples: Rows of new data.
        anomalies: Schema anomalies, in schema order.
        drift: Drift per feature, in the baseline's order.
    """

    status: str
    message: str
    baseline: str
    num_examples: int
    anomalies: tuple[Anomaly, ...] = ()
    drift: tuple[FeatureDrift, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether the data may be used (no anomaly, no drift, or no baseline)."""
        return self.status != "failed"

    @property
    def drift_detected(self) -> bool:
        """Whether any feature drifted."""
        return any(result.drifted for result in self.drift)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as one JSON-ready object with stable keys."""
        return {
            "status": self.status,
            "passed": self.passed,
            "message": self.message,
            "baseline": self.baseline,
            "num_examples": self.num_examples,
            "anomalies": [anomaly.as_dict() for anomaly in self.anomalies],
            "drift_detected": self.drift_detected,
            "features": {result.feature: result.as_dict() for result in self.drift},
        }


def validate_rows(
    rows: Iterable[Row],
    baseline: DataProfile | None,
    thresholds: ValidationThresholds | None = None,
    *,
    baseline_name: str = "",
    environment: str | None = None,
) -> DataValidation:
    """Check `rows` against `baseline`'s schema and for drift from its statistics.

    Args:
        rows: The new data (see `columns.collect_columns`).
        baseline: The reference profile, e.g. the training profile of the production version; None passes.
        thresholds: Default `ValidationThresholds()`.
        baseline_name: How to name the baseline in messages.
        environment: Where the rows come from: "SERVING" skips the schema's training-only features (the label).

    Returns:
        The result; `status` is "failed" when there is any anomaly or any drifted feature.
    """
    return validate_columns(
        collect_columns(rows), baseline, thresholds, baseline_name=baseline_name, environment=environment
    )


def validate_columns(
    columns: Columns,
    baseline: DataProfile | None,
    thresholds: ValidationThresholds | None = None,
    *,
    baseline_name: str = "",
    statistics: Any = None,
    environment: str | None = None,
) -> DataValidation:
    """Validate data already gathered into columns (see `validate_rows`).

    Args:
        columns: The new data.
        baseline: The reference profile; None passes.
        thresholds: Default `ValidationThresholds()`.
        baseline_name: How to name the baseline in messages.
        statistics: The statistics of `columns` if already computed (they are computed otherwise).
        environment: Where the data comes from (see `validate_rows`).
    """
    if baseline is None:
        message = f"no baseline{f' ({baseline_name})' if baseline_name else ''}: {columns.num_rows} rows not validated"
        return DataValidation("no_baseline", message, "", columns.num_rows)
    thresholds = thresholds or ValidationThresholds()
    anomalies = tuple(check_columns(columns, baseline.schema, thresholds.checks, environment=environment))
    current = statistics if statistics is not None else compute_statistics(columns)
    drift = tuple(detect_drift(baseline.statistics, current, thresholds.drift))
    drifted = [result.feature for result in drift if result.drifted]
    against = baseline_name or "the baseline"
    if not anomalies and not drifted:
        return DataValidation(
            "passed", f"{columns.num_rows} rows match {against}", baseline_name, columns.num_rows, anomalies, drift
        )
    problems = []
    if anomalies:
        problems.append(f"{len(anomalies)} anomalies ({'; '.join(a.description for a in anomalies[:3])})")
    if drifted:
        problems.append(f"drift in {', '.join(drifted)}")
    message = f"data does not match {against}: {'; '.join(problems)}"
    return DataValidation("failed", message, baseline_name, columns.num_rows, anomalies, drift)
