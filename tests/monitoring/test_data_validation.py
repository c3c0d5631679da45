"""Validation of new data against a baseline profile, its thresholds, and its JSON and HTML reports."""

from __future__ import annotations

import json

import pytest
from monitoring_support import sample_rows

from registry_core.errors import InvalidInputError
from registry_core.monitoring.profile import profile_rows
from registry_core.monitoring.report import render_html, render_json
from registry_core.monitoring.validation import ValidationThresholds, validate_rows


@pytest.fixture(scope="module")
def baseline():
    return profile_rows(sample_rows(2000, seed=0))


def test_clean_data_passes(baseline) -> None:
    result = validate_rows(sample_rows(500, seed=1), baseline, baseline_name="m v1 (production)")
    assert result.status == "passed"
    assert result.message == "500 rows match m v1 (production)"
    assert [d.feature for d in result.drift] == ["width", "shape", "flag"]


def test_broken_data_fails_naming_the_anomalies_and_drift(baseline) -> None:
    rows = sample_rows(500, seed=1, shift=3.0)
    rows[0]["shape"] = "hexagon"
    result = validate_rows(rows, baseline)
    assert not result.passed
    assert "hexagon" in result.message
    assert "drift in width" in result.message
    assert "\n" not in result.message


def test_without_a_baseline_data_passes_and_says_so() -> None:
    result = validate_rows(sample_rows(5, seed=1), None, baseline_name="no production version of m")
    assert (result.status, result.passed) == ("no_baseline", True)
    assert result.message == "no baseline (no production version of m): 5 rows not validated"


def test_json_report_has_stable_keys(baseline) -> None:
    rows = sample_rows(200, seed=2)
    rows[0]["shape"] = "hexagon"
    report = json.loads(render_json(validate_rows(rows, baseline)))
    assert set(report) == {
        "status", "passed", "message", "baseline", "num_examples", "anomalies", "drift_detected", "features",
    }  # fmt: skip
    assert report["anomalies"][0]["kind"] == "unknown_category"
    assert set(report["features"]["width"]) == {
        "test", "score", "threshold", "drifted", "baseline_count", "current_count",
    }  # fmt: skip


def test_html_report_is_self_contained_and_escapes_values(baseline) -> None:
    rows = sample_rows(200, seed=2)
    rows[0]["shape"] = "<script>alert(1)</script>"
    page = render_html(validate_rows(rows, baseline))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "src=" not in page
    assert "href=" not in page
    assert "Drift per feature" in page


def test_thresholds_come_from_plain_data() -> None:
    thresholds = ValidationThresholds.from_mapping(
        {"numeric_drift": 0.3, "max_out_of_range_fraction": 0.05, "features": {"width": {"drift": 1.0}}}
    )
    assert thresholds.drift.numeric == 0.3
    assert thresholds.drift.threshold("width", numeric=True) == 1.0
    assert thresholds.checks.limit("width", "max_out_of_range_fraction") == 0.05
    assert thresholds.drift.categorical == 0.1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"numeric": 0.1}, "unknown data validation threshold 'numeric'"),
        ({"numeric_drift": -1}, "numeric_drift must be a non-negative number"),
        ({"numeric_drift": "high"}, "must be a non-negative number"),
        ({"features": {"width": {"color": 1}}}, "thresholds of feature 'width'"),
    ],
)
def test_bad_thresholds_are_refused(values, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ValidationThresholds.from_mapping(values)
