"""Schema checks: each anomaly kind is caught, clean data has none, thresholds let some rows through."""

from __future__ import annotations

import pytest
from monitoring_support import sample_rows

from registry_core.monitoring.checks import AnomalyKind, CheckThresholds, check_columns
from registry_core.monitoring.columns import collect_columns
from registry_core.monitoring.profile import profile_rows


@pytest.fixture(scope="module")
def schema():
    return profile_rows(sample_rows(2000, seed=0)).schema


def _anomalies(schema, rows, thresholds=None) -> dict:
    return {(a.feature, a.kind): a for a in check_columns(collect_columns(rows), schema, thresholds)}


def test_data_from_the_same_distribution_has_no_anomalies(schema) -> None:
    assert _anomalies(schema, sample_rows(500, seed=1)) == {}


def test_a_missing_feature_is_reported(schema) -> None:
    rows = [{k: v for k, v in row.items() if k != "flag"} for row in sample_rows(50, seed=1)]
    anomaly = _anomalies(schema, rows)[("flag", AnomalyKind.MISSING_FEATURE)]
    assert anomaly.fraction == 1.0


def test_features_the_schema_keeps_out_of_serving_are_not_missing_there(schema) -> None:
    from registry_core.monitoring.profile import SERVING, mark_training_only, profile_rows

    labelled = profile_rows(sample_rows(500, seed=0)).schema
    mark_training_only(labelled, ["flag"])
    served = [{k: v for k, v in row.items() if k != "flag"} for row in sample_rows(50, seed=1)]
    assert _anomalies(labelled, served) != {}  # in training data, a missing label is an anomaly
    assert check_columns(collect_columns(served), labelled, environment=SERVING) == []
    assert list(labelled.default_environment) == ["TRAINING", "SERVING"]


def test_unknown_categories_are_reported_with_values_and_share(schema) -> None:
    rows = sample_rows(100, seed=1)
    for row in rows[:10]:
        row["shape"] = "hexagon"
    rows[10]["shape"] = "star"
    anomaly = _anomalies(schema, rows)[("shape", AnomalyKind.UNKNOWN_CATEGORY)]
    assert anomaly.values == ("hexagon", "star")
    assert anomaly.fraction == pytest.approx(0.11)
    assert "hexagon" in anomaly.description


def test_the_values_an_anomaly_quotes_are_cut_to_a_readable_length(schema) -> None:
    rows = sample_rows(100, seed=1)
    for index, row in enumerate(rows[:20]):
        row["shape"] = f"{index:02d}" + "x" * 1_000_000 + "\n<script>"
    anomaly = _anomalies(schema, rows)[("shape", AnomalyKind.UNKNOWN_CATEGORY)]
    assert len(anomaly.values) == 10
    assert all(len(value) <= 80 and "\n" not in value for value in anomaly.values)
    assert len(anomaly.description) < 1_500


def test_out_of_range_values_are_reported_above_the_allowed_share(schema) -> None:
    rows = sample_rows(100, seed=1)
    for row in rows[:10]:
        row["width"] = 500.0
    anomaly = _anomalies(schema, rows)[("width", AnomalyKind.OUT_OF_RANGE)]
    assert anomaly.fraction == pytest.approx(0.1)
    allowed = CheckThresholds(per_feature={"width": {"max_out_of_range_fraction": 0.1}})
    assert ("width", AnomalyKind.OUT_OF_RANGE) not in _anomalies(schema, rows, allowed)


def test_the_training_extremes_are_in_range(schema) -> None:
    rows = sample_rows(2000, seed=0)  # the very data the schema came from, float32 rounding and all
    assert _anomalies(schema, rows, CheckThresholds(max_out_of_range_fraction=0.0)) == {}


def test_more_missing_values_than_the_schema_allows_are_reported(schema) -> None:
    rows = sample_rows(100, seed=1)
    for row in rows[:20]:
        row["width"] = None
    anomaly = _anomalies(schema, rows)[("width", AnomalyKind.MISSING_VALUES)]
    assert anomaly.fraction == pytest.approx(0.2)
    assert ("width", AnomalyKind.MISSING_VALUES) not in _anomalies(schema, rows, CheckThresholds(missing_tolerance=0.2))


def test_values_of_the_wrong_type_are_reported(schema) -> None:
    rows = sample_rows(100, seed=1)
    rows[0]["width"] = "wide"
    rows[1]["flag"] = 0.5
    rows[2]["shape"] = 3
    found = _anomalies(schema, rows)
    assert found[("width", AnomalyKind.WRONG_TYPE)].values == ("wide",)
    assert found[("flag", AnomalyKind.WRONG_TYPE)].values == ("0.5",)
    assert found[("shape", AnomalyKind.WRONG_TYPE)].values == ("3",)
