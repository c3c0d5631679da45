"""Lifecycle policy: stage names, the transition table, and the approval rules (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry_core import (
    ALLOWED_TRANSITIONS,
    Approval,
    ApprovalError,
    ApprovalRequiredError,
    InvalidStageError,
    InvalidTransitionError,
    ModelMetadata,
    ModelStage,
)
from registry_core.lifecycle import (
    allowed_targets,
    check_approver,
    check_transition,
    require_approval,
    valid_approvals,
)

S = ModelStage
_PAIRS = [(a, b) for a in ModelStage for b in ModelStage]
_ALLOWED = [(a, b) for a, b in _PAIRS if b in ALLOWED_TRANSITIONS[a]]
_REFUSED = [(a, b) for a, b in _PAIRS if b not in ALLOWED_TRANSITIONS[a]]
DIGEST = "sha256:" + "a" * 64
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _metadata(*approvals: Approval, registered_by: str = "alice") -> ModelMetadata:
    return ModelMetadata(
        model_id="id-1",
        model_name="churn",
        version="v3",
        artifact_uri="file:///registry/artifacts/churn/x",
        artifact_digest=DIGEST,
        registered_by=registered_by,
        registered_at=T0,
        approvals=approvals,
    )


def _approval(approver: str = "bob", stage: ModelStage = S.PRODUCTION, digest: str = DIGEST) -> Approval:
    return Approval(stage=stage, approver=approver, approved_at=T0 + timedelta(hours=1), artifact_digest=digest)


def _id(pair: tuple[ModelStage, ModelStage]) -> str:
    return f"{pair[0].value}-to-{pair[1].value}"


# ------------------------------------------------------------------------------------------------- ModelStage


@pytest.mark.parametrize("text", ["production", "Production", "PRODUCTION", "  production\n", S.PRODUCTION])
def test_a_stage_is_parsed_case_insensitively(text: str) -> None:
    assert ModelStage.parse(text) is S.PRODUCTION


@pytest.mark.parametrize("text", ["prod", "", "live", "None"])
def test_an_unknown_stage_raises_invalid_stage_naming_every_stage(text: str) -> None:
    with pytest.raises(InvalidStageError) as caught:
        ModelStage.parse(text)

    assert all(stage.value in str(caught.value) for stage in ModelStage)


def test_stages_are_listed_in_lifecycle_order() -> None:
    assert [s.value for s in ModelStage] == ["development", "validation", "staging", "production", "archived"]


# ------------------------------------------------------------------------------------------ transition table


def test_the_transition_table_covers_every_stage() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(ModelStage)


def test_production_is_reachable_only_from_staging() -> None:
    assert [a for a, b in _ALLOWED if b is S.PRODUCTION] == [S.STAGING]


def test_every_stage_but_archived_can_be_archived() -> None:
    assert {a for a, b in _ALLOWED if b is S.ARCHIVED} == set(ModelStage) - {S.ARCHIVED}


def test_an_archived_version_can_only_go_back_to_development() -> None:
    assert allowed_targets(S.ARCHIVED) == [S.DEVELOPMENT]


def test_allowed_targets_are_listed_in_lifecycle_order() -> None:
    assert allowed_targets(S.STAGING) == [S.DEVELOPMENT, S.VALIDATION, S.PRODUCTION, S.ARCHIVED]


@pytest.mark.parametrize(("start", "target"), _ALLOWED, ids=map(_id, _ALLOWED))
def test_check_transition_accepts_every_allowed_move(start: ModelStage, target: ModelStage) -> None:
    check_transition("v3", start, target)


@pytest.mark.parametrize(("start", "target"), _REFUSED, ids=map(_id, _REFUSED))
def test_check_transition_refuses_every_other_move_naming_the_allowed_stages(
    start: ModelStage, target: ModelStage
) -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        check_transition("v3", start, target)

    message = str(caught.value)
    assert "v3" in message
    assert ", ".join(s.value for s in allowed_targets(start)) in message


def test_a_refused_move_names_both_stages() -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        check_transition("v3", S.DEVELOPMENT, S.PRODUCTION)

    assert str(caught.value) == "cannot move version v3 from development to production; allowed: validation, archived"


def test_a_move_to_the_current_stage_says_the_version_is_already_there() -> None:
    with pytest.raises(InvalidTransitionError, match="already in staging"):
        check_transition("v3", S.STAGING, S.STAGING)


# -------------------------------------------------------------------------------------------- approval rules


def test_check_approver_refuses_the_registrant_case_insensitively() -> None:
    with pytest.raises(ApprovalError, match="four-eyes"):
        check_approver(_metadata(), " Alice ", four_eyes=True)


def test_check_approver_accepts_the_registrant_when_four_eyes_is_off() -> None:
    check_approver(_metadata(), "alice", four_eyes=False)


def test_check_approver_accepts_someone_else() -> None:
    check_approver(_metadata(), "bob", four_eyes=True)


@pytest.mark.parametrize("approver", ["", "   "])
def test_check_approver_refuses_an_empty_approver(approver: str) -> None:
    with pytest.raises(ApprovalError, match="identity"):
        check_approver(_metadata(), approver, four_eyes=False)


def test_valid_approvals_keep_only_the_same_stage_and_digest_by_an_eligible_approver() -> None:
    good = _approval("bob")
    metadata = _metadata(
        good,
        _approval("carol", stage=S.STAGING),
        _approval("dave", digest="sha256:" + "b" * 64),
        _approval("ALICE"),
    )

    assert valid_approvals(metadata, S.PRODUCTION, four_eyes=True) == [good]


def test_valid_approvals_count_the_registrants_own_approval_when_four_eyes_is_off() -> None:
    own = _approval("alice")

    assert valid_approvals(_metadata(own), S.PRODUCTION, four_eyes=False) == [own]


def test_valid_approvals_include_extra_approvals_given_inline() -> None:
    inline = _approval("bob")

    assert valid_approvals(_metadata(), S.PRODUCTION, four_eyes=True, extra=[inline]) == [inline]


def test_require_approval_refuses_without_approvals_and_says_how_to_get_one() -> None:
    with pytest.raises(ApprovalRequiredError, match="someone other than alice"):
        require_approval(_metadata(), S.PRODUCTION, [])


def test_require_approval_accepts_a_valid_approval() -> None:
    require_approval(_metadata(), S.PRODUCTION, [_approval()])
