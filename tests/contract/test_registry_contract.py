"""Contract of ModelRegistry: every behaviour runs on the local filesystem and on GCS (fake-gcs-server).

The `storage_root` fixture (tests/conftest.py) is parametrized over both backends; the `storage` fixture is a
second, independent backend on the same root that tests use to look at (or damage) what the registry stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_core import (
    ALLOWED_TRANSITIONS,
    ApprovalError,
    ApprovalRequiredError,
    ArtifactIntegrityError,
    CorruptRecordError,
    HistoryAction,
    InvalidInputError,
    InvalidNameError,
    InvalidTransitionError,
    InvalidVersionError,
    LifecycleError,
    ModelMetadata,
    ModelNotFoundError,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
    RegistryError,
    RegistryRootNotFoundError,
    VersionConflictError,
    VersionNotFoundError,
)
from registry_core.maintenance import PendingMarker
from registry_core.storage import StorageBackend

S = ModelStage
REGISTRANT = "alice"
APPROVER = "bob"
OPERATOR = "carol"
MODEL = "churn"
DOC = f"models/{MODEL}.json"


# ------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test downloads GCS artifacts into its own cache, so a verified copy from another test never hides
    # a damaged object; and the default actor is fixed, so histories do not depend on who runs the tests.
    monkeypatch.setenv("MODEL_REGISTRY_CACHE", str(tmp_path / "download-cache"))
    monkeypatch.setenv("MODEL_REGISTRY_USER", "default-user")


@pytest.fixture
def registry(storage_root: str) -> ModelRegistry:
    return ModelRegistry(RegistryConfig(root=storage_root))


@pytest.fixture
def make_artifact(tmp_path: Path) -> Callable[..., Path]:
    """Return a factory of small artifact folders (two files, one in a subfolder), distinct unless `content` repeats."""
    counter = itertools.count(1)

    def make(content: str | None = None, *, files: dict[str, bytes] | None = None) -> Path:
        n = next(counter)
        folder = tmp_path / "artifacts-in" / f"model-{n}"
        body = content if content is not None else f"weights of model {n}"
        layout = (
            files
            if files is not None
            else {
                "model.json": json.dumps({"layers": 3, "body": body}).encode(),
                "variables/variables.data": body.encode() * 5,
            }
        )
        for rel, data in layout.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return folder

    return make


@pytest.fixture
def register(registry: ModelRegistry, make_artifact: Callable[..., Path]) -> Callable[..., ModelMetadata]:
    """Return a helper registering a fresh artifact folder as `REGISTRANT` (keyword arguments pass through)."""

    def reg(name: str = MODEL, content: str | None = None, **kwargs: Any) -> ModelMetadata:
        kwargs.setdefault("registered_by", REGISTRANT)
        return registry.register_model(name, make_artifact(content), **kwargs)

    return reg


# -------------------------------------------------------------------------------------------------- helpers


def _path_to(stage: ModelStage) -> list[ModelStage]:
    """Return the shortest chain of allowed steps from DEVELOPMENT to `stage` (breadth-first over the table)."""
    paths: dict[ModelStage, list[ModelStage]] = {S.DEVELOPMENT: []}
    queue = deque([S.DEVELOPMENT])
    while queue:
        current = queue.popleft()
        for target in sorted(ALLOWED_TRANSITIONS[current], key=list(ModelStage).index):
            if target not in paths:
                paths[target] = [*paths[current], target]
                queue.append(target)
    return paths[stage]


def _drive(registry: ModelRegistry, version: str, stage: ModelStage, name: str = MODEL) -> ModelMetadata:
    """Move `version` into `stage` through allowed steps, with approvals where the config asks for them."""
    metadata = registry.get_model_metadata(name, version)
    for step in _path_to(stage):
        approver = APPROVER if step in registry.config.approval_required_stages else None
        metadata = registry.promote_model(name, version, step, approved_by=approver, actor=OPERATOR)
    return metadata


def _artifact_key(storage: StorageBackend, metadata: ModelMetadata) -> str:
    root = storage.uri.rstrip("/") + "/"
    assert metadata.artifact_uri.startswith(root)
    return metadata.artifact_uri[len(root) :]


def _stages(registry: ModelRegistry, name: str = MODEL) -> dict[str, ModelStage]:
    return {m.version: m.stage for m in registry.list_versions(name)}


def _problems(report: Any, kind: str) -> list[str]:
    return [p.key for p in report.problems if p.kind == kind]


# ---------------------------------------------------------------------------------------------- registration


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

    assert [m.model_id for m in registry.list_versions(MODEL)] == [first.model_id]
    report = registry.check()
    assert report.ok, report.problems
    assert storage.list("pending/") == []
    kept = _artifact_key(storage, first) + "/"
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


# --------------------------------------------------------------------------------------------------- reading


def test_list_models_returns_every_model_name_sorted(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for name in ("zeta", "alpha", "mid-model"):
        register(name)

    assert registry.list_models() == ["alpha", "mid-model", "zeta"]


def test_list_models_of_an_empty_existing_registry_is_empty(registry: ModelRegistry, storage: StorageBackend) -> None:
    storage.write("README", b"an empty registry")  # makes the local root folder exist

    assert registry.list_models() == []


def test_list_versions_orders_labels_numerically(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for _ in range(11):
        register()

    labels = [m.version for m in registry.list_versions(MODEL)]

    assert labels == [f"v{n}" for n in range(1, 12)]
    assert labels.index("v2") < labels.index("v10")


def test_get_model_metadata_without_version_or_stage_returns_the_latest_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    latest = register()

    assert registry.get_model_metadata(MODEL) == latest


def test_get_model_metadata_by_version_returns_that_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    first = register()
    register()

    assert registry.get_model_metadata(MODEL, "v1") == first


def test_get_model_metadata_by_stage_returns_the_latest_version_in_that_stage(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for _ in range(3):
        register()
    _drive(registry, "v1", S.STAGING)
    _drive(registry, "v2", S.STAGING)

    found = registry.get_model_metadata(MODEL, stage="staging")

    assert (found.version, found.stage) == ("v2", S.STAGING)


def test_get_model_metadata_by_version_and_stage_returns_the_version_when_both_agree(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(registry, "v1", S.VALIDATION)

    assert registry.get_model_metadata(MODEL, version="v1", stage=S.VALIDATION).version == "v1"


def test_get_model_metadata_by_version_in_another_stage_raises_version_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(VersionNotFoundError, match="development"):
        registry.get_model_metadata(MODEL, version="v1", stage=S.PRODUCTION)


def test_get_model_metadata_for_a_stage_without_versions_raises_version_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(VersionNotFoundError, match="production"):
        registry.get_model_metadata(MODEL, stage="production")


def test_a_bare_number_is_normalized_to_a_v_label(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for _ in range(3):
        register()

    assert registry.get_model_metadata(MODEL, "3").version == "v3"


def test_an_unknown_model_raises_model_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(ModelNotFoundError, match="nonexistent"):
        registry.get_model_metadata("nonexistent")
    with pytest.raises(ModelNotFoundError):
        registry.list_versions("nonexistent")


def test_an_unknown_version_raises_version_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(VersionNotFoundError, match="v9"):
        registry.get_model_metadata(MODEL, "v9")


# ------------------------------------------------------------------------------------------------- lifecycle

_PAIRS = [(a, b) for a in ModelStage for b in ModelStage]
_ALLOWED = [(a, b) for a, b in _PAIRS if b in ALLOWED_TRANSITIONS[a]]
_REFUSED = [(a, b) for a, b in _PAIRS if b not in ALLOWED_TRANSITIONS[a]]


def _pair_id(pair: tuple[ModelStage, ModelStage]) -> str:
    return f"{pair[0].value}-to-{pair[1].value}"


@pytest.mark.parametrize(("start", "target"), _ALLOWED, ids=map(_pair_id, _ALLOWED))
def test_every_allowed_transition_moves_the_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], start: ModelStage, target: ModelStage
) -> None:
    register()
    _drive(registry, "v1", start)
    approver = APPROVER if target in registry.config.approval_required_stages else None

    moved = registry.promote_model(MODEL, "v1", target, approved_by=approver, reason="table", actor=OPERATOR)

    assert moved.stage is target
    assert (moved.stage_history[-1].from_stage, moved.stage_history[-1].to_stage) == (start, target)
    assert registry.get_model_metadata(MODEL, "v1").stage is target


@pytest.mark.parametrize(("start", "target"), _REFUSED, ids=map(_pair_id, _REFUSED))
def test_every_refused_transition_raises_invalid_transition_naming_the_allowed_stages(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], start: ModelStage, target: ModelStage
) -> None:
    register()
    _drive(registry, "v1", start)
    before = registry.get_model_metadata(MODEL, "v1")

    with pytest.raises(InvalidTransitionError) as caught:
        registry.promote_model(MODEL, "v1", target, approved_by=APPROVER, actor=OPERATOR)

    message = str(caught.value)
    assert all(stage.value in message for stage in ALLOWED_TRANSITIONS[start]), message
    assert registry.get_model_metadata(MODEL, "v1") == before


def test_a_stage_is_accepted_by_name_in_any_case(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    assert registry.promote_model(MODEL, "v1", " Validation ").stage is S.VALIDATION


def test_promoting_to_production_without_an_approval_raises_approval_required(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(registry, "v1", S.STAGING)

    with pytest.raises(ApprovalRequiredError, match=REGISTRANT):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)

    assert registry.get_model_metadata(MODEL, "v1").stage is S.STAGING


def test_an_approval_given_beforehand_allows_production(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(registry, "v1", S.STAGING)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER, comment="reviewed eval report")

    moved = registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)

    assert moved.stage is S.PRODUCTION
    assert moved.stage_history[-1].approvals == (APPROVER,)


def test_the_registrant_cannot_approve_their_own_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(registry, "v1", S.STAGING)

    with pytest.raises(ApprovalError, match="four-eyes"):
        registry.approve(MODEL, "v1", S.PRODUCTION, REGISTRANT.upper())

    assert registry.get_model_metadata(MODEL, "v1").approvals == ()


def test_the_registrant_cannot_promote_with_their_own_approved_by(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(registry, "v1", S.STAGING)

    with pytest.raises(ApprovalError, match="four-eyes"):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, approved_by=REGISTRANT, actor=OPERATOR)

    assert registry.get_model_metadata(MODEL, "v1").stage is S.STAGING


def test_with_four_eyes_off_the_registrant_may_approve_their_own_version(
    storage_root: str, make_artifact: Callable[..., Path]
) -> None:
    registry = ModelRegistry(RegistryConfig(root=storage_root, enforce_four_eyes=False))
    registry.register_model(MODEL, make_artifact(), registered_by=REGISTRANT)
    _drive(registry, "v1", S.STAGING)

    moved = registry.promote_model(MODEL, "v1", S.PRODUCTION, approved_by=REGISTRANT, actor=REGISTRANT)

    assert moved.stage is S.PRODUCTION
    assert moved.stage_history[-1].approvals == (REGISTRANT,)


def test_an_approval_is_bound_to_the_artifact_digest_and_the_stage(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    metadata = register()

    approved = registry.approve(MODEL, "v1", "production", APPROVER, comment="ok")

    (approval,) = approved.approvals
    assert approval.artifact_digest == metadata.artifact_digest
    assert approval.stage is S.PRODUCTION
    assert (approval.approver, approval.comment) == (APPROVER, "ok")


def test_an_approval_for_another_artifact_digest_does_not_allow_production(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    register()
    _drive(registry, "v1", S.STAGING)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER)
    # An approval whose digest is not the version's (e.g. copied over from another version) must not count.
    document = json.loads(storage.read(DOC))
    document["versions"][0]["approvals"][0]["artifact_digest"] = "sha256:" + "0" * 64
    storage.write(DOC, json.dumps(document).encode())

    with pytest.raises(ApprovalRequiredError):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)


def test_an_approval_for_staging_does_not_allow_production(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(registry, "v1", S.VALIDATION)
    registry.approve(MODEL, "v1", S.STAGING, APPROVER)
    registry.promote_model(MODEL, "v1", S.STAGING, actor=OPERATOR)

    with pytest.raises(ApprovalRequiredError):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)


def test_an_approval_is_used_only_once(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> None:
    register()
    _drive(registry, "v1", S.STAGING)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER)
    registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)
    registry.promote_model(MODEL, "v1", S.STAGING, reason="hotfix pending", actor=OPERATOR)

    with pytest.raises(ApprovalRequiredError):
        registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR)

    registry.approve(MODEL, "v1", S.PRODUCTION, "dave")
    assert registry.promote_model(MODEL, "v1", S.PRODUCTION, actor=OPERATOR).stage is S.PRODUCTION


def test_an_archived_version_cannot_be_approved(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    registry.archive_model(MODEL, "v1", reason="superseded", actor=OPERATOR)

    with pytest.raises(LifecycleError, match="archived"):
        registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER)


def test_promoting_to_production_archives_the_previous_holder_in_the_same_write(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    register()
    _drive(registry, "v1", S.PRODUCTION)
    _drive(registry, "v2", S.STAGING)
    entries_before = len(registry.history(MODEL))

    registry.promote_model(MODEL, "v2", S.PRODUCTION, approved_by=APPROVER, reason="better auc", actor=OPERATOR)

    assert _stages(registry) == {"v1": S.ARCHIVED, "v2": S.PRODUCTION}
    v1, v2 = registry.list_versions(MODEL)
    archived, promoted = v1.stage_history[-1], v2.stage_history[-1]
    assert (archived.from_stage, archived.to_stage, archived.cause) == (S.PRODUCTION, S.ARCHIVED, "superseded")
    assert "v2" in archived.reason
    assert archived.changed_at == promoted.changed_at  # decided and written together
    new_entries = registry.history(MODEL)[entries_before:]
    assert [(e.action, e.version, e.from_stage, e.to_stage) for e in new_entries] == [
        (HistoryAction.APPROVED, "v2", None, S.PRODUCTION),
        (HistoryAction.STAGE_CHANGED, "v2", S.STAGING, S.PRODUCTION),
        (HistoryAction.STAGE_CHANGED, "v1", S.PRODUCTION, S.ARCHIVED),
    ]
    assert new_entries[0].actor == APPROVER


def test_at_most_one_version_is_in_production(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> None:
    for version in ("v1", "v2", "v3"):
        register()
        _drive(registry, version, S.PRODUCTION)

    assert [m.version for m in registry.list_versions(MODEL) if m.stage is S.PRODUCTION] == ["v3"]


def test_every_stage_change_records_who_when_why_and_the_approvals_used(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    registry.promote_model(MODEL, "v1", S.VALIDATION, reason="eval started", actor=OPERATOR)
    registry.promote_model(MODEL, "v1", S.STAGING, reason="eval passed", actor=OPERATOR)
    registry.approve(MODEL, "v1", S.PRODUCTION, APPROVER, comment="signed off")

    final = registry.promote_model(MODEL, "v1", S.PRODUCTION, reason="go live", actor="dave")

    assert [(c.from_stage, c.to_stage, c.changed_by, c.reason, c.approvals) for c in final.stage_history] == [
        (S.DEVELOPMENT, S.VALIDATION, OPERATOR, "eval started", ()),
        (S.VALIDATION, S.STAGING, OPERATOR, "eval passed", ()),
        (S.STAGING, S.PRODUCTION, "dave", "go live", (APPROVER,)),
    ]
    times = [c.changed_at for c in final.stage_history]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)
    changes = [e for e in registry.history(MODEL) if e.action is HistoryAction.STAGE_CHANGED]
    assert [(e.actor, e.to_stage, e.reason) for e in changes] == [
        (OPERATOR, S.VALIDATION, "eval started"),
        (OPERATOR, S.STAGING, "eval passed"),
        ("dave", S.PRODUCTION, "go live"),
    ]
    assert changes[-1].details == {"approved_by": APPROVER}


def test_the_default_actor_is_the_current_user(registry: ModelRegistry, make_artifact: Callable[..., Path]) -> None:
    metadata = registry.register_model(MODEL, make_artifact())

    moved = registry.promote_model(MODEL, "v1", S.VALIDATION)

    assert metadata.registered_by == "default-user"
    assert moved.stage_history[-1].changed_by == "default-user"


# -------------------------------------------------------------------------------------------------- rollback


@pytest.fixture
def two_in_production(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> ModelRegistry:
    """v1 served production, then v2 replaced it."""
    register()
    register()
    _drive(registry, "v1", S.PRODUCTION)
    _drive(registry, "v2", S.PRODUCTION)
    return registry


def test_rollback_restores_the_previous_production_version_and_archives_the_current_one(
    two_in_production: ModelRegistry,
) -> None:
    restored = two_in_production.rollback(MODEL, reason="latency regression", actor=OPERATOR)

    assert (restored.version, restored.stage) == ("v1", S.PRODUCTION)
    assert _stages(two_in_production) == {"v1": S.PRODUCTION, "v2": S.ARCHIVED}
    assert restored.stage_history[-1].cause == "rollback"


def test_rollback_records_a_rolled_back_history_entry_with_the_reason(two_in_production: ModelRegistry) -> None:
    two_in_production.rollback(MODEL, reason="latency regression", actor=OPERATOR)

    entry = two_in_production.history(MODEL)[-1]
    assert (entry.action, entry.version, entry.actor, entry.reason) == (
        HistoryAction.ROLLED_BACK,
        "v1",
        OPERATOR,
        "latency regression",
    )
    assert entry.to_stage is S.PRODUCTION
    assert entry.details["from_version"] == "v2"


def test_rollback_to_an_explicit_earlier_production_version(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for version in ("v1", "v2", "v3"):
        register()
        _drive(registry, version, S.PRODUCTION)

    restored = registry.rollback(MODEL, to_version="1", reason="known good", actor=OPERATOR)

    assert restored.version == "v1"
    assert _stages(registry) == {"v1": S.PRODUCTION, "v2": S.ARCHIVED, "v3": S.ARCHIVED}


def test_rollback_to_a_version_that_never_served_raises_lifecycle_error(
    two_in_production: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(two_in_production, "v3", S.STAGING)

    with pytest.raises(LifecycleError, match="never been in production"):
        two_in_production.rollback(MODEL, to_version="v3", actor=OPERATOR)

    assert _stages(two_in_production)["v2"] is S.PRODUCTION


def test_rollback_without_an_earlier_production_version_raises_lifecycle_error(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    _drive(registry, "v1", S.PRODUCTION)

    with pytest.raises(LifecycleError, match="no earlier production version"):
        registry.rollback(MODEL, actor=OPERATOR)

    assert _stages(registry) == {"v1": S.PRODUCTION}


def test_rollback_of_a_model_that_never_served_raises_lifecycle_error(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(LifecycleError):
        registry.rollback(MODEL, actor=OPERATOR)


def test_a_second_rollback_does_not_bounce_back_to_the_version_just_rolled_back_from(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    for version in ("v1", "v2", "v3"):
        register()
        _drive(registry, version, S.PRODUCTION)

    first = registry.rollback(MODEL, reason="v3 bad", actor=OPERATOR)
    second = registry.rollback(MODEL, reason="v2 bad too", actor=OPERATOR)

    assert (first.version, second.version) == ("v2", "v1")
    assert _stages(registry) == {"v1": S.PRODUCTION, "v2": S.ARCHIVED, "v3": S.ARCHIVED}


def test_rollback_needs_no_new_approval(two_in_production: ModelRegistry) -> None:
    v1 = two_in_production.get_model_metadata(MODEL, "v1")
    approvals_before = v1.approvals

    restored = two_in_production.rollback(MODEL, actor=OPERATOR)

    assert restored.approvals == approvals_before


# -------------------------------------------------------------------------------------------------- compare


@pytest.fixture
def three_evaluated(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> ModelRegistry:
    register(metrics={"accuracy": 0.81, "loss": 0.40})
    register(metrics={"accuracy": 0.88, "loss": 0.45, "auc": 0.90})
    register(metrics={"accuracy": 0.85, "loss": 0.31})
    return registry


def test_compare_marks_the_highest_accuracy_and_the_lowest_loss_as_best(three_evaluated: ModelRegistry) -> None:
    comparison = three_evaluated.compare_models(MODEL, ["v1", "v2", "v3"])

    assert comparison.versions == ("v1", "v2", "v3")
    assert comparison.metrics["accuracy"] == {"v1": 0.81, "v2": 0.88, "v3": 0.85}
    assert comparison.best["accuracy"] == "v2"
    assert comparison.best["loss"] == "v3"


def test_compare_restricted_to_some_metrics_shows_only_those(three_evaluated: ModelRegistry) -> None:
    comparison = three_evaluated.compare_models(MODEL, ["1", "3"], metrics=["loss"])

    assert comparison.versions == ("v1", "v3")
    assert comparison.metrics == {"loss": {"v1": 0.40, "v3": 0.31}}
    assert comparison.best == {"loss": "v3"}


def test_compare_shows_none_where_a_version_lacks_a_metric(three_evaluated: ModelRegistry) -> None:
    comparison = three_evaluated.compare_models(MODEL, ["v1", "v2"])

    assert comparison.metrics["auc"] == {"v1": None, "v2": 0.90}
    assert comparison.best["auc"] == "v2"


@pytest.mark.parametrize("versions", [[], ["v1"], "v1"], ids=["none", "one", "a-string"])
def test_compare_with_fewer_than_two_versions_raises_invalid_input(
    three_evaluated: ModelRegistry, versions: Any
) -> None:
    with pytest.raises(InvalidInputError, match="at least two"):
        three_evaluated.compare_models(MODEL, versions)


def test_compare_with_an_unknown_version_raises_version_not_found(three_evaluated: ModelRegistry) -> None:
    with pytest.raises(VersionNotFoundError):
        three_evaluated.compare_models(MODEL, ["v1", "v9"])


# ------------------------------------------------------------------------------------------------- integrity


def _damage(storage: StorageBackend, metadata: ModelMetadata, how: str) -> str:
    """Modify, delete or add one file in the stored artifact folder; return the relative path concerned."""
    folder = _artifact_key(storage, metadata)
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

    assert _problems(report, "missing_artifacts") == [_artifact_key(storage, metadata)]


# ------------------------------------------------------------------------------------------- corrupt records

_GARBAGE: dict[str, Callable[[bytes], bytes]] = {  # how to damage a valid model document
    "garbage": lambda valid: b"\x00\xff not json at all",
    "truncated": lambda valid: valid[: len(valid) // 2],
    "wrong-schema": lambda valid: json.dumps({"name": MODEL, "versions": 5}).encode(),
    "empty": lambda valid: b"",
}


@pytest.mark.parametrize("corruption", list(_GARBAGE))
@pytest.mark.parametrize("reader", ["list_versions", "get_model_metadata", "history"])
def test_a_corrupt_model_record_raises_corrupt_record_error(
    registry: ModelRegistry,
    register: Callable[..., ModelMetadata],
    storage: StorageBackend,
    corruption: str,
    reader: str,
) -> None:
    register()
    storage.write(DOC, _GARBAGE[corruption](storage.read(DOC)))

    with pytest.raises(CorruptRecordError, match=DOC):
        getattr(registry, reader)(MODEL)


@pytest.mark.parametrize("corruption", list(_GARBAGE))
def test_check_reports_a_corrupt_model_record(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend, corruption: str
) -> None:
    register()
    storage.write(DOC, _GARBAGE[corruption](storage.read(DOC)))

    report = registry.check()

    assert _problems(report, "corrupt_record") == [DOC]
    assert not report.ok


def test_gc_keeps_the_artifacts_of_a_model_whose_record_is_corrupt(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    metadata = register()
    storage.write(DOC, b"{")

    report = registry.check(gc=True)

    assert report.removed == []
    assert storage.list(_artifact_key(storage, metadata))


def test_a_corrupt_record_does_not_hide_other_models(
    registry: ModelRegistry, register: Callable[..., ModelMetadata], storage: StorageBackend
) -> None:
    register()
    register("other")
    storage.write(DOC, b"garbage")

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


# ----------------------------------------------------------------------------------------------- check / gc


def test_check_of_a_clean_registry_is_ok(registry: ModelRegistry, register: Callable[..., ModelMetadata]) -> None:
    register()
    register()
    register("other")
    _drive(registry, "v1", S.PRODUCTION)

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

    assert _problems(found, "leftover_upload") == [leftover]
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
    storage.delete(f"{_artifact_key(storage, metadata)}/model.json")

    report = registry.check(gc=True)

    assert _problems(report, "missing_artifacts") == [_artifact_key(storage, metadata)]
    assert "model.json" in report.problems[0].message
    assert not report.ok
    assert report.removed == []


# -------------------------------------------------------------------------------------------------- history


def test_history_lists_registrations_approvals_stage_changes_and_rollbacks_in_order_with_actors(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()
    register(registered_by="erin")
    _drive(registry, "v1", S.PRODUCTION)
    _drive(registry, "v2", S.STAGING)
    registry.approve(MODEL, "v2", S.PRODUCTION, APPROVER, comment="lgtm")
    registry.promote_model(MODEL, "v2", S.PRODUCTION, reason="release", actor=OPERATOR)
    registry.rollback(MODEL, reason="errors spiked", actor="dave")

    history = registry.history(MODEL)

    assert [(e.action.value, e.version, e.actor, e.to_stage) for e in history] == [
        ("registered", "v1", REGISTRANT, S.DEVELOPMENT),
        ("registered", "v2", "erin", S.DEVELOPMENT),
        ("stage_changed", "v1", OPERATOR, S.VALIDATION),
        ("stage_changed", "v1", OPERATOR, S.STAGING),
        ("approved", "v1", APPROVER, S.PRODUCTION),  # inline approval (approved_by=) is logged too
        ("stage_changed", "v1", OPERATOR, S.PRODUCTION),
        ("stage_changed", "v2", OPERATOR, S.VALIDATION),
        ("stage_changed", "v2", OPERATOR, S.STAGING),
        ("approved", "v2", APPROVER, S.PRODUCTION),
        ("stage_changed", "v2", OPERATOR, S.PRODUCTION),
        ("stage_changed", "v1", OPERATOR, S.ARCHIVED),
        ("stage_changed", "v2", "dave", S.ARCHIVED),
        ("rolled_back", "v1", "dave", S.PRODUCTION),
    ]
    assert history[5].details == {"approved_by": APPROVER}
    assert history[8].reason == "lgtm"
    assert history[-1].reason == "errors spiked"
    times = [e.at for e in history]
    assert times == sorted(times)
    assert len({e.id for e in history}) == len(history)


def test_history_of_an_unknown_model_raises_model_not_found(
    registry: ModelRegistry, register: Callable[..., ModelMetadata]
) -> None:
    register()

    with pytest.raises(ModelNotFoundError):
        registry.history("unknown")


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
