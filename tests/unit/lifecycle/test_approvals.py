"""Approval rules: four-eyes, which approvals count and which are used up, pending requests, who may decide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lifecycle_support import OTHER_DIGEST, POLICY, T0, S, approval, in_production, metadata, registered

from registry_core import ApprovalError, ApprovalRequiredError
from registry_core.lifecycle import promotion
from registry_core.lifecycle.approvals import (
    check_approver,
    may_decide,
    pending_request,
    require_approval,
    unused_approvals,
    valid_approvals,
)
from registry_core.metadata import PromotionRequest

# ---------------------------------------------------------------------------------------------------- four-eyes


def test_check_approver_refuses_the_registrant_case_insensitively() -> None:
    with pytest.raises(ApprovalError, match="four-eyes"):
        check_approver(metadata(), " Alice ", four_eyes=True)


def test_check_approver_accepts_the_registrant_when_four_eyes_is_off() -> None:
    check_approver(metadata(), "alice", four_eyes=False)


def test_check_approver_accepts_someone_else() -> None:
    check_approver(metadata(), "bob", four_eyes=True)


@pytest.mark.parametrize("approver", ["", "   "])
def test_check_approver_refuses_an_empty_approver(approver: str) -> None:
    with pytest.raises(ApprovalError, match="identity"):
        check_approver(metadata(), approver, four_eyes=False)


def test_valid_approvals_keep_only_the_same_stage_and_digest_by_an_eligible_approver() -> None:
    good = approval("bob")
    version = metadata(
        approvals=(good, approval("carol", stage=S.STAGING), approval("dave", digest=OTHER_DIGEST), approval("ALICE"))
    )

    assert valid_approvals(version, S.PRODUCTION, four_eyes=True) == [good]


def test_valid_approvals_count_the_registrants_own_approval_when_four_eyes_is_off() -> None:
    own = approval("alice")

    assert valid_approvals(metadata(approvals=(own,)), S.PRODUCTION, four_eyes=False) == [own]


def test_valid_approvals_include_extra_approvals_given_inline() -> None:
    inline = approval("bob")

    assert valid_approvals(metadata(), S.PRODUCTION, four_eyes=True, extra=[inline]) == [inline]


def test_require_approval_refuses_without_approvals_and_says_how_to_get_one() -> None:
    with pytest.raises(ApprovalRequiredError, match="someone other than alice"):
        require_approval(metadata(), S.PRODUCTION, [])


def test_require_approval_accepts_a_valid_approval() -> None:
    require_approval(metadata(), S.PRODUCTION, [approval()])


# ------------------------------------------------------------------------------------------- used approvals


def test_an_approval_given_before_the_version_last_entered_the_stage_is_used_up() -> None:
    record = in_production(registered("v1"), "v1")
    record = promotion.promote(record, "v1", S.STAGING, actor="alice", reason="", policy=POLICY)
    again = record.get("v1")

    assert valid_approvals(again, S.PRODUCTION, four_eyes=True) != []
    assert unused_approvals(again, S.PRODUCTION, four_eyes=True) == []


def test_an_approval_for_a_stage_never_entered_is_unused() -> None:
    given = approval("bob")

    assert unused_approvals(metadata(approvals=(given,)), S.PRODUCTION, four_eyes=True) == [given]


# ----------------------------------------------------------------------------------------- pending requests


def _request(stage: S, status: str = "pending", ident: str = "r1") -> PromotionRequest:
    return PromotionRequest(
        id=ident, stage=stage, from_stage=S.STAGING, requested_by="carol", requested_at=T0 + timedelta(minutes=1),
        status=status,
    )  # fmt: skip


def test_the_pending_request_for_a_stage_is_found() -> None:
    pending = _request(S.PRODUCTION, ident="r2")
    version = metadata(promotion_requests=(_request(S.PRODUCTION, "rejected"), pending, _request(S.VALIDATION)))

    assert pending_request(version, S.PRODUCTION) == pending


def test_a_decided_request_is_not_pending() -> None:
    version = metadata(promotion_requests=(_request(S.PRODUCTION, "promoted"),))

    assert pending_request(version, S.PRODUCTION) is None


# ------------------------------------------------------------------------------------------- who may decide


def test_without_a_list_of_approvers_everyone_signed_in_may_decide() -> None:
    assert may_decide([], "anyone")


def test_only_listed_approvers_may_decide_compared_case_insensitively() -> None:
    approvers = ["Bob@example.com ", "carol"]

    assert may_decide(approvers, " bob@EXAMPLE.com")
    assert may_decide(approvers, "carol")
    assert not may_decide(approvers, "dave")


def test_nobody_may_decide_without_an_identity() -> None:
    assert not may_decide([], None)
    assert not may_decide(["bob"], None)
