"""Profiles of data: tensorflow-metadata statistics (DatasetFeatureStatisticsList) and an inferred Schema.

The statistics keep what drift needs later, since the rows themselves are not kept: for numeric features 100
quantile buckets and a 10-bucket histogram, for string features every value's count (up to `MAX_TOP_VALUES`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from registry_core.monitoring.columns import Column, Columns, FeatureKind, Row, collect_columns

NUM_QUANTILE_BUCKETS = 100
NUM_HISTOGRAM_BUCKETS = 10
MAX_TOP_VALUES = 1000
MAX_DOMAIN_VALUES = 100
"""A string feature with at most this many distinct values is categorical: the schema lists its values."""

_STATS_TYPES = {
    FeatureKind.FLOAT: statistics_pb2.FeatureNameStatistics.FLOAT,
    FeatureKind.INT: statistics_pb2.FeatureNameStatistics.INT,
    FeatureKind.STRING: statistics_pb2.FeatureNameStatistics.STRING,
}
_SCHEMA_TYPES = {
    FeatureKind.FLOAT: schema_pb2.FLOAT,
    FeatureKind.INT: schema_pb2.INT,
    FeatureKind.STRING: schema_pb2.BYTES,
}


@dataclass(frozen=True)
class DataProfile:
    """Statistics of a data set and the schema inferred from them (or curated by hand since).

    Attributes:
        statistics: One DatasetFeatureStatistics (the first of the list is the one used).
        schema: Feature types, domains and presence.
    """

    statistics: Any  # statistics_pb2.DatasetFeatureStatisticsList
    schema: Any  # schema_pb2.Schema

    @property
    def dataset(self) -> Any:
        """The first (usually only) DatasetFeatureStatistics of the list."""
        return self.statistics.datasets[0]

    @property
    def num_examples(self) -> int:
        """Examples the statistics were computed from."""
        return int(self.dataset.num_examples)

    def feature_kinds(self) -> dict[str, str]:
        """Return each profiled feature's type ("FLOAT", "INT" or "STRING"), in stored order."""
        names = {v: k for k, v in _STATS_TYPES.items()}
        return {feature_name(f): names.get(f.type, FeatureKind.STRING).value for f in self.dataset.features}

    def summary(self) -> dict[str, Any]:
        """Return a small JSON-ready summary: examples, number of features, and each feature's type."""
        kinds = self.feature_kinds()
        return {"num_examples": self.num_examples, "num_features": len(kinds), "features": kinds}


def profile_rows(rows: Iterable[Row], *, name: str = "data") -> DataProfile:
    """Compute the statistics of `rows` and infer a schema from them.

    Args:
        rows: Mappings of feature name to a scalar (see `columns.collect_columns`).
        name: Name of the data set in the statistics, e.g. "train".

    Returns:
        The profile.
    """
    return profile_columns(collect_columns(rows), name=name)


def profile_columns(columns: Columns, *, name: str = "data") -> DataProfile:
    """Return the profile of data already gathered into columns (see `profile_rows`)."""
    statistics = compute_statistics(columns, name=name)
    return DataProfile(statistics=statistics, schema=infer_schema(statistics))


def compute_statistics(columns: Columns, *, name: str = "data") -> Any:
    """Return a DatasetFeatureStatisticsList with one data set describing `columns`.

    Numbers: count, missing, mean, population standard deviation, zeros, min, median, max, a standard histogram
    and a quantiles histogram. Strings: count, missing, unique values, every value's frequency (most frequent
    first, ties by value), average length and a rank histogram.
    """
    dataset = statistics_pb2.DatasetFeatureStatistics(name=name, num_examples=columns.num_rows)
    for column in columns.columns.values():
        feature = dataset.features.add()
        feature.path.step.append(column.name)
        feature.type = _STATS_TYPES[column.kind]
        if column.kind is FeatureKind.STRING:
            _string_stats(column, feature.string_stats)
        else:
            _numeric_stats(column, feature.num_stats)
    return statistics_pb2.DatasetFeatureStatisticsList(datasets=[dataset])


def feature_name(feature: Any) -> str:
    """Return the name of a FeatureNameStatistics, whether it uses `name` or `path`."""
    return str(feature.name) if feature.name else ".".join(feature.path.step)


def _common(column: Column, common: Any) -> None:
    common.num_non_missing = column.present
    common.num_missing = column.missing
    if column.present:  # every feature here is a scalar: one value per example that has it
        common.min_num_values = common.max_num_values = 1
        common.avg_num_values = 1.0
        common.tot_num_values = column.present


