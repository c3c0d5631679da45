"""The model quality gate: thresholds on holdout metrics, and the challenger against the production champion."""

from __future__ import annotations

import pytest

from registry_core.quality import ValidationPolicy, decide


def test_a_version_meeting_every_threshold_passes_and_says_what_it_checked() -> None:
    decision = decide(ValidationPolicy(thresholds={"accuracy": 0.8, "loss": 0.5}), {"accuracy": 0.9, "loss": 0.3})
    assert decision.passed
    assert decision.reason == "passed: accuracy 0.9000, loss 0.3000; no champion in production"


def test_a_minimum_is_a_floor_and_a_lower_is_better_metric_gets_a_ceiling() -> None:
    decision = decide(ValidationPolicy(thresholds={"accuracy": 0.8, "loss": 0.5}), {"accuracy": 0.7, "loss": 0.6})
    assert not decision.passed
    assert decision.reason == "failed: accuracy 0.7000 < 0.8000; loss 0.6000 > 0.5000"


def test_a_missing_metric_fails_its_threshold() -> None:
    decision = decide(ValidationPolicy(thresholds={"auc": 0.5}), {"accuracy": 0.9})
    assert (decision.passed, decision.reason) == (False, "failed: auc is missing")


@pytest.mark.parametrize(
    ("challenger", "allowed", "passed"),
    [(0.90, 0.0, True), (0.89, 0.0, False), (0.89, 0.02, True), (0.87, 0.02, False)],
)
def test_the_challenger_may_fall_behind_the_champion_by_at_most_max_regression(
    challenger: float, allowed: float, passed: bool
) -> None:
    policy = ValidationPolicy(primary_metric="accuracy", max_regression=allowed)
    decision = decide(policy, {"accuracy": challenger}, "v3", {"accuracy": 0.90})
    assert decision.passed is passed
    assert "vs champion v3 0.9000" in decision.reason
    assert decision.champion_version == "v3"


def test_for_a_lower_is_better_primary_metric_a_higher_value_is_the_regression() -> None:
    policy = ValidationPolicy(primary_metric="loss")
    assert decide(policy, {"loss": 0.2}, "v1", {"loss": 0.3}).passed
    assert not decide(policy, {"loss": 0.4}, "v1", {"loss": 0.3}).passed


def test_without_the_primary_metric_on_either_side_there_is_no_comparison() -> None:
    decision = decide(ValidationPolicy(primary_metric="f1"), {"accuracy": 0.5}, "v1", {"accuracy": 0.9})
    assert decision.passed
    assert "champion" not in decision.reason.replace("no champion in production", "")


def test_a_negative_max_regression_is_refused() -> None:
    with pytest.raises(ValueError, match="max_regression"):
        ValidationPolicy(max_regression=-0.1)
