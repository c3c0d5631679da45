"""Changes of a record outside the promotion workflow: moves, labels, registration, notes, validation, attribution."""

from __future__ import annotations

import pytest
from lifecycle_support import T0, S, empty_record, metadata, registered

from registry_core import (
    HistoryAction,
    InvalidInputError,
    InvalidVersionError,
    ModelNotFoundError,
    ModelPerformance,
    VersionConflictError,
    VersioningStrategy,
)
from registry_core.bounds import MAX_ENTRIES
from registry_core.lifecycle import changes
from registry_core.quality import ValidationDecision

PASSED = ValidationDecision(
    passed=True, reason="passed: accuracy 0.9500", metrics={"accuracy": 0.95}, champion_version="v1"
)
FAILED = ValidationDecision(passed=False, reason="failed: accuracy 0.5000 < 0.9000", metrics={"accuracy": 0.5})


def test_a_change_of_a_model_without_a_document_says_it_is_not_registered() -> None:
    with pytest.raises(ModelNotFoundError, match="'churn' is not registered"):
        changes.registered(None, "churn")


def test_a_change_of_a_registered_model_gets_its_record() -> None:
    record = registered("v1")

    assert changes.registered(record, "churn") is record


# ---------------------------------------------------------------------------------------------------- moves


def test_a_move_returns_the_moved_version_and_its_history_entry() -> None:
    moved, entry = changes.move(metadata(), S.VALIDATION, "bob", T0, "checked", approvals=("carol",), cause="validate")

    assert moved.stage is S.VALIDATION
    (change,) = moved.stage_history
    assert (change.from_stage, change.to_stage, change.changed_by, change.changed_at) == (
        S.DEVELOPMENT,
        S.VALIDATION,
        "bob",
        T0,
    )
    assert (change.approvals, change.cause, change.reason) == (("carol",), "validate", "checked")
    assert (entry.action, entry.from_stage, entry.to_stage, entry.actor) == (
        HistoryAction.STAGE_CHANGED,
        S.DEVELOPMENT,
        S.VALIDATION,
        "bob",
    )
    assert entry.details == {"approved_by": "carol"}


# ------------------------------------------------------------------------------------------- registration


def test_the_first_label_is_v1_then_the_next_one() -> None:
    assert changes.choose_label(empty_record(), None) == "v1"
    assert changes.choose_label(registered("v1", "v2"), None) == "v3"


def test_semantic_labels_follow_the_bump() -> None:
    record = changes.register(empty_record(VersioningStrategy.SEMANTIC), metadata("v1.2.3"))

    assert [changes.choose_label(record, None, bump) for bump in ("major", "minor", "patch")] == [
        "v2.0.0",
        "v1.3.0",
        "v1.2.4",
    ]


def test_a_requested_label_is_normalized_when_it_is_free() -> None:
    assert changes.choose_label(registered("v1"), "7") == "v7"


def test_a_requested_label_that_is_taken_is_refused() -> None:
    with pytest.raises(VersionConflictError, match="already has version v1"):
        changes.choose_label(registered("v1"), "v1")


def test_a_requested_label_of_the_other_strategy_is_refused() -> None:
    with pytest.raises(InvalidVersionError):
        changes.choose_label(registered("v1"), "v1.0.0")


def test_registering_adds_the_version_in_development_with_its_entry() -> None:
    record = changes.register(empty_record(), metadata("v1", registered_by="dana"))

    assert [(m.version, m.stage) for m in record.versions] == [("v1", S.DEVELOPMENT)]
    (entry,) = record.history
    assert (entry.action, entry.actor, entry.version, entry.to_stage) == (
        HistoryAction.REGISTERED,
        "dana",
        "v1",
        S.DEVELOPMENT,
    )


def test_registering_a_label_twice_is_refused() -> None:
    with pytest.raises(VersionConflictError):
        changes.register(registered("v1"), metadata("v1"))


