"""Drift: same-distribution samples do not drift, shifted or reweighted ones do, scores agree with scipy.

False positives: two samples of one distribution score about 1.5 / sqrt(n) on the numeric test (0.065 at 500 rows,
99th percentile 0.13 over 200 seeds, threshold 0.2) and at most 0.075 on the categorical one (threshold 0.1); the
20 seeds below are fixed, so the test is deterministic and the margin is that of the 99th percentile.
"""

from __future__ import annotations

import numpy as np
import pytest
from monitoring_support import sample_rows
from scipy.stats import wasserstein_distance

from registry_core.monitoring.drift import L_INFINITY, WASSERSTEIN, DriftThresholds, detect_drift
from registry_core.monitoring.profile import profile_rows


@pytest.fixture(scope="module")
def baseline_rows() -> list[dict]:
    return sample_rows(2000, seed=0)


@pytest.fixture(scope="module")
def baseline(baseline_rows):
    return profile_rows(baseline_rows).statistics


def _scores(baseline, rows, thresholds=None) -> dict:
    return {d.feature: d for d in detect_drift(baseline, profile_rows(rows).statistics, thresholds)}


def test_samples_of_the_training_distribution_do_not_drift(baseline) -> None:
    for seed in range(1, 21):
        drifted = [d.feature for d in _scores(baseline, sample_rows(500, seed)).values() if d.drifted]
        assert drifted == [], f"seed {seed}"


def test_shifted_measurements_drift_and_nothing_else(baseline) -> None:
    results = _scores(baseline, sample_rows(500, seed=7, shift=3.0))  # half a standard deviation
    assert results["width"].drifted
    assert results["width"].test == WASSERSTEIN
    assert results["width"].score == pytest.approx(0.5, abs=0.1)
    assert not results["shape"].drifted
    assert not results["flag"].drifted


def test_reweighted_and_new_categories_drift(baseline) -> None:
    results = _scores(baseline, sample_rows(500, seed=7, probs=(0.3, 0.3, 0.2, 0.2)))
    shape = results["shape"]
    assert shape.drifted
    assert shape.test == L_INFINITY
    # the largest change of a share: oval 0.5 -> 0.3 or the new heart 0 -> 0.2, each about 0.2
    assert shape.score == pytest.approx(0.2, abs=0.05)
    assert not results["width"].drifted


def test_numeric_score_is_wasserstein_over_the_baseline_spread(baseline_rows, baseline) -> None:
    rows = sample_rows(500, seed=9, shift=1.0)
    expected_width = np.array([r["width"] for r in baseline_rows])
    exact = wasserstein_distance(expected_width, [r["width"] for r in rows]) / expected_width.std()
    assert _scores(baseline, rows)["width"].score == pytest.approx(exact, abs=0.01)


def test_categorical_score_is_the_largest_change_of_a_share(baseline_rows, baseline) -> None:
    rows = sample_rows(300, seed=11, probs=(0.2, 0.4, 0.4))

    def shares(data):
        values = [r["shape"] for r in data]
        return {s: values.count(s) / len(values) for s in set(values)}

    before, after = shares(baseline_rows), shares(rows)
    exact = max(abs(before.get(s, 0) - after.get(s, 0)) for s in before.keys() | after.keys())
    assert _scores(baseline, rows)["shape"].score == pytest.approx(exact)


def test_thresholds_are_overridable_per_feature(baseline) -> None:
    rows = sample_rows(500, seed=7, shift=3.0)
    results = _scores(baseline, rows, DriftThresholds(per_feature={"width": 0.9}))
    assert results["width"].threshold == 0.9
    assert not results["width"].drifted


def test_features_absent_on_one_side_are_left_to_the_checks(baseline) -> None:
    rows = [{"width": 140.0} for _ in range(50)]
    assert list(_scores(baseline, rows)) == ["width"]
