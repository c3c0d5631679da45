"""The fast paths behind the benchmark numbers keep behaviour: parse reuse, marker writes, the own process's start.

- The model store reuses its parse of a head only for identical bytes, so readers never see stale state (both
  backends).
- Pending markers are written without fsync (``durable=False``) but still atomically and visibly.
- The process's own start time is read from /proc once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_core import ModelRegistry, ModelStage, RegistryConfig, processes
from registry_core.documents import ModelHead
from registry_core.errors import CorruptRecordError
from registry_core.layout import HEADS
from registry_core.model_store import ModelStore
from registry_core.storage import LocalStorage, StorageBackend

MODEL = "cached"


def _registry(storage: StorageBackend) -> ModelRegistry:
    return ModelRegistry(RegistryConfig(root=storage.uri), storage=storage)


def _register(registry: ModelRegistry, tmp_path: Path, index: int) -> str:
    artifact = tmp_path / f"model-{index}.txt"
    artifact.write_text(f"weights {index}")
    return registry.register_model(MODEL, artifact, registered_by="trainer").version


def test_unchanged_bytes_are_parsed_once(storage: StorageBackend, tmp_path: Path) -> None:
    registry = _registry(storage)
    _register(registry, tmp_path, 1)
    reader = ModelStore(storage)
    first, second = reader.head(MODEL), reader.head(MODEL)
    assert first is not None
    assert second is first  # the same object: the second read's bytes were not parsed again
    fresh = ModelStore(storage).head(MODEL)
    assert fresh == first
    assert fresh is not first


def test_a_change_by_another_writer_is_seen(storage: StorageBackend, tmp_path: Path) -> None:
    writer, reader = _registry(storage), _registry(storage)
    label = _register(writer, tmp_path, 1)
    assert reader.get_model_metadata(MODEL, stage=ModelStage.DEVELOPMENT).version == label
    writer.promote_model(MODEL, label, ModelStage.VALIDATION, actor="trainer")
    assert reader.get_model_metadata(MODEL, label).stage is ModelStage.VALIDATION
    second = _register(writer, tmp_path, 2)
    assert [m.version for m in reader.list_versions(MODEL)] == [label, second]


def test_same_size_change_is_seen(storage: StorageBackend, tmp_path: Path) -> None:
    registry = _registry(storage)
    _register(registry, tmp_path, 1)
    store = ModelStore(storage)
    before = store.head(MODEL)
    data = storage.read(HEADS.key(MODEL))
    changed = data.replace(b'"trainer"', b'"trainex"')
    assert len(changed) == len(data)
    assert changed != data
    storage.write(HEADS.key(MODEL), changed)
    after = store.head(MODEL)
    assert after is not None
    assert before is not None
    assert after.hot["v1"].brief.registered_by == "trainex"
    assert before.hot["v1"].brief.registered_by == "trainer"


def test_corruption_after_a_good_read_is_reported(storage: StorageBackend, tmp_path: Path) -> None:
    registry = _registry(storage)
    _register(registry, tmp_path, 1)
    registry.list_versions(MODEL)
    storage.write(HEADS.key(MODEL), b'{"name": ')
    with pytest.raises(CorruptRecordError):
        registry.list_versions(MODEL)


def test_head_kept_after_a_write_equals_a_fresh_parse(storage: StorageBackend, tmp_path: Path) -> None:
    registry = _registry(storage)
    first = _register(registry, tmp_path, 1)
    second = _register(registry, tmp_path, 2)
    for label in (first, second):
        registry.promote_model(MODEL, label, ModelStage.VALIDATION, actor="trainer")
        registry.promote_model(MODEL, label, ModelStage.STAGING, actor="trainer")
        registry.promote_model(MODEL, label, ModelStage.PRODUCTION, approved_by="reviewer", actor="operator")
    registry.annotate(MODEL, second, {"note": "ok"}, metrics={"latency_ms": 3.5})
    registry.rollback(MODEL, reason="test")
    data = storage.read(HEADS.key(MODEL))
    kept = registry.store.head(MODEL)  # served from what the last write kept: the bytes read are those it wrote
    fresh = ModelHead.model_validate_json(data, context=registry.store.context)
    assert kept == fresh
    assert kept is not None
    assert kept.model_dump_json() == fresh.model_dump_json()
    assert kept is registry.store.head(MODEL)
    production = [label for label, hot in kept.hot.items() if hot.state.stage is ModelStage.PRODUCTION]
    assert production == [first]


def test_in_stage_orders_like_sorted_versions(tmp_path: Path) -> None:
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    labels = [_register(registry, tmp_path, i) for i in range(12)]  # v1..v12: v10 sorts after v9
    for label in labels[::3]:
        registry.promote_model(MODEL, label, ModelStage.VALIDATION, actor="trainer")
    record = registry.store.full_record(MODEL)
    for stage in ModelStage:
        assert record.in_stage(stage) == [m for m in record.sorted_versions() if m.stage is stage]


def test_write_without_durability_is_still_a_whole_replace(storage: StorageBackend) -> None:
    storage.write("pending/m/a.json", b"first")
    storage.write("pending/m/a.json", b"second", durable=False)
    assert storage.read("pending/m/a.json") == b"second"
    assert storage.list("pending/") == ["pending/m/a.json"]


def test_local_write_skips_fsync_only_when_not_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path / "registry")
    synced: list[int] = []
    monkeypatch.setattr("registry_core.storage.local.os.fsync", synced.append)
    storage.write("a.json", b"x")
    assert len(synced) == 3  # the new root's name in its parent, the file, the root holding the file's name
    storage.write("b.json", b"y", durable=False)
    assert len(synced) == 3
    assert storage.read("b.json") == b"y"
    assert storage.abandoned_temp_files() == []


def test_registration_writes_its_marker_without_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    writes: list[tuple[str, bool]] = []
    original = LocalStorage.write

    def recording(self: LocalStorage, key: str, data: bytes, *, durable: bool = True) -> None:
        writes.append((key.split("/")[0], durable))
        original(self, key, data, durable=durable)

    monkeypatch.setattr(LocalStorage, "write", recording)
    _register(registry, tmp_path, 1)
    assert writes == [("pending", False)]
    assert registry.storage.list("pending/") == []


def test_own_process_start_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "_own", (-1, ""))
    reads: list[int] = []
    real = processes.process_start

    def counting(pid: int) -> str:
        reads.append(pid)
        return real(pid)

    monkeypatch.setattr(processes, "process_start", counting)
    first = processes.own_process()
    assert first == (os.getpid(), real(os.getpid()))
    assert processes.self_token() == f"{first[0]}_{first[1]}"
    assert processes.own_process() == first
    assert reads == [os.getpid()]
    monkeypatch.setattr(processes.os, "getpid", lambda: first[0] + 1)  # as in a forked child
    assert processes.own_process()[0] == first[0] + 1
    assert reads == [first[0], first[0] + 1]
