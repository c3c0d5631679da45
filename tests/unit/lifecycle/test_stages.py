"""Stages: names, the transition table and the check of a stage change."""

from __future__ import annotations

import pytest

from registry_core import ALLOWED_TRANSITIONS, InvalidStageError, InvalidTransitionError, ModelStage
from registry_core.lifecycle.stages import allowed_targets, check_transition, is_allowed

S = ModelStage
_PAIRS = [(a, b) for a in ModelStage for b in ModelStage]
_ALLOWED = [(a, b) for a, b in _PAIRS if b in ALLOWED_TRANSITIONS[a]]
_REFUSED = [(a, b) for a, b in _PAIRS if b not in ALLOWED_TRANSITIONS[a]]


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


@pytest.mark.parametrize(("start", "target"), _PAIRS, ids=map(_id, _PAIRS))
def test_is_allowed_answers_from_the_table(start: ModelStage, target: ModelStage) -> None:
    assert is_allowed(start, target) is (target in ALLOWED_TRANSITIONS[start])
