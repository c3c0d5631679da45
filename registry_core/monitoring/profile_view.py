"""A training-data profile as people read it: one JSON-ready row per feature, for get-model, the API and the UI.

Each row joins a feature's statistics (counts; for numbers min, mean, standard deviation, median, max and the
histogram; for strings the distinct values and the most frequent ones with their shares) with what the schema
allows (categories or range, and the share of examples that must have the feature).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from registry_core.monitoring.profile import DataProfile

TOP_VALUES = 5
"""Most frequent values a row lists for a string feature."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopValue(_Frozen):
    """One of the most frequent values of a string feature.

    Attributes:
        value: The value.
        count: Examples holding it.
        share: Its share of the examples that have the feature (0-1).
    """

    value: str
    count: int
    share: float


class Bucket(_Frozen):
    """One bucket of a numeric feature's histogram (equal widths between its min and max).

    Attributes:
        low: Lower edge.
        high: Upper edge.
        count: Values in the bucket.
    """

    low: float
    high: float
    count: int


class Domain(_Frozen):
    """What the schema allows a feature to hold: categories (strings) or a range (numbers).

    Attributes:
        values: Allowed categories, None for a feature without a list of them.
        min: Smallest allowed number, None without a lower bound.
        max: Largest allowed number, None without an upper bound.
    """

    values: list[str] | None = None
    min: float | None = None
    max: float | None = None


class FeatureProfile(_Frozen):
    """One feature of a profile.

    Attributes:
        feature: Feature name.
        type: "FLOAT", "INT" or "STRING".
        count: Examples that have a value.
        missing: Examples without one.
        min: Smallest value (numbers; None for strings or without values).
        mean: Mean (numbers).
        std: Population standard deviation (numbers).
        median: Median (numbers).
        max: Largest value (numbers).
        histogram: Equal-width buckets between min and max (numbers).
        unique: Distinct values (strings; None for numbers).
        top_values: The most frequent values, at most `TOP_VALUES` (strings).
        domain: What the schema allows, None if it says nothing.
        presence: Share of examples the schema requires to have the feature (1.0: every one), None if unknown.
    """

    feature: str
    type: str
    count: int
    missing: int
    min: float | None = None
    mean: float | None = None
    std: float | None = None
    median: float | None = None
    max: float | None = None
    histogram: list[Bucket] = Field(default_factory=list)
    unique: int | None = None
    top_values: list[TopValue] = Field(default_factory=list)
    domain: Domain | None = None
    presence: float | None = None


class ProfileSummary(_Frozen):
    """The profile in a line (`DataProfile.summary`).

    Attributes:
        num_examples: Examples the statistics were computed from.
        num_features: Features profiled.
        features: Each feature's type, in stored order.
    """

    num_examples: int
    num_features: int
    features: dict[str, str]


class ProfileView(_Frozen):
    """The profile of a version's training data, feature by feature.

    Attributes:
        model: Model name ("" when the profile is not a version's).
        version: Version label ("" likewise).
        summary: Examples, features and their types.
        features: One row per profiled feature, in stored order.
    """

    model: str = ""
    version: str = ""
    summary: ProfileSummary
    features: list[FeatureProfile]


def profile_view(profile: DataProfile, *, model: str = "", version: str = "") -> ProfileView:
    """Return `profile` as rows, one per feature its statistics describe, with the schema's domain and presence.

    Numbers that are not finite (a profile written by another tool may hold NaN) become None, so the rows are valid
    JSON. Features only the schema names have no row: nothing was measured of them.

    Args:
        profile: Statistics and schema, e.g. from `ModelRegistry.get_data_profile`.
        model: Model name to carry along.
        version: Version label to carry along.

    Returns:
        The view.
    """
    from registry_core.monitoring.profile import feature_name

    schema = {feature.name: feature for feature in profile.schema.feature}
    named_domains = {domain.name: list(domain.value) for domain in profile.schema.string_domain}
    kinds = profile.feature_kinds()
    rows = []
    for stats in profile.dataset.features:
        name = feature_name(stats)
        kind = kinds[name]
        row: dict[str, Any] = {"feature": name, "type": kind}
        row |= _string_fields(stats.string_stats) if kind == "STRING" else _numeric_fields(stats.num_stats)
        if name in schema:
            row["domain"] = _domain(schema[name], named_domains)
            presence = schema[name].presence
            row["presence"] = _finite(presence.min_fraction) if presence.HasField("min_fraction") else None
        rows.append(FeatureProfile.model_validate(row))
    return ProfileView(
        model=model, version=version, summary=ProfileSummary.model_validate(profile.summary()), features=rows
    )


def _numeric_fields(stats: Any) -> dict[str, Any]:
    common = stats.common_stats
    fields: dict[str, Any] = {"count": int(common.num_non_missing), "missing": int(common.num_missing)}
    if not common.num_non_missing:  # the proto's zeros would read as values
        return fields
    named = {"min": "min", "mean": "mean", "std": "std_dev", "median": "median", "max": "max"}
    fields |= {key: _finite(getattr(stats, attr)) for key, attr in named.items()}
    standard = next((h for h in stats.histograms if h.type == h.STANDARD), None)
    if standard is not None:
        fields["histogram"] = [
            {"low": low, "high": high, "count": round(bucket.sample_count)}
            for bucket in standard.buckets
            if (low := _finite(bucket.low_value)) is not None and (high := _finite(bucket.high_value)) is not None
        ]
    return fields


def _string_fields(stats: Any) -> dict[str, Any]:
    present = int(stats.common_stats.num_non_missing)
    ranked = sorted(stats.top_values, key=lambda top: (-top.frequency, top.value))[:TOP_VALUES]
    return {
        "count": present,
        "missing": int(stats.common_stats.num_missing),
        "unique": int(stats.unique),
        "top_values": [
            {"value": top.value, "count": round(top.frequency), "share": top.frequency / present if present else 0.0}
            for top in ranked
        ],
    }


def _domain(feature: Any, named: dict[str, list[str]]) -> Domain | None:
    """Return what the schema allows `feature` (an inline or a named string domain, an int or a float range)."""
    if feature.HasField("string_domain"):
        return Domain(values=list(feature.string_domain.value))
    if feature.HasField("domain") and feature.domain in named:
        return Domain(values=named[feature.domain])
    if feature.HasField("int_domain"):
        bounds = feature.int_domain
        return Domain(min=bounds.min if bounds.HasField("min") else None,
                      max=bounds.max if bounds.HasField("max") else None)  # fmt: skip
    if feature.HasField("float_domain"):
        bounds = feature.float_domain
        return Domain(min=_float32(bounds.min) if bounds.HasField("min") else None,
                      max=_float32(bounds.max) if bounds.HasField("max") else None)  # fmt: skip
    return None


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _float32(value: float) -> float | None:
    """Return a float32 bound as its shortest decimal (the schema keeps 140.1 as 140.10000610351562)."""
    import numpy as np

    return _finite(float(str(np.float32(value))))
