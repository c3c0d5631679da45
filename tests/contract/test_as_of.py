"""`ModelRegistry.as_of`: what held production and staging, and what each endpoint served, at any moment.

The model's history is long enough to be sealed into several segments. At every step the test notes what the registry
said right then (the production and staging versions, the endpoint's split); afterwards `as_of` must say the same for
that moment, for the moment just before the step, exactly at an entry's time and before the first entry, on both
backends. That it reads only the segment covering the moment is shown by damaging another segment (and counted, on
GCS, in test_gcs_request_budget.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from registry_support import MODEL, OPERATOR, drive
from support.recording_target import RecordingTarget

from registry_core import (
    CorruptRecordError,
    InvalidInputError,
    ModelNotFoundError,
    ModelRegistry,
    ModelStage,
)
from registry_core.layout import history_folder, segment_of
from registry_core.model_store import SEAL_SIZE

ENDPOINT = "shop"
SEGMENTS = 3  # sealed segments the history reaches at least
TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Seen:
    """What the registry said right after one step, and when the step began and ended."""

    step: str
    began: datetime
    ended: datetime
    stages: dict[ModelStage, list[str]]
    endpoints: dict[str, dict[str, int]]


def _now_state(registry: ModelRegistry) -> tuple[dict[ModelStage, list[str]], dict[str, dict[str, int]]]:
    """The production and staging versions and the endpoint's split as the registry says them now."""
    stages = {
        stage: labels
        for stage in (ModelStage.PRODUCTION, ModelStage.STAGING)
        if (labels := [row.version for row in registry.list_versions(MODEL) if row.stage is stage])
    }
    endpoints = {}
    for record in registry.list_endpoints():
        versions = {d.id: d.version for d in record.deployments if d.model_name == MODEL}
        split = {versions[i]: share for i, share in record.traffic.items() if share and i in versions}
        if split:
            endpoints[record.name] = split
    return stages, endpoints


def _last_event(registry: ModelRegistry) -> datetime:
    times = [registry.history(MODEL)[-1].at]
    times += [record.history[-1].at for record in registry.list_endpoints() if record.history]
    return max(times)


@pytest.fixture
def story(registry: ModelRegistry, register: Callable[..., object]) -> list[Seen]:
    """Register three versions, then move production and traffic around for long enough to seal SEGMENTS segments."""
    target = RecordingTarget()
    seen: list[Seen] = []

    def step(name: str, action: Callable[[], object], notes: int = 0) -> None:
        began = datetime.now().astimezone()
        action()
        for index in range(notes):  # padding: one history entry each, so that segments fill up
            registry.annotate(MODEL, "v3", {"note": f"{name} {index}"}, actor=OPERATOR)
        stages, endpoints = _now_state(registry)
        seen.append(Seen(name, began, _last_event(registry), stages, endpoints))

    for _ in range(3):
        step("register", lambda: register(MODEL))
    step("v1 to production", lambda: drive(registry, "v1", ModelStage.PRODUCTION))
    step("v1 serves", lambda: registry.deploy_model(MODEL, "v1", endpoint_name=ENDPOINT, target=target, actor=OPERATOR))
    step("v2 to production", lambda: drive(registry, "v2", ModelStage.PRODUCTION), notes=10)
    step(
        "v2 canary",
        lambda: registry.deploy_model(
            MODEL, "v2", endpoint_name=ENDPOINT, target=target, traffic_percent=25, actor=OPERATOR
        ),
    )
    step("v3 to staging", lambda: drive(registry, "v3", ModelStage.STAGING), notes=10)
    for round_index in range(4):
        step(f"rollback {round_index}", lambda: registry.rollback(MODEL, actor=OPERATOR, reason="flip"), notes=8)
        step(f"v2 again {round_index}", lambda: _back_to_production(registry, "v2"), notes=8)
    step(
        "v3 takes it all",
        lambda: registry.deploy_model(MODEL, "v3", endpoint_name=ENDPOINT, target=target, actor=OPERATOR),
    )
    segments = [found for key in registry.storage.list(history_folder(MODEL)) if (found := segment_of(key))]
    assert len(segments) >= SEGMENTS, f"the story sealed only {len(segments)} segments"
    return seen


