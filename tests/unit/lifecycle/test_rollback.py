"""Rollback: production holders, the candidates, the choice of target and the rollback change on a record."""

from __future__ import annotations

import pytest
from lifecycle_support import S, in_production, registered

from registry_core import HistoryAction, LifecycleError, VersionNotFoundError
from registry_core.lifecycle import rollback
from registry_core.store import ModelRecord


def _served(*labels: str) -> ModelRecord:
    """A record of v1..v4 in which `labels` were promoted to production, in that order."""
    record = registered("v1", "v2", "v3", "v4")
    for label in labels:
        record = in_production(record, label)
    return record


# ------------------------------------------------------------------------------------------- who held it


def test_production_holders_are_listed_in_the_order_they_last_entered_it() -> None:
    assert rollback.production_holders(_served("v1", "v2", "v1", "v3")) == ["v2", "v1", "v3"]


def test_a_version_rolled_back_from_is_no_holder_until_promoted_again() -> None:
    record = rollback.roll_back(_served("v1", "v2"), actor="ops")

    assert rollback.production_holders(record) == ["v1"]
    assert rollback.production_holders(in_production(record, "v2")) == ["v1", "v2"]


def test_the_candidates_are_the_earlier_holders_latest_first() -> None:
    assert rollback.candidates(_served("v1", "v2", "v3")) == ["v2", "v1"]


def test_a_model_that_never_served_has_no_candidates() -> None:
    assert rollback.candidates(registered("v1")) == []


# ------------------------------------------------------------------------------------------ the choice


def test_by_default_production_goes_back_to_the_previous_holder() -> None:
    assert rollback.choose(_served("v1", "v2", "v3")) == "v2"


def test_an_earlier_holder_can_be_chosen() -> None:
    assert rollback.choose(_served("v1", "v2", "v3"), "v1") == "v1"


def test_without_an_earlier_holder_there_is_nothing_to_roll_back_to() -> None:
    with pytest.raises(LifecycleError, match="churn has no earlier production version to roll back to"):
        rollback.choose(_served("v1"))


def test_a_version_that_never_served_cannot_be_rolled_back_to() -> None:
    with pytest.raises(LifecycleError, match="churn v4 has never been in production; promote it instead"):
        rollback.choose(_served("v1", "v2"), "v4")


def test_a_version_rolled_back_from_cannot_be_rolled_back_to() -> None:
    record = rollback.roll_back(_served("v1", "v2"), actor="ops")

    with pytest.raises(LifecycleError, match="churn v2 was rolled back from; promote it again"):
        rollback.choose(record, "v2")


def test_the_current_holder_cannot_be_rolled_back_to() -> None:
    with pytest.raises(LifecycleError, match="churn v2 is already in production"):
        rollback.choose(_served("v1", "v2"), "v2")


def test_an_unknown_version_cannot_be_rolled_back_to() -> None:
    with pytest.raises(VersionNotFoundError):
        rollback.choose(_served("v1", "v2"), "v9")


# ------------------------------------------------------------------------------------------- the change


def test_a_rollback_restores_the_previous_holder_and_archives_the_current_one_in_one_record() -> None:
    record = rollback.roll_back(_served("v1", "v2"), actor="ops", reason="latency")

    restored, retired = record.get("v1"), record.get("v2")
    assert [m.version for m in record.in_stage(S.PRODUCTION)] == ["v1"]
    assert retired.stage is S.ARCHIVED
    for version, stage in ((restored, S.PRODUCTION), (retired, S.ARCHIVED)):
        last = version.stage_history[-1]
        assert (last.to_stage, last.changed_by, last.reason, last.cause) == (stage, "ops", "latency", "rollback")
    entry = record.history[-1]
    assert (entry.action, entry.version, entry.from_stage, entry.to_stage, entry.actor) == (
        HistoryAction.ROLLED_BACK,
        "v1",
        S.ARCHIVED,
        S.PRODUCTION,
        "ops",
    )
    assert entry.details == {"from_version": "v2"}
    assert record.history[-2].action is HistoryAction.STAGE_CHANGED


def test_a_rollback_needs_no_new_approval() -> None:
    record = rollback.roll_back(_served("v1", "v2"), actor="ops")

    assert record.get("v1").stage_history[-1].approvals == ()
    assert [a.approver for a in record.get("v1").approvals] == ["bob"]


def test_a_rollback_without_a_reason_says_rollback() -> None:
    record = rollback.roll_back(_served("v1", "v2"), actor="ops")

    assert record.history[-1].reason == "rollback"


def test_a_rollback_to_a_chosen_version_restores_that_one() -> None:
    record = rollback.roll_back(_served("v1", "v2", "v3"), "v1", actor="ops")

    assert [m.version for m in record.in_stage(S.PRODUCTION)] == ["v1"]
    assert record.get("v2").stage is S.ARCHIVED
    assert record.history[-1].details == {"from_version": "v3"}
