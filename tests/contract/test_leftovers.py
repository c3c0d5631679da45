"""check and gc: a clean registry is ok; leftovers of dead registrations are found and removed, live ones kept.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from registry_support import (
    MODEL,
    S,
    artifact_key,
    drive,
    problems_of,
)

from registry_core import (
    ModelMetadata,
    ModelRegistry,
)
from registry_core.maintenance import PendingMarker
from registry_core.storage import StorageBackend


def test_check_of_a_clean_registry_is_ok(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> None:
    register()
    register()
    register("other")
    drive(registry, "v1", S.PRODUCTION)

    report = registry.check(deep=True)

    assert report.ok
    assert report.problems == []
    assert (report.models_checked, report.versions_checked) == (2, 3)


def test_check_reports_a_leftover_upload_and_gc_removes_it(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    register()
    leftover = f"artifacts/{MODEL}/20240101T000000-0123456789ab"
    storage.write(f"{leftover}/model.json", b"{}")
    storage.write(f"{leftover}/variables/variables.data", b"half an upload")

    found = registry.check()
    cleaned = registry.check(gc=True)

    assert problems_of(found, "leftover_upload") == [leftover]
    assert not found.ok
    assert leftover in cleaned.removed
    assert cleaned.ok
    assert storage.list(leftover) == []
    assert registry.check().problems == []
    assert registry.artifact_path(MODEL, "v1").is_dir()


def test_check_leaves_an_upload_of_a_live_registration_alone(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    register()
    upload_id = "20240101T000000-live00000000"
    storage.write(f"pending/{MODEL}/{upload_id}.json", PendingMarker.for_this_process().to_json())
    storage.write(f"artifacts/{MODEL}/{upload_id}/model.json", b"{}")

    report = registry.check(gc=True)

    assert report.problems == []
    assert report.removed == []
    assert storage.list(f"artifacts/{MODEL}/{upload_id}") == [f"artifacts/{MODEL}/{upload_id}/model.json"]
    assert storage.exists(f"pending/{MODEL}/{upload_id}.json")


def test_gc_removes_the_upload_and_marker_of_a_dead_registration(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    register()
    upload_id = "20240101T000000-dead00000000"
    dead = dataclasses.replace(PendingMarker.for_this_process(), process_start="not-this-process")
    storage.write(f"pending/{MODEL}/{upload_id}.json", dead.to_json())
    storage.write(f"artifacts/{MODEL}/{upload_id}/model.json", b"{}")

    report = registry.check(gc=True)

    assert set(report.removed) == {f"pending/{MODEL}/{upload_id}.json", f"artifacts/{MODEL}/{upload_id}"}
    assert storage.list("pending/") == []
    assert storage.list(f"artifacts/{MODEL}/{upload_id}") == []


def test_check_reports_missing_artifact_files_of_a_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    metadata = register()
    storage.delete(f"{artifact_key(storage, metadata)}/model.json")

    report = registry.check(gc=True)

    assert problems_of(report, "missing_artifacts") == [artifact_key(storage, metadata)]
    assert "model.json" in report.problems[0].message
    assert not report.ok
    assert report.removed == []
