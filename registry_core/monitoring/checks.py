"""Data against a Schema: typed anomalies (missing features, unknown categories, out-of-range values, ...)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

from registry_core.monitoring.columns import Column, Columns
from registry_core.monitoring.profile import in_environment
from registry_core.text import one_line

_EXPECTED_KINDS = {schema_pb2.FLOAT: "FLOAT", schema_pb2.INT: "INT", schema_pb2.BYTES: "STRING"}
_MAX_VALUE_LENGTH = 80  # characters of an offending value kept in a description
_MAX_SHOWN_VALUES = 10


class AnomalyKind(StrEnum):
    """What is wrong with a feature."""

    MISSING_FEATURE = "missing_feature"
    """The schema's feature is absent from every row."""
    UNKNOWN_CATEGORY = "unknown_category"
    """Values outside the feature's string domain."""
    OUT_OF_RANGE = "out_of_range"
    """Numbers outside the feature's int/float domain."""
    MISSING_VALUES = "missing_values"
    """More rows without the feature than the schema's presence allows."""
    WRONG_TYPE = "wrong_type"
    """Values of another type than the schema's (strings for a number, fractions for an integer)."""


@dataclass(frozen=True)
class Anomaly:
    """One problem of one feature.

    Attributes:
        feature: Feature name.
        kind: What is wrong.
        description: One readable sentence.
        fraction: Share of the rows concerned (1.0 for a missing feature).
        values: Offending values, most frequent first (at most 10), for unknown categories and wrong types.
    """

    feature: str
    kind: AnomalyKind
    description: str
    fraction: float
    values: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the anomaly as JSON-ready data."""
        return {
            "feature": self.feature,
            "kind": self.kind.value,
            "description": self.description,
            "fraction": self.fraction,
            "values": list(self.values),
        }


@dataclass(frozen=True)
class CheckThresholds:
    """How many offending rows a check lets through before it reports an anomaly.

    New data drawn from the training distribution has a few values beyond the training extremes (about 2 in
    n + 1 new values fall outside the range of n training values: 0.4% of a window for 500 training rows, which
    chance pushes past 1% now and then), so ranges let 5% through and catch gross errors (a unit changed, a
    sensor stuck); drift catches shifts. A category never seen in training is an anomaly from the first row.

    Attributes:
        max_out_of_range_fraction: Share of rows allowed outside a numeric domain.
        max_unknown_category_fraction: Share of rows allowed outside a string domain.
        missing_tolerance: Share of rows by which presence may fall below the schema's ``min_fraction``.
        per_feature: Feature name to its own values of the thresholds above, e.g.
            ``{"budget_usd": {"max_out_of_range_fraction": 0.05}}``.
    """

    max_out_of_range_fraction: float = 0.05
    max_unknown_category_fraction: float = 0.0
    missing_tolerance: float = 0.0
    per_feature: dict[str, dict[str, float]] = field(default_factory=dict)

    def limit(self, feature: str, name: str) -> float:
        """Return threshold `name` for `feature` (its own value if given, else the default)."""
        return float(self.per_feature.get(feature, {}).get(name, getattr(self, name)))


def check_columns(
    columns: Columns, schema: Any, thresholds: CheckThresholds | None = None, *, environment: str | None = None
) -> list[Anomaly]:
    """Check data against `schema` and return its anomalies, in schema order.

    Features the schema does not name are not checked (a schema says what the model needs, not all there is), nor
    those it says are not in `environment` (e.g. the label, at SERVING).

    Args:
        columns: The data (see `columns.collect_columns`).
        schema: A tensorflow-metadata Schema.
        thresholds: Allowed shares of offending rows; default `CheckThresholds()`.
        environment: The schema environment the data comes from ("TRAINING", "SERVING"); None checks every feature.

    Returns:
        The anomalies; empty when the data conforms.
    """
    thresholds = thresholds or CheckThresholds()
    domains = {domain.name: tuple(domain.value) for domain in schema.string_domain}
    rows = max(columns.num_rows, 1)
    anomalies: list[Anomaly] = []
    for feature in schema.feature:
        if not in_environment(feature, environment):
            continue
        column = columns.columns.get(feature.name)
        if column is None or not column.present:
            if feature.presence.min_fraction > 0 or feature.presence.min_count > 0:
                anomalies.append(
                    Anomaly(feature.name, AnomalyKind.MISSING_FEATURE, f"{feature.name} is missing from the data", 1.0)
                )
            continue
        anomalies += _check_presence(feature, column, rows, thresholds)
        expected = _EXPECTED_KINDS.get(feature.type, "STRING")
        wrong = _wrong_type(column, expected)
        if wrong:
            share = len(wrong) / rows
            shown = _most_common(wrong)
            text = f"{feature.name} should hold {expected} values; {share:.1%} of rows hold others, e.g. {shown[0]}"
            anomalies.append(Anomaly(feature.name, AnomalyKind.WRONG_TYPE, text, share, shown))
        if expected == "STRING":
            domain = domains.get(feature.domain) if feature.HasField("domain") else None
            if feature.HasField("string_domain"):
                domain = tuple(feature.string_domain.value)
            if domain is not None:
                anomalies += _check_categories(feature.name, column, set(domain), rows, thresholds)
        else:
            anomalies += _check_range(feature, column, rows, thresholds)
    return anomalies


def _check_presence(feature: Any, column: Column, rows: int, thresholds: CheckThresholds) -> list[Anomaly]:
    presence = column.present / rows
    allowed = feature.presence.min_fraction - thresholds.limit(feature.name, "missing_tolerance")
    if presence >= allowed - 1e-12:
        return []
    text = (
        f"{feature.name} is missing in {1 - presence:.1%} of rows; the schema allows "
        f"{max(0.0, 1 - feature.presence.min_fraction):.1%}"
    )
    return [Anomaly(feature.name, AnomalyKind.MISSING_VALUES, text, 1 - presence)]


def _wrong_type(column: Column, expected: str) -> list[str]:
    if expected == "STRING":
        return [_number_text(n) for n in column.numbers]
    wrong = list(column.strings)
    if expected == "INT":
        wrong += [_number_text(n) for n in column.numbers if not float(n).is_integer()]
    return wrong


def _check_categories(
    name: str, column: Column, domain: set[str], rows: int, thresholds: CheckThresholds
) -> list[Anomaly]:
    unknown = [value for value in column.strings if value not in domain]
    share = len(unknown) / rows
    if not unknown or share <= thresholds.limit(name, "max_unknown_category_fraction"):
        return []
    shown = _most_common(unknown)
    text = f"{name} has values outside its domain in {share:.1%} of rows: {', '.join(shown)}"
    return [Anomaly(name, AnomalyKind.UNKNOWN_CATEGORY, text, share, shown)]


def _check_range(feature: Any, column: Column, rows: int, thresholds: CheckThresholds) -> list[Anomaly]:
    if feature.HasField("float_domain"):
        domain = feature.float_domain
        # the schema keeps float32 bounds: compare float32 values, or the training maximum itself would fall outside
        values = column.array().astype(np.float32)
        low = np.float32(domain.min) if domain.HasField("min") else -np.inf
        high = np.float32(domain.max) if domain.HasField("max") else np.inf
    elif feature.HasField("int_domain"):
        domain = feature.int_domain
        values = column.array()
        low = float(domain.min) if domain.HasField("min") else -np.inf
        high = float(domain.max) if domain.HasField("max") else np.inf
    else:
        return []
    outside = int(np.count_nonzero((values < low) | (values > high)))
    share = outside / rows
    if not outside or share <= thresholds.limit(feature.name, "max_out_of_range_fraction"):
        return []
    text = f"{feature.name} is outside [{_number_text(low)}, {_number_text(high)}] in {share:.1%} of rows"
    return [Anomaly(feature.name, AnomalyKind.OUT_OF_RANGE, text, share)]


def _most_common(values: list[str]) -> tuple[str, ...]:
    """The most frequent values, each cut to a readable length: whoever sends data chooses them."""
    return tuple(_cut(value) for value, _ in Counter(values).most_common(_MAX_SHOWN_VALUES))


def _cut(value: str) -> str:
    text = one_line(value)
    return text if len(text) <= _MAX_VALUE_LENGTH else f"{text[: _MAX_VALUE_LENGTH - 1]}…"


def _number_text(number: float | np.floating[Any]) -> str:
    return f"{float(number):.6g}"
