"""A damaged or missing file of the per-version layout costs what it holds, never the model's later work.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from registry_support import MODEL, problems_of
from stored_support import index_chunk, state_file, version_file

from registry_core import CorruptRecordError, ModelMetadata, ModelRegistry, ModelStage, RegistryConfig
from registry_core.layout import HEADS
from registry_core.model_store import HOT_HIGH, HOT_LOW
from registry_core.storage import StorageBackend

FIRST_EVICTION = HOT_HIGH + 1  # registrations after which the oldest versions leave the working set
SECOND_EVICTION = FIRST_EVICTION + HOT_HIGH - HOT_LOW + 1


def _hot(storage: StorageBackend) -> set[str]:
    return set(json.loads(storage.read(HEADS.key(MODEL)))["hot"])


def test_a_chunk_that_does_not_parse_is_rebuilt_from_the_state_files_by_the_next_eviction(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    for _ in range(FIRST_EVICTION):
        register()
    before = registry.list_versions(MODEL)
    storage.write(index_chunk(0), storage.read(index_chunk(0))[:300])  # cut short, as a crashed copy tool leaves it

    with pytest.raises(CorruptRecordError, match="index/"):
        ModelRegistry(RegistryConfig(root=storage.uri)).list_versions(MODEL)  # listing says which file is damaged
    for _ in range(SECOND_EVICTION - FIRST_EVICTION):  # registering goes on, and the next eviction repairs the chunk
        register()

    fresh = ModelRegistry(RegistryConfig(root=storage.uri))
    listed = fresh.list_versions(MODEL)
    assert [row.version for row in listed] == [f"v{n}" for n in range(1, SECOND_EVICTION + 1)]
    assert listed[: len(before)] == before
    assert fresh.check().ok


def test_a_chunk_of_a_newer_schema_is_not_replaced(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    for _ in range(FIRST_EVICTION):
        register()
    newer = json.loads(storage.read(index_chunk(0))) | {"schema_version": 99}
    storage.write(index_chunk(0), json.dumps(newer).encode())

    for _ in range(SECOND_EVICTION - FIRST_EVICTION - 1):
        register()
    with pytest.raises(CorruptRecordError, match="newer than this library"):
        register()
    assert json.loads(storage.read(index_chunk(0)))["schema_version"] == 99


def test_a_working_set_version_whose_file_is_gone_stays_and_the_others_leave(
    registry: ModelRegistry,
    register: Callable[..., ModelMetadata],
    make_artifact: Callable[..., Path],
    storage: StorageBackend,
) -> None:
    for _ in range(HOT_HIGH):
        register()
    storage.delete(version_file("v1"))  # the next to leave the working set

    # A new process (nothing remembered) registers: its eviction moves out the others, keeps v1, and it lands.
    ModelRegistry(RegistryConfig(root=storage.uri)).register_model(MODEL, make_artifact(), registered_by="alice")

    hot = _hot(storage)
    assert "v1" in hot
    assert "v2" not in hot
    assert f"v{FIRST_EVICTION}" in hot
    with pytest.raises(CorruptRecordError, match=r"v1 but its file versions/churn/v1\.json is missing"):
        ModelRegistry(RegistryConfig(root=storage.uri)).get_model_metadata(MODEL, "v1")
    assert ModelRegistry(RegistryConfig(root=storage.uri)).get_model_metadata(MODEL, "v2").version == "v2"
    assert version_file("v1") in problems_of(registry.check(), "missing_record")


def test_an_older_version_whose_file_is_gone_is_read_and_promoted_from_the_copy_in_its_state_file(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    for _ in range(FIRST_EVICTION):
        register()
    assert "v2" not in _hot(storage)
    whole = registry.get_model_metadata(MODEL, "v2")
    storage.delete(version_file("v2"))

    promoted = ModelRegistry(RegistryConfig(root=storage.uri)).promote_model(MODEL, "v2", ModelStage.VALIDATION)
    assert promoted.stage is ModelStage.VALIDATION
    assert "v2" in _hot(storage)
    read = ModelRegistry(RegistryConfig(root=storage.uri)).get_model_metadata(MODEL, "v2")
    assert read.stage is ModelStage.VALIDATION
    assert read.artifact_manifest == whole.artifact_manifest
    assert storage.exists(state_file("v2"))
    assert version_file("v2") in problems_of(registry.check(), "missing_record")