def _numeric_stats(column: Column, stats: Any) -> None:
    _common(column, stats.common_stats)
    values = column.array()
    if not values.size:
        return
    stats.mean = float(values.mean())
    stats.std_dev = float(values.std())
    stats.num_zeros = int(np.count_nonzero(values == 0))
    stats.min = float(values.min())
    stats.median = float(np.median(values))
    stats.max = float(values.max())

    standard = stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    counts, edges = np.histogram(values, bins=NUM_HISTOGRAM_BUCKETS)
    for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True):
        standard.buckets.add(low_value=float(low), high_value=float(high), sample_count=float(count))

    # Equal-mass buckets between consecutive quantiles: the quantile function that drift compares.
    quantiles = stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    bounds = np.quantile(values, np.linspace(0.0, 1.0, NUM_QUANTILE_BUCKETS + 1))
    share = values.size / NUM_QUANTILE_BUCKETS
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        quantiles.buckets.add(low_value=float(low), high_value=float(high), sample_count=share)


def _string_stats(column: Column, stats: Any) -> None:
    _common(column, stats.common_stats)
    counts = Counter(column.strings)
    stats.unique = len(counts)
    if column.strings:
        stats.avg_length = sum(map(len, column.strings)) / len(column.strings)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_TOP_VALUES]
    for rank, (value, count) in enumerate(ranked):
        stats.top_values.add(value=value, frequency=float(count))
        stats.rank_histogram.buckets.add(low_rank=rank, high_rank=rank, label=value, sample_count=float(count))


TRAINING = "TRAINING"
SERVING = "SERVING"
"""The schema environments (tensorflow-metadata's, as TFDV uses them): what training data has, what serving gets."""


def mark_training_only(schema: Any, names: Iterable[str]) -> None:
    """Mark features (the label) as absent at serving, as TFDV does: ``not_in_environment: "SERVING"``.

    The schema gets the default environments TRAINING and SERVING; checks in the SERVING environment (the monitor's
    on logged traffic) then skip these features instead of calling them missing.
    """
    for environment in (TRAINING, SERVING):
        if environment not in schema.default_environment:
            schema.default_environment.append(environment)
    wanted = set(names)
    for feature in schema.feature:
        if feature.name in wanted and SERVING not in feature.not_in_environment:
            feature.not_in_environment.append(SERVING)


def in_environment(feature: Any, environment: str | None) -> bool:
    """Whether a schema feature is expected in `environment` (always, when no environment is given)."""
    if environment is None:
        return True
    if feature.in_environment:
        return environment in feature.in_environment
    return environment not in feature.not_in_environment


def infer_schema(statistics: Any) -> Any:
    """Infer a Schema from statistics: types, presence, and the domain seen.

    A feature present in every example gets ``presence.min_fraction = 1``; one with missing values gets the
    fraction seen (so more missing values than in this data are an anomaly). Numbers get the range seen
    (``float_domain``/``int_domain``); a string feature with at most `MAX_DOMAIN_VALUES` distinct values gets a
    ``string_domain`` of its values, named after the feature.
    """
    dataset = statistics.datasets[0]
    schema = schema_pb2.Schema()
    total = max(int(dataset.num_examples), 1)
    for stats in dataset.features:
        name = feature_name(stats)
        feature = schema.feature.add(name=name)
        kind = {v: k for k, v in _STATS_TYPES.items()}[stats.type]
        feature.type = _SCHEMA_TYPES[kind]
        common = stats.string_stats.common_stats if kind is FeatureKind.STRING else stats.num_stats.common_stats
        feature.presence.min_fraction = common.num_non_missing / total
        feature.presence.min_count = 1
        feature.value_count.min = feature.value_count.max = 1
        if kind is FeatureKind.STRING:
            values = [top.value for top in stats.string_stats.top_values]
            if 0 < stats.string_stats.unique <= MAX_DOMAIN_VALUES:
                schema.string_domain.add(name=name, value=sorted(values))
                feature.domain = name
        elif kind is FeatureKind.INT and common.num_non_missing:
            feature.int_domain.min = int(stats.num_stats.min)
            feature.int_domain.max = int(stats.num_stats.max)
        elif common.num_non_missing:
            feature.float_domain.min = stats.num_stats.min
            feature.float_domain.max = stats.num_stats.max
    return schema