# -------------------------------------------------------------------------------------------------- notes


def test_notes_merge_into_the_annotations_with_an_entry() -> None:
    record = changes.annotate(registered("v1"), "v1", {"a": "1"}, actor="bob")
    record = changes.annotate(record, "v1", {"a": "2", "b": "3"}, actor="bob")

    assert record.get("v1").annotations == {"a": "2", "b": "3"}
    assert [(e.action, e.details) for e in record.history[-2:]] == [
        (HistoryAction.ANNOTATED, {"a": "1"}),
        (HistoryAction.ANNOTATED, {"a": "2", "b": "3"}),
    ]


def test_metrics_given_with_notes_merge_into_the_metrics() -> None:
    record = changes.register(empty_record(), metadata(metrics=ModelPerformance(accuracy=0.9, loss=0.3)))

    record = changes.annotate(record, "v1", {}, actor="bob", metrics=ModelPerformance(loss=0.2, extra={"mrr": 0.5}))

    assert record.get("v1").metrics.as_dict() == {"accuracy": 0.9, "loss": 0.2, "mrr": 0.5}


def test_notes_beyond_the_bound_are_refused() -> None:
    record = changes.annotate(registered("v1"), "v1", {str(i): "x" for i in range(MAX_ENTRIES)}, actor="bob")

    with pytest.raises(InvalidInputError, match="annotations of churn v1"):
        changes.annotate(record, "v1", {"one more": "x"}, actor="bob")


# --------------------------------------------------------------------------------------------- validation


def test_a_passed_validation_moves_a_development_version_to_validation() -> None:
    record = changes.record_validation(registered("v1"), "v1", PASSED, actor="ci")

    version = record.get("v1")
    assert version.stage is S.VALIDATION
    assert version.stage_history[-1].cause == "validate"
    assert version.metrics.as_dict() == {"holdout_accuracy": 0.95}
    assert version.annotations == {
        changes.VALIDATION_STATUS: "passed",
        changes.VALIDATION_REASON: "passed: accuracy 0.9500",
        changes.VALIDATION_CHAMPION: "v1",
    }
    assert [e.action for e in record.history[-2:]] == [HistoryAction.ANNOTATED, HistoryAction.STAGE_CHANGED]
    assert changes.failed_validation(version) is None


def test_a_failed_validation_marks_the_version_with_why() -> None:
    record = changes.record_validation(registered("v1"), "v1", FAILED, actor="ci")

    version = record.get("v1")
    assert version.annotations[changes.VALIDATION_STATUS] == "failed"
    assert changes.failed_validation(version) == "failed: accuracy 0.5000 < 0.9000"


def test_a_validation_of_a_version_past_development_leaves_its_stage() -> None:
    record = changes.record_validation(registered("v1"), "v1", PASSED, actor="ci")

    record = changes.record_validation(record, "v1", FAILED, actor="ci")

    assert record.get("v1").stage is S.VALIDATION
    assert record.history[-1].action is HistoryAction.ANNOTATED


def test_a_version_never_validated_has_no_failure() -> None:
    assert changes.failed_validation(metadata()) is None


# ------------------------------------------------------------------------------------------------ attribution


def test_new_entries_written_for_someone_else_are_marked_with_the_principal() -> None:
    before = registered("v1")
    after = changes.annotate(changes.annotate(before, "v1", {}, actor="pipeline"), "v1", {}, actor="sa@x.iam")

    marked = changes.on_behalf(after, len(before.history), "sa@x.iam")

    assert marked.history[: len(before.history)] == before.history
    assert [(e.actor, e.principal) for e in marked.history[len(before.history) :]] == [
        ("pipeline", "sa@x.iam"),
        ("sa@x.iam", ""),
    ]


def test_without_a_principal_nothing_is_marked() -> None:
    record = registered("v1")

    assert changes.on_behalf(record, 0, None) is record
