"""Guarantees 1 and 3 under load, on every backend (issue 5, "Load").

32 processes register 20 versions each of one model at the same time: 640 distinct labels, none lost, each one
holding the artifacts of the worker that received it. Then 16 processes race to promote 16 approved STAGING versions
to PRODUCTION: exactly one holds it afterwards and the history records all 16 promotions.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from reliability_support import run_together, tiny_artifact

from registry_core import HistoryAction, ModelRegistry, ModelStage, RegistryConfig
from registry_core.versioning import version_key

PROCESSES = 32
VERSIONS_EACH = 20
RACERS = 16
LOAD_TIMEOUT = 150.0  # seconds for all workers; the whole test takes a fraction of this (see the printed timing)

pytestmark = pytest.mark.timeout(300)


def test_32_processes_register_640_versions_and_lose_none(storage_root: str, tmp_path: Path) -> None:
    model = "load-reg"
    jobs = []
    for worker in range(PROCESSES):
        folders = [
            tiny_artifact(tmp_path / "src" / f"w{worker}-{i}", f"worker {worker} item {i}")
            for i in range(VERSIONS_EACH)
        ]
        jobs.append(
            ("register", {"root": storage_root, "model": model, "folders": folders, "user": f"trainer-{worker}"})
        )

    started = time.monotonic()
    outcomes = run_together(tmp_path, jobs, timeout=LOAD_TIMEOUT)
    elapsed = time.monotonic() - started

    total = PROCESSES * VERSIONS_EACH
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    versions = {m.version: m for m in registry.list_versions(model)}
    assert sorted(versions, key=version_key) == [f"v{i}" for i in range(1, total + 1)]

    # Every worker got an answer for each of its folders, and the stored version is exactly what it registered.
    assert [len(o["results"]) for o in outcomes] == [VERSIONS_EACH] * PROCESSES
    returned = [(worker, r) for worker, outcome in enumerate(outcomes) for r in outcome["results"]]
    assert len({r["version"] for _, r in returned}) == total, "a label was handed out twice"
    assert len({r["digest"] for _, r in returned}) == total
    for worker, result in returned:
        stored = versions[result["version"]]
        assert stored.artifact_digest == result["digest"], f"{result['version']} was overwritten"
        assert stored.registered_by == f"trainer-{worker}"
        assert stored.stage is ModelStage.DEVELOPMENT
    for outcome in outcomes:  # each worker registers one after another, so its labels increase
        labels = [version_key(r["version"]) for r in outcome["results"]]
        assert labels == sorted(labels)

    registered = [e for e in registry.history(model) if e.action is HistoryAction.REGISTERED]
    assert sorted(e.version for e in registered) == sorted(versions)
    for label in ("v1", f"v{total // 2}", f"v{total}"):
        assert (registry.artifact_path(model, label) / "config.json").is_file()
    report = registry.check()
    assert report.ok, report.problems
    assert report.versions_checked == total
    print(f"{storage_root.split(':')[0]}: {total} registrations by {PROCESSES} processes in {elapsed:.1f}s")


def test_writes_and_deletes_racing_in_one_folder_never_fail(tmp_path: Path) -> None:
    """Registrations write and delete their markers in pending/<model>/ at once; on the local backend delete()
    prunes the folder it empties, which must never make a concurrent write into that folder fail."""
    root = str(tmp_path / "registry")
    jobs = [("marker-churn", {"root": root, "model": "churn", "count": 1500}) for _ in range(4)]
    outcomes = run_together(tmp_path, jobs, timeout=LOAD_TIMEOUT)
    assert [o["failed"] for o in outcomes] == [0] * len(jobs), [o["failures"] for o in outcomes]


def test_16_racing_promotions_leave_one_production_and_16_history_entries(storage_root: str, tmp_path: Path) -> None:
    model = "load-race"
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    labels = []
    for index in range(RACERS):
        folder = tiny_artifact(tmp_path / "staged" / f"c{index}", f"candidate {index}")
        label = registry.register_model(model, folder, registered_by="trainer").version
        registry.promote_model(model, label, ModelStage.VALIDATION, actor="trainer")
        registry.promote_model(model, label, ModelStage.STAGING, actor="trainer")
        registry.approve(model, label, ModelStage.PRODUCTION, approver="reviewer", comment="ok")
        labels.append(label)
    before = len(registry.history(model))

    jobs = [
        ("promote", {"root": storage_root, "model": model, "version": label, "user": f"operator-{label}"})
        for label in labels
    ]
    outcomes = run_together(tmp_path, jobs, timeout=LOAD_TIMEOUT)

    # Losing a race means retrying on fresh state: every promotion succeeds, each archiving the one before it.
    assert all(o["ok"] for o in outcomes), [o for o in outcomes if not o["ok"]]
    assert sorted(o["version"] for o in outcomes) == sorted(labels)
    versions = {m.version: m for m in registry.list_versions(model)}
    production = [label for label, m in versions.items() if m.stage is ModelStage.PRODUCTION]
    assert len(production) == 1, production

    history = registry.history(model)
    to_production = [
        e for e in history if e.action is HistoryAction.STAGE_CHANGED and e.to_stage is ModelStage.PRODUCTION
    ]
    assert len(to_production) == RACERS
    assert sorted(e.version for e in to_production) == sorted(labels)
    assert len({e.actor for e in to_production}) == RACERS
    assert all(e.details.get("approved_by") == "reviewer" for e in to_production)
    assert to_production[-1].version == production[0]
    superseded = [e for e in history if e.action is HistoryAction.STAGE_CHANGED and e.to_stage is ModelStage.ARCHIVED]
    assert len(superseded) == RACERS - 1
    assert len(history) == before + 2 * RACERS - 1  # 16 promotions, 15 archivals, nothing else
    assert {label for label, m in versions.items() if m.stage is ModelStage.ARCHIVED} == set(labels) - set(production)
    assert registry.check().ok
