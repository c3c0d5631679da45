"""A profile as rows per feature: statistics, the most frequent values with shares, the schema's domain and presence."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from monitoring_support import sample_rows

from registry_core.monitoring.profile import profile_rows
from registry_core.monitoring.profile_view import TOP_VALUES, profile_view

# 20 rows: width 131..149 with one missing; seven shapes, three of them tied at two rows.
SHAPES = ["oval"] * 6 + ["round"] * 4 + ["square"] * 3 + ["heart"] * 2 + ["diamond"] * 2 + ["pear"] * 2 + ["kite"]
ROWS = [{"width": None if i == 0 else 130.0 + i, "shape": SHAPES[i], "pairs": i % 3} for i in range(20)]


def test_a_numeric_feature_has_its_statistics_range_and_presence() -> None:
    view = profile_view(profile_rows(ROWS, name="train"), model="m", version="v1")
    assert (view.model, view.version) == ("m", "v1")
    assert view.summary.model_dump() == {
        "num_examples": 20, "num_features": 3, "features": {"width": "FLOAT", "shape": "STRING", "pairs": "INT"},
    }  # fmt: skip
    width = view.features[0]
    values = [130.0 + i for i in range(1, 20)]
    assert (width.feature, width.type, width.count, width.missing) == ("width", "FLOAT", 19, 1)
    assert (width.min, width.max, width.median) == (131.0, 149.0, 140.0)
    assert width.mean == pytest.approx(statistics.fmean(values))
    assert width.std == pytest.approx(statistics.pstdev(values))
    assert sum(bucket.count for bucket in width.histogram) == 19
    assert (width.histogram[0].low, width.histogram[-1].high) == (131.0, 149.0)
    assert width.domain is not None
    assert (width.domain.values, width.domain.min, width.domain.max) == (None, 131.0, 149.0)
    assert width.presence == pytest.approx(0.95)
    assert (width.unique, width.top_values) == (None, [])
    pairs = view.features[2]
    assert pairs.domain is not None
    assert (pairs.type, pairs.domain.min, pairs.domain.max, pairs.presence) == ("INT", 0, 2, 1.0)


def test_a_string_feature_has_its_top_values_with_shares_and_its_categories() -> None:
    shape = profile_view(profile_rows(ROWS)).features[1]
    assert (shape.type, shape.count, shape.missing, shape.unique) == ("STRING", 20, 0, 7)
    assert shape.min is shape.mean is shape.max is None
    assert shape.histogram == []
    assert len(shape.top_values) == TOP_VALUES
    # most frequent first, ties by value
    assert [(t.value, t.count, t.share) for t in shape.top_values] == [
        ("oval", 6, 0.3), ("round", 4, 0.2), ("square", 3, 0.15), ("diamond", 2, 0.1), ("heart", 2, 0.1),
    ]  # fmt: skip
    assert shape.domain is not None
    assert shape.domain.values == sorted(set(SHAPES))
    assert shape.presence == 1.0


def test_a_float_range_reads_as_the_decimal_it_was_not_as_float32() -> None:
    width = profile_view(profile_rows([{"width": 140.1}, {"width": 160.3}])).features[0]
    assert width.domain is not None
    assert (width.domain.min, width.domain.max) == (140.1, 160.3)


def test_a_feature_without_values_has_counts_but_no_statistics() -> None:
    view = profile_view(profile_rows([{"width": 1.5, "note": None}, {"width": 2.5, "note": None}]))
    note = view.features[1]
    assert (note.feature, note.count, note.missing) == ("note", 0, 2)
    assert note.min is note.mean is note.std is note.median is note.max is None
    assert note.histogram == []


def test_numbers_that_are_not_finite_become_null_so_the_json_is_valid() -> None:
    profile = profile_rows(sample_rows(30, seed=1))
    stats = profile.dataset.features[0].num_stats
    stats.mean, stats.max = math.nan, math.inf
    stats.histograms[0].buckets[-1].high_value = math.inf
    profile.schema.feature[0].float_domain.max = math.inf
    width = profile_view(profile).features[0]
    assert (width.mean, width.max) == (None, None)
    assert width.domain is not None
    assert width.domain.max is None
    assert len(width.histogram) == 9
    assert json.loads(profile_view(profile).model_dump_json())["features"][0]["mean"] is None


def test_a_named_string_domain_and_a_schema_without_domain_are_read() -> None:
    profile = profile_rows(ROWS)
    shape = profile.schema.feature[1]
    assert shape.domain == "shape"  # infer_schema names the schema-level domain after the feature
    shape.ClearField("domain")
    shape.string_domain.value.extend(["oval", "round"])
    profile.schema.feature[0].ClearField("float_domain")
    profile.schema.feature[0].ClearField("presence")
    view = profile_view(profile)
    assert view.features[1].domain is not None
    assert view.features[1].domain.values == ["oval", "round"]
    assert (view.features[0].domain, view.features[0].presence) == (None, None)
