"""Registration: labels, versioning strategies, manifests and digests, reuse, what a version records.

Every test runs on the local backend and on GCS (the `storage_root` fixture); fixtures in conftest.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from registry_support import (
    MODEL,
    REGISTRANT,
    S,
    artifact_key,
)

from registry_core import (
    ConflictError,
    CorruptRecordError,
    HistoryAction,
    InvalidInputError,
    InvalidNameError,
    InvalidVersionError,
    ModelMetadata,
    ModelRegistry,
    RegistryConfig,
    VersionConflictError,
)
from registry_core.model_store import HOT_HIGH, SEAL_SIZE, TAIL_HIGH
from registry_core.storage import StorageBackend, open_storage


def test_versions_are_labelled_v1_v2_v3_in_registration_order(register: Callable[..., ModelMetadata]) -> None:
    labels = [register().version for _ in range(3)]

    assert labels == ["v1", "v2", "v3"]


def test_a_new_version_starts_in_development_and_is_attributed_to_its_registrant(
    register: Callable[..., ModelMetadata],
) -> None:
    metadata = register()

    assert metadata.stage is S.DEVELOPMENT
    assert metadata.registered_by == REGISTRANT
    assert metadata.registered_at.tzinfo is not None


def test_semantic_versioning_starts_at_v1_0_0_and_bumps_minor_major_and_patch(
    storage_root: str, make_artifact: Callable[..., Path]
) -> None:
    registry = ModelRegistry(RegistryConfig(root=storage_root, versioning="semantic"))

    labels = [registry.register_model(MODEL, make_artifact()).version]
    for bump in ("minor", "major", "patch", "minor"):
        labels.append(registry.register_model(MODEL, make_artifact(), bump=bump).version)

    assert labels == ["v1.0.0", "v1.1.0", "v2.0.0", "v2.0.1", "v2.1.0"]


def test_an_explicit_free_version_is_used_and_later_labels_continue_after_it(
    register: Callable[..., ModelMetadata],
) -> None:
    explicit = register(version="7")
    following = register()

    assert (explicit.version, following.version) == ("v7", "v8")


def test_an_explicit_version_that_is_taken_raises_version_conflict_and_leaves_nothing_behind(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    first = register()

    with pytest.raises(VersionConflictError, match="v1"):
        register(version="v1")

    assert [m.version for m in registry.list_versions(MODEL)] == ["v1"]
    assert registry.get_model_metadata(MODEL, "v1").model_id == first.model_id
    report = registry.check()
    assert report.ok, report.problems
    assert storage.list("pending/") == []
    kept = artifact_key(storage, first) + "/"
    assert all(key.startswith(kept) for key in storage.list(f"artifacts/{MODEL}/"))


def test_an_auto_increment_model_refuses_an_explicit_semantic_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(InvalidVersionError, match="auto-increment"):
        register(version="v1.2.0")

    assert [m.version for m in registry.list_versions(MODEL)] == ["v1"]
    assert registry.check().ok


def test_a_semantic_model_refuses_an_explicit_auto_increment_version(
    storage_root: str, make_artifact: Callable[..., Path]
) -> None:
    registry = ModelRegistry(RegistryConfig(root=storage_root, versioning="semantic"))

    with pytest.raises(InvalidVersionError, match="semantic"):
        registry.register_model(MODEL, make_artifact(), version="v3")

    report = registry.check()
    assert report.ok, report.problems


def test_a_model_keeps_the_versioning_strategy_it_was_created_with(
    storage_root: str, make_artifact: Callable[..., Path]
) -> None:
    semantic = ModelRegistry(RegistryConfig(root=storage_root, versioning="semantic"))
    semantic.register_model(MODEL, make_artifact())
    auto = ModelRegistry(RegistryConfig(root=storage_root))

    assert auto.register_model(MODEL, make_artifact(), bump="patch").version == "v1.0.1"
    assert auto.register_model("fresh", make_artifact()).version == "v1"


@pytest.mark.parametrize("version", ["x1", "v0", "v1.2", "-3", ""])
def test_a_malformed_explicit_version_raises_invalid_version_before_anything_is_stored(
    registry: ModelRegistry, make_artifact: Callable[..., Path], storage: StorageBackend, version: str
) -> None:
    with pytest.raises(InvalidVersionError):
        registry.register_model(MODEL, make_artifact(), version=version)

    assert storage.list("") == []


@pytest.mark.parametrize("name", ["", "Churn", "../escape", "a/b", "9lives", "x" * 64])
def test_an_invalid_model_name_raises_invalid_name_before_anything_is_stored(
    registry: ModelRegistry, make_artifact: Callable[..., Path], storage: StorageBackend, name: str
) -> None:
    with pytest.raises(InvalidNameError):
        registry.register_model(name, make_artifact())

    assert storage.list("") == []


def test_an_unknown_bump_raises_invalid_input(registry: ModelRegistry, make_artifact: Callable[..., Path]) -> None:
    with pytest.raises(InvalidInputError, match="bump"):
        registry.register_model(MODEL, make_artifact(), bump="huge")


def test_a_missing_artifact_path_raises_invalid_input(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        registry.register_model(MODEL, tmp_path / "not-there")


def test_the_manifest_lists_every_file_with_its_size_and_sha256(
    registry: ModelRegistry, make_artifact: Callable[..., Path]
) -> None:
    folder = make_artifact()

    metadata = registry.register_model(MODEL, folder, registered_by=REGISTRANT)

    expected = {
        path.relative_to(folder).as_posix(): (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in folder.rglob("*")
        if path.is_file()
    }
    assert {e.path: (e.size, e.sha256) for e in metadata.artifact_manifest} == expected
    assert metadata.artifact_size == sum(size for size, _ in expected.values())


def test_identical_bytes_give_the_same_artifact_digest(register: Callable[..., ModelMetadata]) -> None:
    first = register(content="same weights")
    second = register(content="same weights")

    assert second.version == "v2"
    assert first.artifact_digest == second.artifact_digest
    assert first.artifact_digest.startswith("sha256:")


def test_different_bytes_give_different_artifact_digests(register: Callable[..., ModelMetadata]) -> None:
    assert register(content="weights A").artifact_digest != register(content="weights B").artifact_digest


def test_reuse_existing_returns_the_existing_version_for_identical_bytes(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    first = register(content="same weights")

    again = register(content="same weights", reuse_existing=True)

    assert again == first
    assert [m.version for m in registry.list_versions(MODEL)] == ["v1"]
    report = registry.check()
    assert report.problems == []


def test_reuse_existing_registers_a_new_version_for_different_bytes(register: Callable[..., ModelMetadata]) -> None:
    register(content="weights A")

    assert register(content="weights B", reuse_existing=True).version == "v2"


def test_a_single_file_artifact_is_registered_under_its_own_name(registry: ModelRegistry, tmp_path: Path) -> None:
    single = tmp_path / "model.keras"
    single.write_bytes(b"keras zip bytes")

    metadata = registry.register_model(MODEL, single, registered_by=REGISTRANT)

    assert [(e.path, e.size) for e in metadata.artifact_manifest] == [("model.keras", len(b"keras zip bytes"))]
    assert (registry.artifact_path(MODEL, "v1") / "model.keras").read_bytes() == b"keras zip bytes"


def test_lineage_params_tags_description_and_metrics_round_trip(
    storage_root: str, register: Callable[..., ModelMetadata]
) -> None:
    register(
        metrics={"accuracy": 0.93, "loss": 0.21, "latency_ms": 4.5},
        params={"learning_rate": 0.001, "epochs": 12, "optimizer": "adam", "shuffle": True, "seed": None},
        description="two-tower recommender, weekly retrain",
        tags=["weekly", "eyewear", "weekly"],
        lineage={
            "training_data_uris": ["gs://data/train-0001.tfrecord"],
            "pipeline_run": "train-and-register-20240101",
            "code_version": "abc1234",
            "extra": {"dataset_version": "2024-01"},
        },
    )

    reread = ModelRegistry(RegistryConfig(root=storage_root)).get_model_metadata(MODEL, "v1")

    assert reread.metrics.accuracy == 0.93
    assert reread.metrics.loss == 0.21
    assert reread.metrics.extra == {"latency_ms": 4.5}
    assert reread.params == {"learning_rate": 0.001, "epochs": 12, "optimizer": "adam", "shuffle": True, "seed": None}
    assert reread.description == "two-tower recommender, weekly retrain"
    assert reread.tags == ("eyewear", "weekly")
    assert reread.lineage.training_data_uris == ("gs://data/train-0001.tfrecord",)
    assert reread.lineage.pipeline_run == "train-and-register-20240101"
    assert reread.lineage.code_version == "abc1234"
    assert reread.lineage.extra == {"dataset_version": "2024-01"}


def test_the_framework_is_detected_as_tensorflow_when_saved_model_pb_is_present(
    registry: ModelRegistry, make_artifact: Callable[..., Path]
) -> None:
    folder = make_artifact(files={"saved_model.pb": b"\x08\x01", "variables/variables.index": b"index"})

    assert registry.register_model(MODEL, folder).framework == "tensorflow"


def test_an_explicit_framework_wins_over_detection(registry: ModelRegistry, make_artifact: Callable[..., Path]) -> None:
    folder = make_artifact(files={"saved_model.pb": b"\x08\x01"})

    assert registry.register_model(MODEL, folder, framework="custom").framework == "custom"


def test_artifact_paths_that_overlap_a_local_registry_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "outer" / "registry"
    registry = ModelRegistry(RegistryConfig(root=str(root)))
    (tmp_path / "outer" / "model.bin").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "outer" / "model.bin").write_bytes(b"weights")
    registry.register_model("inner", tmp_path / "outer" / "model.bin", registered_by="alice")

    with pytest.raises(InvalidInputError, match="overlaps the registry root"):
        registry.register_model("loop", tmp_path / "outer", registered_by="alice")
    with pytest.raises(InvalidInputError, match="overlaps the registry root"):
        registry.register_model("loop", root / "artifacts", registered_by="alice")
    assert registry.list_models() == ["inner"]


@pytest.mark.parametrize("bad", ["", "/definitely/absent", "with\x00nul"])
def test_missing_or_malformed_artifact_paths_are_invalid_input(registry: ModelRegistry, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        registry.register_model(MODEL, bad, registered_by="alice")


def test_an_empty_artifact_folder_is_invalid_input(registry: ModelRegistry, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    with pytest.raises(InvalidInputError, match="contains no files"):
        registry.register_model(MODEL, tmp_path / "empty", registered_by="alice")


def test_progress_of_a_registration_counts_every_artifact_byte(
    registry: ModelRegistry, make_artifact: Callable[..., Path]
) -> None:
    folder = make_artifact(files={"weights.bin": b"w" * 2_000_000, "config.json": b"{}"})
    reported: list[int] = []

    registry.register_model(MODEL, folder, progress=reported.append)

    assert reported == sorted(reported)
    assert reported[-1] == 2_000_002


def test_artifact_path_reports_download_progress_only_when_it_downloads(
    registry: ModelRegistry, make_artifact: Callable[..., Path], storage_root: str
) -> None:
    registry.register_model(MODEL, make_artifact(files={"weights.bin": b"w" * 300_000}))
    reported: list[int] = []

    registry.artifact_path(MODEL, "v1", progress=reported.append)
    registry.artifact_path(MODEL, "v1", progress=reported.append)  # from the download cache: nothing to report

    if storage_root.startswith("gs://"):
        assert reported == sorted(reported)  # one download: a second one would start again from a small total
        assert reported[-1] == 300_000
    else:
        assert reported == []  # a local registry is verified in place, never copied


class _AnswerLostAfterTheHeadWrite:
    """A backend whose next head write lands, then fails with an error that is neither a StorageError nor a conflict."""

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner
        self.armed = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def compare_and_swap(self, key: str, data: bytes, generation: str) -> str:
        written = self.inner.compare_and_swap(key, data, generation)
        if self.armed and key.startswith("heads/"):
            self.armed = False
            raise CorruptRecordError("the answer to the head write could not be read")
        return written


def test_a_registration_that_fails_after_its_head_write_landed_keeps_the_version_whole(
    storage_root: str, register: Callable[..., ModelMetadata], make_artifact: Callable[..., Path]
) -> None:
    register()
    flaky = _AnswerLostAfterTheHeadWrite(open_storage(storage_root))
    registry = ModelRegistry(RegistryConfig(root=storage_root), storage=flaky)  # type: ignore[arg-type]

    with pytest.raises(CorruptRecordError):
        registry.register_model(MODEL, make_artifact(), registered_by=REGISTRANT)

    # The head lists v2: its version file and its artifacts must still be there (they were removed before).
    fresh = ModelRegistry(RegistryConfig(root=storage_root))
    assert [row.version for row in fresh.list_versions(MODEL)] == ["v1", "v2"]
    assert fresh.get_model_metadata(MODEL, "v2").version == "v2"
    fresh.artifact_path(MODEL, "v2")  # verified against its manifest
    assert fresh.check().ok


class _AnswerLostWhileOthersSeal:
    """A backend whose next head write lands, then others write (`others`), then it answers with a conflict."""

    def __init__(self, inner: StorageBackend, others: Callable[[], None]) -> None:
        self.inner = inner
        self.others = others
        self.armed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def compare_and_swap(self, key: str, data: bytes, generation: str) -> str:
        written = self.inner.compare_and_swap(key, data, generation)
        if self.armed and key.startswith("heads/"):
            self.armed = False
            self.others()
            raise ConflictError("precondition failed: the retry of a write whose answer was lost met that write")
        return written


def test_a_change_whose_landed_write_was_sealed_meanwhile_is_not_applied_twice(
    storage_root: str, register: Callable[..., ModelMetadata]
) -> None:
    register()
    other = ModelRegistry(RegistryConfig(root=storage_root))

    def others_write() -> None:  # enough entries that the approval's leaves the head's tail for a sealed segment
        for index in range(TAIL_HIGH + SEAL_SIZE):
            other.annotate(MODEL, "v1", {"note": str(index)}, actor="bob")

    flaky = _AnswerLostWhileOthersSeal(open_storage(storage_root), others_write)
    registry = ModelRegistry(RegistryConfig(root=storage_root), storage=flaky)  # type: ignore[arg-type]
    flaky.armed = True

    registry.approve(MODEL, "v1", S.PRODUCTION, approver="reviewer", comment="looks good")

    approvals = [e for e in other.history(MODEL) if e.action is HistoryAction.APPROVED]
    assert [e.actor for e in approvals] == ["reviewer"]  # once, though the retry no longer finds it in the head
    assert len(other.get_model_metadata(MODEL, "v1").approvals) == 1


def test_a_registration_whose_landed_write_left_the_working_set_meanwhile_returns_its_version(
    storage_root: str, register: Callable[..., ModelMetadata], make_artifact: Callable[..., Path]
) -> None:
    register()
    other = ModelRegistry(RegistryConfig(root=storage_root))

    def others_register() -> None:  # enough newer versions that v2 leaves the head's working set
        for _ in range(HOT_HIGH + 1):
            other.register_model(MODEL, make_artifact(), registered_by="bob")

    flaky = _AnswerLostWhileOthersSeal(open_storage(storage_root), others_register)
    registry = ModelRegistry(RegistryConfig(root=storage_root), storage=flaky)  # type: ignore[arg-type]
    folder = make_artifact()
    flaky.armed = True

    registered = registry.register_model(MODEL, folder, registered_by=REGISTRANT)

    assert registered.version == "v2"
    assert registered.registered_by == REGISTRANT
    assert "v2" not in json.loads(open_storage(storage_root).read(f"heads/{MODEL}.json"))["hot"]
    assert other.get_model_metadata(MODEL, "v2").artifact_digest == registered.artifact_digest
    assert other.check().ok