def _back_to_production(registry: ModelRegistry, version: str) -> None:
    registry.promote_model(MODEL, version, ModelStage.DEVELOPMENT, actor=OPERATOR)
    drive(registry, version, ModelStage.PRODUCTION)


def test_as_of_tells_what_the_registry_said_at_every_step(registry: ModelRegistry, story: list[Seen]) -> None:
    previous_stages: dict[ModelStage, list[str]] = {}
    previous_endpoints: dict[str, dict[str, int]] = {}
    for seen in story:
        # Exactly at the step's last entry: everything the step did counts.
        at_end = registry.as_of(MODEL, seen.ended)
        assert (at_end.stages, at_end.endpoints) == (seen.stages, seen.endpoints), seen.step
        assert at_end.at == seen.ended
        assert at_end.model_name == MODEL
        # Just before the step began: what the previous step left.
        before = registry.as_of(MODEL, seen.began - TICK)
        assert (before.stages, before.endpoints) == (previous_stages, previous_endpoints), seen.step
        previous_stages, previous_endpoints = seen.stages, seen.endpoints
    # The story did move things around: several production holders, a staging version, a split endpoint.
    holders = {tuple(seen.stages.get(ModelStage.PRODUCTION, ())) for seen in story}
    assert holders >= {(), ("v1",), ("v2",)}
    assert any(ModelStage.STAGING in seen.stages for seen in story)
    # Before the first entry nothing held a stage or served; a moment without a zone is UTC.
    first = registry.history(MODEL)[0].at
    for moment in (first - TICK, first - timedelta(days=365), datetime(1970, 1, 1, tzinfo=UTC)):
        nothing = registry.as_of(MODEL, moment)
        assert (nothing.stages, nothing.endpoints) == ({}, {})
    naive = registry.as_of(MODEL, story[-1].ended.astimezone(UTC).replace(tzinfo=None))
    assert (naive.stages, naive.endpoints) == (story[-1].stages, story[-1].endpoints)
    splits = [seen.endpoints.get(ENDPOINT) for seen in story]
    assert {"v1": 100} in splits
    assert {"v1": 75, "v2": 25} in splits
    assert splits[-1] == {"v3": 100}


def test_as_of_an_entrys_exact_time_includes_it(registry: ModelRegistry, story: list[Seen]) -> None:
    history = registry.history(MODEL)
    promotions = [e for e in history if e.to_stage is ModelStage.PRODUCTION and e.action.value == "stage_changed"]
    assert len(promotions) >= 2
    for entry in promotions:
        assert registry.as_of(MODEL, entry.at).stages[ModelStage.PRODUCTION] == [entry.version]
        earlier = registry.as_of(MODEL, entry.at - TICK).stages.get(ModelStage.PRODUCTION, [])
        assert earlier != [entry.version]


def test_as_of_reads_only_the_segment_that_covers_the_moment(registry: ModelRegistry, story: list[Seen]) -> None:
    """Damage the oldest segment: moments it covers fail with a typed error, every other moment still reads."""
    keys = sorted(registry.storage.list(history_folder(MODEL)))
    history = registry.history(MODEL)
    registry.storage.write(keys[0], b'{"seq": 0, "entries": [')
    with pytest.raises(CorruptRecordError, match="history"):
        registry.as_of(MODEL, history[1].at)
    later = [seen for seen in story if seen.began > history[SEAL_SIZE].at]
    assert later, "some steps happened after the damaged segment"
    for seen in later:
        found = registry.as_of(MODEL, seen.ended)
        assert (found.stages, found.endpoints) == (seen.stages, seen.endpoints), seen.step


def test_as_of_refuses_what_is_not_a_moment_and_unknown_models(
    registry: ModelRegistry, register: Callable[..., object]
) -> None:
    register(MODEL)
    for bad in ("2026-01-01T00:00:00Z", 1767225600, None):
        with pytest.raises(InvalidInputError, match="moment"):
            registry.as_of(MODEL, bad)  # type: ignore[arg-type]
    with pytest.raises(ModelNotFoundError):
        registry.as_of("never-registered", datetime.now().astimezone())
    assert registry.as_of(MODEL, datetime.now().astimezone()).stages == {}
