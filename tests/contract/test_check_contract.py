"""check and check --gc judge what documents mean, and never remove what they cannot prove unused (both backends).

Each test damages what the registry stored through a second backend on the same root (`storage`), the way a hand
edit, a bad restore or a bug would, then runs check.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from registry_core import ModelMetadata, ModelRegistry, ModelStage, RegistryConfig
from registry_core.deploy import DeploymentTarget, DeployResult, EndpointRecord, Prediction
from registry_core.maintenance import CheckReport
from registry_core.storage import StorageBackend

MODEL = "churn"
DOC = f"models/{MODEL}.json"
REGISTRANT, APPROVER = "alice", "bob"


class RecordingTarget(DeploymentTarget):
    """Serves nothing: it issues ids, so endpoint records can be made without TensorFlow."""

    kind: ClassVar[str] = "recording"

    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        return DeployResult(deployed_id=uuid.uuid4().hex[:12])

    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        pass

    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        pass

    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        raise NotImplementedError

    def needs_local_artifacts(self) -> bool:
        return False


@pytest.fixture
def registry(storage_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    """v1 in production (approved by bob), v2 in staging, both registered by alice."""
    monkeypatch.setenv("MODEL_REGISTRY_CACHE", str(tmp_path / "download-cache"))
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    for n in (1, 2):
        folder = tmp_path / f"export-{n}"
        (folder / "variables").mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(f"graph {n}".encode())
        (folder / "variables" / "variables.data").write_bytes(f"weights {n}".encode())
        registry.register_model(MODEL, folder, registered_by=REGISTRANT)
    for label, last in (("v1", ModelStage.PRODUCTION), ("v2", ModelStage.STAGING)):
        for stage in (ModelStage.VALIDATION, ModelStage.STAGING, ModelStage.PRODUCTION):
            approver = APPROVER if stage is ModelStage.PRODUCTION else None
            registry.promote_model(MODEL, label, stage, approved_by=approver, actor="carol")
            if stage is last:
                break
    return registry


def edit(storage: StorageBackend, change: Callable[[dict[str, Any]], object], key: str = DOC) -> None:
    """Rewrite the JSON document at `key` with `change` applied (a hand edit)."""
    document = json.loads(storage.read(key))
    change(document)
    storage.write(key, json.dumps(document).encode())


def version(document: dict[str, Any], label: str) -> dict[str, Any]:
    return next(v for v in document["versions"] if v["version"] == label)


def messages(report: CheckReport, kind: str = "invalid_record") -> list[str]:
    return [p.message for p in report.problems if p.kind == kind]


def uploads(storage: StorageBackend) -> list[str]:
    return storage.list(f"artifacts/{MODEL}/")


def test_a_clean_registry_with_deployments_and_a_rollback_has_no_problems(registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", target=RecordingTarget(), actor="carol")
    registry.promote_model(MODEL, "v2", ModelStage.PRODUCTION, approved_by=APPROVER, actor="carol")
    registry.rollback(MODEL, reason="v2 misbehaves", actor="carol")

    report = registry.check(deep=True)

    assert report.problems == []
    assert (report.models_checked, report.versions_checked, report.endpoints_checked) == (1, 2, 1)


def test_gc_keeps_the_uploads_of_a_model_whose_document_became_a_folder(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    stored = uploads(storage)
    storage.delete(DOC)
    storage.write(f"{DOC}/recovered.json", b"{}")  # a folder where the document was

    report = registry.check(gc=True)

    assert report.removed == []
    assert uploads(storage) == stored
    assert [(p.kind, p.key) for p in report.problems if p.kind == "unreadable_record"] == [("unreadable_record", DOC)]
    assert "is a folder, not a file" in messages(report, "unreadable_record")[0]
    kept = [p for p in report.problems if p.kind == "kept_upload"]
    assert len(kept) == 2  # v1's and v2's uploads, each said to be kept and why
    assert all("is a folder, not a file" in p.message for p in kept)
    assert not report.ok


def test_gc_keeps_the_uploads_of_a_model_whose_document_is_corrupt_and_says_why(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    stored = uploads(storage)
    storage.write(DOC, b'{"name": ')

    report = registry.check(gc=True)

    assert report.removed == []
    assert uploads(storage) == stored
    assert {p.kind for p in report.problems} == {"corrupt_record", "kept_upload"}
    assert all("corrupt record models/churn.json" in p.message for p in report.problems if p.kind == "kept_upload")


def test_two_versions_labelled_v1_are_reported_and_hold_gc(registry: ModelRegistry, storage: StorageBackend) -> None:
    leftover = f"artifacts/{MODEL}/20240101T000000-0123456789ab"
    storage.write(f"{leftover}/model.json", b"{}")  # unreferenced: a leftover, if the document could be trusted
    stored = uploads(storage)
    edit(storage, lambda d: version(d, "v2").update(version="v1", stage="development", stage_history=[]))

    report = registry.check(gc=True)

    assert "version 'v1' appears 2 times" in messages(report)
    assert report.removed == []
    assert uploads(storage) == stored
    assert [(p.kind, p.key) for p in report.problems if p.key == leftover] == [("kept_upload", leftover)]
    assert not report.ok


def test_two_production_versions_are_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    def second_holder(document: dict[str, Any]) -> None:
        v2 = version(document, "v2")
        v2["stage"] = "production"
        v2["stage_history"].append({**v2["stage_history"][-1], "from_stage": "staging", "to_stage": "production"})

    edit(storage, second_holder)

    problems = messages(registry.check())

    assert "2 versions are in production (v1, v2); at most one may be" in problems
    assert "v2: it is in production without an approval by someone other than alice bound to its artifacts" in problems


def test_a_production_version_without_its_approval_is_reported(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    edit(storage, lambda d: version(d, "v1").update(approvals=[]))

    assert messages(registry.check()) == [
        "v1: it is in production without an approval by someone other than alice bound to its artifacts"
    ]


def test_an_approval_bound_to_other_artifacts_is_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, lambda d: version(d, "v1")["approvals"][0].update(artifact_digest="sha256:" + "0" * 64))

    problems = messages(registry.check())

    assert any("v1: the approval by 'bob' for production is bound to other artifacts" in p for p in problems)
    assert "v1: it is in production without an approval by someone other than alice bound to its artifacts" in problems


def test_a_self_approval_does_not_count_under_four_eyes(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, lambda d: version(d, "v1")["approvals"][0].update(approver=REGISTRANT))

    assert any("without an approval by someone other than alice" in p for p in messages(registry.check()))
    lenient = ModelRegistry(RegistryConfig(root=registry.storage.uri, enforce_four_eyes=False))
    assert messages(lenient.check()) == []


def test_a_stage_that_its_histories_do_not_reach_is_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, lambda d: version(d, "v2").update(stage="archived"))

    problems = messages(registry.check())

    assert "v2: it is in archived, but its stage history ends in staging" in problems
    assert "v2: it is in archived, but the history last moved it to staging" in problems


def test_a_broken_stage_history_chain_is_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, lambda d: version(d, "v2")["stage_history"].pop(0))  # development -> validation is gone

    problems = messages(registry.check())

    assert any(p.startswith("v2: its stage history moves it from validation to staging") for p in problems)


def test_history_of_unknown_versions_and_missing_registrations_is_reported(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    def rewrite(document: dict[str, Any]) -> None:
        document["history"] = [e for e in document["history"] if e["version"] != "v2" or e["action"] != "registered"]
        document["history"].append({**document["history"][0], "id": uuid.uuid4().hex, "version": "v9"})

    edit(storage, rewrite)

    problems = messages(registry.check())

    assert "the history names versions that do not exist: ['v9']" in problems
    assert "v2: the history has no registration of it" in problems


def test_an_endpoint_serving_a_missing_version_or_other_artifacts_is_reported(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", target=RecordingTarget(), actor="carol")
    registry.deploy_model(
        MODEL, "v2", endpoint_name="shop", target=RecordingTarget(), actor="carol", traffic_percent=10
    )

    def rewrite(document: dict[str, Any]) -> None:
        document["deployments"][0]["version"] = "v9"
        document["deployments"][1]["artifact_digest"] = "sha256:" + "1" * 64

    edit(storage, rewrite, "endpoints/shop.json")
    report = registry.check(gc=True)

    problems = [(p.key, p.message) for p in report.problems]
    assert len(problems) == 2, problems
    assert problems[0][0] == "endpoints/shop.json"
    assert problems[0][1].endswith("(churn v9): the model has no version 'v9'")
    assert problems[1][1].endswith(f"(churn v2): deployed with artifacts sha256:{'1' * 64}, not the version's")


def test_a_corrupt_endpoint_document_is_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    storage.write("endpoints/shop.json", b"[]")

    report = registry.check()

    assert [(p.kind, p.key) for p in report.problems] == [("corrupt_record", "endpoints/shop.json")]


def test_gc_keeps_uploads_of_a_model_whose_document_is_an_empty_folder(tmp_path: Path) -> None:
    # only a local registry can hold an empty folder: no listing shows it, only reading the document does
    registry = ModelRegistry(RegistryConfig(root=str(tmp_path / "registry")))
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    registry.register_model(MODEL, folder)
    root = tmp_path / "registry"
    os.remove(root / DOC)
    os.mkdir(root / DOC)

    report = registry.check(gc=True)

    assert report.removed == []
    assert len(registry.storage.list(f"artifacts/{MODEL}/")) == 1
    assert [p.kind for p in report.problems] == ["unreadable_record", "kept_upload"]
    assert "cannot be read" in report.problems[0].message


def test_a_file_under_pending_that_is_no_marker_is_left_alone(registry: ModelRegistry, storage: StorageBackend) -> None:
    storage.write("pending/stray.json", b"{}")  # no pending/<model>/<upload-id>.json: nothing a registration wrote

    report = registry.check(gc=True)

    assert report.problems == []
    assert storage.read("pending/stray.json") == b"{}"
