"""Integrity: verified artifacts, corrupt records and missing roots give typed errors, never wrong data.

Every test runs on the local backend and on GCS (the `storage_root` and `grown_root` fixtures); fixtures in
conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from registry_support import (
    MODEL,
    artifact_key,
    problems_of,
)
from stored_support import COLD, GROWN, HEAD, Damage, index_chunk, segment, state_file, version_file

from registry_core import (
    ArtifactIntegrityError,
    CorruptRecordError,
    ModelMetadata,
    ModelRegistry,
    RegistryConfig,
    RegistryError,
    RegistryRootNotFoundError,
)
from registry_core.metadata import SCHEMA_VERSION
from registry_core.storage import StorageBackend


def _damage(storage: StorageBackend, metadata: ModelMetadata, how: str) -> str:
    """Modify, delete or add one file in the stored artifact folder; return the relative path concerned."""
    folder = artifact_key(storage, metadata)
    target = "variables/variables.data"
    key = f"{folder}/{target}"
    local = storage.local_path(key)
    if how == "modified":
        if local is not None:  # edit the file in place under the registry root
            data = bytearray(local.read_bytes())
            data[0] ^= 0xFF
            local.write_bytes(bytes(data))
        else:
            original = storage.read(key)
            storage.write(key, bytes([original[0] ^ 0xFF]) + original[1:])
        return target
    if how == "deleted":
        if local is not None:
            local.unlink()
        else:
            storage.delete(key)
        return target
    added = "variables/injected.py"
    if local is not None:
        local.with_name("injected.py").write_bytes(b"import os")
    else:
        storage.write(f"{folder}/{added}", b"import os")
    return added


_REPORTED_AS = {"modified": "modified", "deleted": "missing", "added": "unexpected"}
_ACCESSORS: dict[str, Callable[[ModelRegistry], Any]] = {
    "load_model": lambda registry: registry.load_model(MODEL, "v1"),
    "artifact_path": lambda registry: registry.artifact_path(MODEL, "v1"),
}


def test_load_model_returns_a_verified_folder_with_the_registered_bytes(
    registry: ModelRegistry, make_artifact: Callable[..., Path]
) -> None:
    source = make_artifact()
    registry.register_model(MODEL, source)

    loaded, metadata = registry.load_model(MODEL, "v1")

    assert metadata.version == "v1"
    assert (Path(loaded) / "model.json").read_bytes() == (source / "model.json").read_bytes()
    assert (Path(loaded) / "variables" / "variables.data").read_bytes() == (
        source / "variables" / "variables.data"
    ).read_bytes()


@pytest.mark.parametrize("how", ["modified", "deleted", "added"])
@pytest.mark.parametrize("accessor", list(_ACCESSORS))
def test_a_changed_stored_artifact_raises_artifact_integrity_error(
    registry: ModelRegistry,
    register: Callable[..., ModelMetadata],
    storage: StorageBackend,
    how: str,
    accessor: str,
) -> None:
    metadata = register()
    register()  # a neighbour that stays intact
    path = _damage(storage, metadata, how)

    with pytest.raises(ArtifactIntegrityError) as caught:
        _ACCESSORS[accessor](registry)

    message = str(caught.value)
    assert f"{MODEL} v1" in message
    assert f"{_REPORTED_AS[how]} {path}" in message
    assert "\n" not in message
    assert registry.artifact_path(MODEL, "v2").is_dir()


def test_check_deep_reports_a_modified_artifact(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    metadata = register()
    _damage(storage, metadata, "modified")

    report = registry.check(deep=True)

    assert problems_of(report, "missing_artifacts") == [artifact_key(storage, metadata)]


def test_a_version_whose_digest_is_not_its_manifests_is_never_loaded_and_names_no_folder(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend, tmp_path: Path
) -> None:
    register()
    # The digest names the download cache's folder of a version's artifacts: a damaged one must not lead out of it.
    storage.write(version_file("v1"), storage.read(version_file("v1")).replace(b'"sha256:', b'"../x/../../y#'))

    fresh = ModelRegistry(RegistryConfig(root=storage.uri))
    with pytest.raises(CorruptRecordError, match="is not its manifest's"):
        fresh.artifact_path(MODEL, "v1")
    report = fresh.check(deep=True)

    assert "v1: its artifact digest does not match its manifest" in [p.message for p in report.problems]
    assert sorted(path.name for path in tmp_path.iterdir()) in (["artifacts-in"], ["artifacts-in", "registry"])


# ------------------------------------------------------------------------------------------- corrupt records
# A reader reads a model's head, then the version file of the version it resolves, the state file of a version
# outside the head's working set, the index chunks when it lists, the sealed segments for the whole history. Each is
# damaged in a grown model (see stored_support.grow), and read by a new reader, as a CLI call or a pipeline step is
# (a reader keeps the version files it read: they are written once).

_GARBAGE: dict[str, Callable[[bytes], bytes]] = {  # how to damage a valid document
    "garbage": lambda valid: b"\x00\xff not json at all",
    "truncated": lambda valid: valid[: len(valid) // 2],
    "wrong-schema": lambda valid: json.dumps({"name": MODEL, "versions": 5}).encode(),
    "empty": lambda valid: b"",
    "newer-schema": lambda valid: json.dumps({**json.loads(valid), "schema_version": SCHEMA_VERSION + 1}).encode(),
}
_FILES: dict[str, Callable[[StorageBackend], str]] = {  # the files a reader reads, in the grown model
    "head": lambda storage: HEAD,
    "version file": lambda storage: version_file(f"v{GROWN}"),  # of the latest version
    "state file": lambda storage: state_file(COLD),
    "index chunk": lambda storage: index_chunk(0),
    "segment": lambda storage: segment(storage, 0),
}
_READS: dict[str, list[str]] = {  # the read paths that use each file
    "head": ["list_versions", "get_model_metadata", "history"],
    "version file": ["get_model_metadata"],
    "state file": ["get_model_metadata of a version outside the working set"],
    "index chunk": ["list_versions"],
    "segment": ["history"],
}
_READERS: dict[str, Callable[[ModelRegistry], Any]] = {
    "list_versions": lambda registry: registry.list_versions(MODEL),
    "get_model_metadata": lambda registry: registry.get_model_metadata(MODEL),
    "get_model_metadata of a version outside the working set": lambda registry: registry.get_model_metadata(
        MODEL, COLD
    ),
    "history": lambda registry: registry.history(MODEL),
}


@pytest.mark.parametrize("corruption", list(_GARBAGE))
@pytest.mark.parametrize(("file", "reader"), [(file, reader) for file, readers in _READS.items() for reader in readers])
def test_a_corrupt_record_raises_corrupt_record_error_on_the_reads_that_use_it(
    grown: tuple[ModelRegistry, Damage], file: str, reader: str, corruption: str
) -> None:
    registry, damage = grown
    key = _FILES[file](registry.storage)
    _READERS[reader](registry)  # it reads well before
    damage.write(key, _GARBAGE[corruption](registry.storage.read(key)))

    with pytest.raises(CorruptRecordError, match=key):
        _READERS[reader](ModelRegistry(RegistryConfig(root=registry.storage.uri)))


@pytest.mark.parametrize("corruption", list(_GARBAGE))
@pytest.mark.parametrize("file", list(_FILES))
def test_check_reports_a_corrupt_record(grown: tuple[ModelRegistry, Damage], file: str, corruption: str) -> None:
    registry, damage = grown
    key = _FILES[file](registry.storage)
    damage.write(key, _GARBAGE[corruption](registry.storage.read(key)))

    report = registry.check()

    assert problems_of(report, "corrupt_record") == [key]
    assert not report.ok


@pytest.mark.parametrize("file", list(_FILES))
def test_gc_keeps_the_artifacts_of_a_model_with_a_corrupt_record(
    grown: tuple[ModelRegistry, Damage], file: str
) -> None:
    registry, damage = grown
    damage.write(_FILES[file](registry.storage), b"{")
    stored = registry.storage.list("artifacts/")

    report = registry.check(gc=True)

    assert report.removed == []
    assert registry.storage.list("artifacts/") == stored
    assert len(problems_of(report, "kept_upload")) == GROWN


@pytest.mark.timeout(60)
def test_a_head_that_claims_more_versions_than_there_are_lists_what_there_is(
    grown: tuple[ModelRegistry, Damage],
) -> None:
    registry, damage = grown
    listed = [m.version for m in registry.list_versions(MODEL)]
    # Index chunks are read by number up to the head's count: a damaged count must not mean a read per number.
    damage.edit(HEAD, lambda head: head.update(frozen_upto=10**12, next_ordinal=10**12 + 1))

    fresh = ModelRegistry(RegistryConfig(root=registry.storage.uri))
    assert [m.version for m in fresh.list_versions(MODEL)] == listed
    problems = [(p.key, p.message) for p in fresh.check().problems if p.kind == "invalid_record"]
    assert (
        index_chunk(0),
        f"{10**12 - GROWN} version(s) of churn (42nd-{10**12}th registered) are neither in the "
        f"working set of {HEAD} nor in {index_chunk(0)}",
    ) in problems


def test_a_corrupt_record_does_not_hide_other_models(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    register()
    register("other")
    storage.write(HEAD, b"garbage")

    assert registry.list_models() == ["churn", "other"]
    assert registry.get_model_metadata("other").version == "v1"


def test_a_missing_local_root_raises_registry_root_not_found(tmp_path: Path) -> None:
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "nope")))

    with pytest.raises(RegistryRootNotFoundError, match="nope"):
        registry.list_models()
    with pytest.raises(RegistryRootNotFoundError):
        registry.get_model_metadata(MODEL)
    assert not (tmp_path / "nope").exists()


def test_a_gcs_root_in_a_missing_bucket_raises_a_typed_not_found_error(gcs_emulator: Any) -> None:
    registry = ModelRegistry(RegistryConfig(root="gs://no-such-bucket-for-registry-tests/registry"))

    with pytest.raises(RegistryRootNotFoundError, match="no-such-bucket-for-registry-tests"):
        registry.list_models()
    with pytest.raises(RegistryRootNotFoundError) as caught:
        registry.get_model_metadata(MODEL)
    assert isinstance(caught.value, RegistryError)
