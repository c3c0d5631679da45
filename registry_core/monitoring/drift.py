"""Drift between a baseline profile and new data, feature by feature, from stored statistics alone.

The tests, and why these (the rows of the baseline are not kept, so each works from the stored statistics):

* Numeric features: the Wasserstein-1 distance between the two quantile functions (read from the QUANTILES
  histograms), divided by the baseline's standard deviation. It is a distance, not a p-value, so it does not flag
  every negligible shift once windows hold thousands of rows (a KS test does); dividing by the spread makes one
  threshold fit every unit (Evidently uses the same score). A shift of the mean by d standard deviations scores
  about d. Two samples of one distribution score about 1.5 / sqrt(n) by chance (n new rows, against a larger
  baseline): 0.065 at 500 rows, with a 99th percentile of 0.13 (measured over 200 seeds), hence a default of 0.2,
  a fifth of a standard deviation; windows much smaller than 300 rows need a higher threshold.
* Categorical features: the L-infinity distance between the two value distributions, the largest change of any
  value's share, as TensorFlow Data Validation's drift comparator computes it; 0.1 means some value's share moved by
  ten points. It is readable ("the share of 'round' went from 20% to 35%") and new values count with their share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

from registry_core.monitoring.profile import feature_name

WASSERSTEIN = "wasserstein_normalized"
L_INFINITY = "l_infinity"
DEFAULT_NUMERIC_THRESHOLD = 0.2
DEFAULT_CATEGORICAL_THRESHOLD = 0.1
_GRID = np.linspace(0.0, 1.0, 201)  # where both quantile functions are compared


@dataclass(frozen=True)
class DriftThresholds:
    """Scores above which a feature has drifted.

    Attributes:
        numeric: Threshold of the normalized Wasserstein distance.
        categorical: Threshold of the L-infinity distance.
        per_feature: Feature name to its own threshold (whatever its kind).
    """

    numeric: float = DEFAULT_NUMERIC_THRESHOLD
    categorical: float = DEFAULT_CATEGORICAL_THRESHOLD
    per_feature: Mapping[str, float] = field(default_factory=dict)

    def threshold(self, feature: str, *, numeric: bool) -> float:
        """Return the threshold that applies to `feature`."""
        if feature in self.per_feature:
            return float(self.per_feature[feature])
        return self.numeric if numeric else self.categorical


@dataclass(frozen=True)
class FeatureDrift:
    """The drift test of one feature.

    Attributes:
        feature: Feature name.
        test: `WASSERSTEIN` or `L_INFINITY`.
        score: The test's score (0 for identical distributions).
        threshold: The score above which the feature has drifted.
        drifted: Whether `score` is above `threshold`.
        baseline_count: Values of the feature in the baseline.
        current_count: Values of the feature in the new data.
    """

    feature: str
    test: str
    score: float
    threshold: float
    drifted: bool
    baseline_count: int
    current_count: int

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "test": self.test,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "baseline_count": self.baseline_count,
            "current_count": self.current_count,
        }


def detect_drift(baseline: Any, current: Any, thresholds: DriftThresholds | None = None) -> list[FeatureDrift]:
    """Compare the features two sets of statistics share, in the baseline's order.

    Features missing from either side, without values on either side, or numeric on one side and strings on the
    other are left out: schema checks report those.

    Args:
        baseline: DatasetFeatureStatisticsList (or one DatasetFeatureStatistics) of the reference data.
        current: The same for the new data.
        thresholds: Where drift starts; default `DriftThresholds()`.

    Returns:
        One result per comparable feature.
    """
    thresholds = thresholds or DriftThresholds()
    base = {feature_name(f): f for f in _dataset(baseline).features}
    new = {feature_name(f): f for f in _dataset(current).features}
    results = []
    for name, reference in base.items():
        candidate = new.get(name)
        if candidate is None:
            continue
        result = _compare(name, reference, candidate, thresholds)
        if result is not None:
            results.append(result)
    return results


def _dataset(statistics: Any) -> Any:
    return statistics.datasets[0] if hasattr(statistics, "datasets") else statistics


def _compare(name: str, reference: Any, candidate: Any, thresholds: DriftThresholds) -> FeatureDrift | None:
    string = statistics_pb2.FeatureNameStatistics.STRING
    if (reference.type == string) != (candidate.type == string):
        return None
    if reference.type == string:
        base_count = int(reference.string_stats.common_stats.num_non_missing)
        new_count = int(candidate.string_stats.common_stats.num_non_missing)
        if not base_count or not new_count:
            return None
        score = l_infinity(_shares(reference.string_stats), _shares(candidate.string_stats))
        test, numeric = L_INFINITY, False
    else:
        base_count = int(reference.num_stats.common_stats.num_non_missing)
        new_count = int(candidate.num_stats.common_stats.num_non_missing)
        if not base_count or not new_count:
            return None
        score = normalized_wasserstein(reference.num_stats, candidate.num_stats)
        test, numeric = WASSERSTEIN, True
    limit = thresholds.threshold(name, numeric=numeric)
    return FeatureDrift(name, test, score, limit, score > limit, base_count, new_count)


def l_infinity(baseline: Mapping[str, float], current: Mapping[str, float]) -> float:
    """Return the largest difference of any value's share between two distributions (shares summing to 1)."""
    values = baseline.keys() | current.keys()
    return max((abs(baseline.get(v, 0.0) - current.get(v, 0.0)) for v in values), default=0.0)


def normalized_wasserstein(baseline: Any, current: Any) -> float:
    """Return W1 between two NumericStatistics' quantile functions, divided by the baseline's standard deviation.

    A constant baseline (standard deviation 0) divides by 1: the score is then the distance in the feature's unit.
    """
    distance = float(np.trapezoid(np.abs(quantile_function(baseline) - quantile_function(current)), _GRID))
    spread = float(baseline.std_dev)
    return distance / spread if spread > 0 else distance


def quantile_function(stats: Any) -> np.ndarray:
    """Return the quantiles of a NumericStatistics at 201 evenly spaced probabilities, from its QUANTILES histogram.

    Statistics without one (from other tools) fall back on the STANDARD histogram, read as uniform within buckets.
    """
    histograms = {h.type: h for h in stats.histograms}
    histogram = histograms.get(statistics_pb2.Histogram.QUANTILES) or histograms.get(statistics_pb2.Histogram.STANDARD)
    if histogram is None or not histogram.buckets:
        return np.full(_GRID.shape, float(stats.mean))
    buckets = histogram.buckets
    bounds = np.array([buckets[0].low_value] + [b.high_value for b in buckets], dtype=np.float64)
    mass = np.concatenate([[0.0], np.cumsum([b.sample_count for b in buckets])])
    if mass[-1] <= 0:
        return np.full(_GRID.shape, float(stats.mean))
    return np.interp(_GRID, mass / mass[-1], bounds)


def _shares(stats: Any) -> dict[str, float]:
    total = float(stats.common_stats.num_non_missing) or 1.0
    if stats.top_values:
        return {top.value: top.frequency / total for top in stats.top_values}
    return {bucket.label: bucket.sample_count / total for bucket in stats.rank_histogram.buckets}
