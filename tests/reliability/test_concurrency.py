"""Guarantees 1 and 3 under real concurrency: separate processes racing on one registry, on every backend.

Each worker is a fresh Python process with its own ModelRegistry (and, on GCS, its own client), started
together behind a barrier (a start file they poll for once they are ready), so the registrations and
promotions really overlap instead of running one after another. The registrations start just short of a full working
set, so that racing writers move versions out of it (state files, index chunks) and seal history while they race.
The issue's 32 processes x 20 registrations run in `make bench-concurrency` (about 40 s locally, 3 minutes on the
emulator: too long for the suite).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_support import run_together, tiny_artifact

from registry_core import (
    HistoryAction,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
)
from registry_core.model_store import HOT_HIGH
from registry_core.versioning import version_key

N_REGISTRANTS = 8
VERSIONS_EACH = 5
REGISTERED_FIRST = HOT_HIGH - 5  # then the racers cross evictions (at HOT_HIGH + 1, ...) and seals


def test_parallel_registrations_get_distinct_labels_and_lose_nothing(storage_root: str, tmp_path: Path) -> None:
    model = "concurrent-reg"
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    for index in range(REGISTERED_FIRST):
        folder = tiny_artifact(tmp_path / "first" / str(index), f"registered first {index}")
        registry.register_model(model, folder, registered_by="trainer-first")
    jobs = []
    for worker in range(N_REGISTRANTS):
        folders = [
            tiny_artifact(tmp_path / "src" / f"w{worker}-{i}", f"worker {worker} item {i}")
            for i in range(VERSIONS_EACH)
        ]
        jobs.append(
            ("register", {"root": storage_root, "model": model, "folders": folders, "user": f"trainer-{worker}"})
        )

    outcomes = run_together(tmp_path, jobs)

    registry = ModelRegistry(RegistryConfig(root=storage_root))
    total = REGISTERED_FIRST + N_REGISTRANTS * VERSIONS_EACH
    versions = {row.version: registry.get_model_metadata(model, row.version) for row in registry.list_versions(model)}
    assert sorted(versions, key=version_key) == [f"v{i}" for i in range(1, total + 1)], sorted(
        versions, key=version_key
    )
    returned = [(worker, r) for worker, outcome in enumerate(outcomes) for r in outcome["results"]]
    assert len({r["version"] for _, r in returned}) == len(returned), f"labels handed out twice: {returned}"
    assert len({r["digest"] for _, r in returned}) == len(returned)
    for worker, result in returned:
        stored = versions[result["version"]]
        assert stored.artifact_digest == result["digest"], f"{result['version']} was overwritten"
        assert stored.registered_by == f"trainer-{worker}"
    # Each worker's own versions were issued in its own order (it registers one after another).
    for outcome in outcomes:
        labels = [version_key(r["version"]) for r in outcome["results"]]
        assert labels == sorted(labels)

    history = registry.history(model)
    assert len({e.id for e in history}) == len(history)
    registered = [e for e in history if e.action is HistoryAction.REGISTERED]
    assert len(registered) == total
    assert sorted(e.version for e in registered) == sorted(versions)
    # The race crossed the layout's thresholds: versions left the working set and history was sealed meanwhile.
    head = registry.store.head(model)
    assert head is not None
    assert head.frozen_upto > REGISTERED_FIRST
    assert head.segments >= 1
    # Every version is whole: its artifacts verify against the manifest, and nothing is left behind.
    for label in ("v1", f"v{total // 2}", f"v{total}"):
        folder = registry.artifact_path(model, label)
        assert (folder / "config.json").is_file()
    report = registry.check()
    assert report.ok, report.problems
    assert report.versions_checked == total


def _staged_versions(registry: ModelRegistry, model: str, count: int, tmp_path: Path) -> list[str]:
    """Register `count` versions (by trainer), move them to staging and have a reviewer approve each for production."""
    labels = []
    for index in range(count):
        folder = tiny_artifact(tmp_path / "staged" / f"{model}-{index}", f"{model} candidate {index}")
        label = registry.register_model(model, folder, registered_by="trainer").version
        registry.promote_model(model, label, ModelStage.VALIDATION, actor="trainer")
        registry.promote_model(model, label, ModelStage.STAGING, actor="trainer")
        registry.approve(model, label, ModelStage.PRODUCTION, approver="reviewer", comment="looks good")
        labels.append(label)
    return labels


@pytest.mark.parametrize("racers", [2, 8])
def test_racing_promotions_leave_exactly_one_production(storage_root: str, tmp_path: Path, racers: int) -> None:
    model = f"race-{racers}"
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    labels = _staged_versions(registry, model, racers, tmp_path)
    before = len(registry.history(model))

    jobs = [
        ("promote", {"root": storage_root, "model": model, "version": label, "user": f"operator-{label}"})
        for label in labels
    ]
    outcomes = run_together(tmp_path, jobs)

    winners = [o["version"] for o in outcomes if o["ok"]]
    failures = [o for o in outcomes if not o["ok"]]
    # A loser may only fail cleanly, with a typed registry error (the worker lets anything else crash it).
    assert all(f["error"] for f in failures), failures
    assert winners, f"no promotion succeeded: {failures}"
    if racers > 2:
        assert not failures, f"promotions that lost a race must retry on fresh state, got {failures}"

    versions = {row.version: registry.get_model_metadata(model, row.version) for row in registry.list_versions(model)}
    production = [label for label, m in versions.items() if m.stage is ModelStage.PRODUCTION]
    assert len(production) == 1, f"production holders: {production}"

    history = registry.history(model)
    assert len(history) == before + len(winners) + (len(winners) - 1), [e.action for e in history[before:]]
    to_production = [
        e for e in history if e.action is HistoryAction.STAGE_CHANGED and e.to_stage is ModelStage.PRODUCTION
    ]
    assert sorted(e.version for e in to_production) == sorted(winners), (to_production, winners)
    # Each promotion used the reviewer's approval, and the last one recorded is the holder now.
    assert all(e.details.get("approved_by") == "reviewer" for e in to_production)
    assert to_production[-1].version == production[0]
    superseded = [e for e in history if e.action is HistoryAction.STAGE_CHANGED and e.to_stage is ModelStage.ARCHIVED]
    assert len(superseded) == len(winners) - 1
    for label in winners:
        if label != production[0]:
            assert versions[label].stage is ModelStage.ARCHIVED
            assert versions[label].stage_history[-1].cause == "superseded"
    for failure in failures:
        assert failure["error"] in {"ConcurrentModificationError", "InvalidTransitionError", "ApprovalRequiredError"}
