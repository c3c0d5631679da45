"""Profiles: statistics checked against numpy computed independently, and the inferred schema."""

from __future__ import annotations

import numpy as np
import pytest
from monitoring_support import sample_rows
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from registry_core.monitoring.profile import NUM_QUANTILE_BUCKETS, profile_rows


def _feature(profile, name):
    return next(f for f in profile.dataset.features if f.path.step[0] == name)


def test_numeric_statistics_match_numpy() -> None:
    rows = sample_rows(500, seed=1)
    rows[3]["width"] = None
    rows[7]["width"] = float("nan")
    values = np.array([r["width"] for r in rows if r["width"] is not None and not np.isnan(r["width"])])

    stats = _feature(profile_rows(rows, name="train"), "width")

    assert stats.type == statistics_pb2.FeatureNameStatistics.FLOAT
    num = stats.num_stats
    assert num.common_stats.num_non_missing == 498
    assert num.common_stats.num_missing == 2
    assert num.mean == pytest.approx(values.mean())
    assert num.std_dev == pytest.approx(values.std())
    assert (num.min, num.median, num.max) == pytest.approx((values.min(), np.median(values), values.max()))
    standard, quantiles = num.histograms
    counts, edges = np.histogram(values, bins=10)
    assert [b.sample_count for b in standard.buckets] == counts.tolist()
    assert [b.low_value for b in standard.buckets] == pytest.approx(edges[:-1].tolist())
    assert len(quantiles.buckets) == NUM_QUANTILE_BUCKETS
    assert quantiles.buckets[49].high_value == pytest.approx(np.quantile(values, 0.5))
    assert quantiles.buckets[89].high_value == pytest.approx(np.quantile(values, 0.9))


def test_categorical_statistics_count_every_value_most_frequent_first() -> None:
    rows = sample_rows(400, seed=2)
    rows.append({"width": 140.0, "flag": 0})  # no shape: missing
    expected = {s: sum(r.get("shape") == s for r in rows) for s in ("oval", "round", "square")}

    profile = profile_rows(rows)
    stats = _feature(profile, "shape").string_stats

    assert profile.num_examples == 401
    assert stats.common_stats.num_missing == 1
    assert stats.unique == 3
    assert {t.value: t.frequency for t in stats.top_values} == expected
    assert [t.value for t in stats.top_values] == sorted(expected, key=lambda s: -expected[s])
    assert [b.label for b in stats.rank_histogram.buckets] == [t.value for t in stats.top_values]
    assert stats.avg_length == pytest.approx(np.mean([len(r["shape"]) for r in rows if "shape" in r]))


def test_schema_records_types_domains_ranges_and_presence() -> None:
    rows = sample_rows(300, seed=3)
    for row in rows[:30]:
        row["shape"] = None
    schema = profile_rows(rows).schema
    features = {f.name: f for f in schema.feature}

    assert features["width"].type == schema_pb2.FLOAT
    assert features["width"].float_domain.min == pytest.approx(min(r["width"] for r in rows), rel=1e-6)
    assert features["width"].presence.min_fraction == 1.0
    assert features["flag"].type == schema_pb2.INT
    assert (features["flag"].int_domain.min, features["flag"].int_domain.max) == (0, 1)
    assert features["shape"].type == schema_pb2.BYTES
    assert features["shape"].presence.min_fraction == pytest.approx(0.9)
    assert features["shape"].domain == "shape"
    assert list(schema.string_domain[0].value) == ["oval", "round", "square"]


def test_summary_names_examples_and_feature_types() -> None:
    assert profile_rows(sample_rows(10, seed=4)).summary() == {
        "num_examples": 10,
        "num_features": 3,
        "features": {"width": "FLOAT", "shape": "STRING", "flag": "INT"},
    }


def test_a_row_holding_a_list_is_refused() -> None:
    with pytest.raises(TypeError, match="feature 'width' holds a list"):
        profile_rows([{"width": [1.0, 2.0]}])
