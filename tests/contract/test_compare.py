"""Comparing versions: metrics side by side with the best of each marked.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from registry_support import (
    MODEL,
)

from registry_core import (
    InvalidInputError,
    ModelMetadata,
    ModelRegistry,
    VersionNotFoundError,
)


@pytest.fixture
def three_evaluated(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> ModelRegistry:
    register(metrics={"accuracy": 0.81, "loss": 0.40})
    register(metrics={"accuracy": 0.88, "loss": 0.45, "auc": 0.90})
    register(metrics={"accuracy": 0.85, "loss": 0.31})
    return registry


def test_compare_marks_the_highest_accuracy_and_the_lowest_loss_as_best(three_evaluated: ModelRegistry) -> None:
    comparison = three_evaluated.compare_models(MODEL, ["v1", "v2", "v3"])

    assert comparison.versions == ("v1", "v2", "v3")
    assert comparison.metrics["accuracy"] == {"v1": 0.81, "v2": 0.88, "v3": 0.85}
    assert comparison.best["accuracy"] == "v2"
    assert comparison.best["loss"] == "v3"


def test_compare_restricted_to_some_metrics_shows_only_those(three_evaluated: ModelRegistry) -> None:
    comparison = three_evaluated.compare_models(MODEL, ["1", "3"], metrics=["loss"])

    assert comparison.versions == ("v1", "v3")
    assert comparison.metrics == {"loss": {"v1": 0.40, "v3": 0.31}}
    assert comparison.best == {"loss": "v3"}


def test_compare_shows_none_where_a_version_lacks_a_metric(three_evaluated: ModelRegistry) -> None:
    comparison = three_evaluated.compare_models(MODEL, ["v1", "v2"])

    assert comparison.metrics["auc"] == {"v1": None, "v2": 0.90}
    assert comparison.best["auc"] == "v2"


@pytest.mark.parametrize("versions", [[], ["v1"], "v1"], ids=["none", "one", "a-string"])
def test_compare_with_fewer_than_two_versions_raises_invalid_input(
    three_evaluated: ModelRegistry, versions: Any
) -> None:
    with pytest.raises(InvalidInputError, match="at least two"):
        three_evaluated.compare_models(MODEL, versions)


def test_compare_with_an_unknown_version_raises_version_not_found(three_evaluated: ModelRegistry) -> None:
    with pytest.raises(VersionNotFoundError):
        three_evaluated.compare_models(MODEL, ["v1", "v9"])
