"""check and check --gc judge what stored files mean, and never remove what they cannot prove unused (both backends).

Each test damages what the registry stored through a second backend on the same root (`storage`), the way a hand
edit, a bad restore or a bug would, then runs check. A model is a head (``heads/churn.json``) with a version file per
version; a grown one also has state files and an index chunk for the versions that left the head's working set, and
a sealed history segment (see stored_support.py). Where a test is about documents of the old one-document layout
(``models/churn.json``, still read for a model without a head), it writes one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from stored_support import (
    APPROVER,
    COLD,
    GROWN,
    HEAD,
    LEGACY,
    MODEL,
    REGISTRANT,
    Damage,
    edit,
    export,
    hot,
    index_chunk,
    production_and_staging,
    segment,
    state_file,
    to_legacy,
    version_file,
)

from registry_core import ModelMetadata, ModelRegistry, ModelStage, RegistryConfig
from registry_core.deploy import DeploymentTarget, DeployResult, EndpointRecord, Prediction
from registry_core.maintenance import STALE_AFTER, CheckReport, PendingMarker
from registry_core.storage import StorageBackend


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
def registry(storage_root: str, tmp_path: Path) -> ModelRegistry:
    """v1 in production (approved by bob), v2 in staging, both registered by alice."""
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    production_and_staging(registry, tmp_path)
    return registry


def messages(report: CheckReport, kind: str = "invalid_record") -> list[str]:
    return [p.message for p in report.problems if p.kind == kind]


def found(report: CheckReport) -> list[tuple[str, str]]:
    return [(p.kind, p.key) for p in report.problems]


def uploads(storage: StorageBackend) -> list[str]:
    return storage.list(f"artifacts/{MODEL}/")


def add_leftover(storage: StorageBackend | Damage) -> str:
    """An upload no version uses, of a registration without a marker: gc removes it if the model can be trusted."""
    leftover = f"artifacts/{MODEL}/20240101T000000-0123456789ab"
    storage.write(f"{leftover}/model.json", b"{}")
    return leftover


# ------------------------------------------------------------------------------------------------- clean


def test_a_clean_registry_with_deployments_and_a_rollback_has_no_problems(registry: ModelRegistry) -> None:
    registry.deploy_model(MODEL, "v1", endpoint_name="shop", target=RecordingTarget(), actor="carol")
    registry.promote_model(MODEL, "v2", ModelStage.PRODUCTION, approved_by=APPROVER, actor="carol")
    registry.rollback(MODEL, reason="v2 misbehaves", actor="carol")

    report = registry.check(deep=True)

    assert report.problems == []
    assert (report.models_checked, report.versions_checked, report.endpoints_checked) == (1, 2, 1)


def test_a_grown_model_with_state_files_an_index_and_sealed_history_has_no_problems(
    grown: tuple[ModelRegistry, Damage],
) -> None:
    registry, _ = grown

    report = registry.check(deep=True)

    assert report.problems == []
    assert (report.models_checked, report.versions_checked) == (1, GROWN)


def test_a_segment_sealed_by_a_write_that_never_reached_the_head_is_no_problem_and_no_history(
    grown: tuple[ModelRegistry, Damage],
) -> None:
    # A writer seals the oldest entries of the head's tail into the next segment, then writes the head; killed in
    # between, it leaves a segment the head does not count, with entries that are still in the tail.
    registry, damage = grown
    storage = registry.storage
    head = json.loads(storage.read(HEAD))
    first = segment(storage, 0)
    sealed = json.loads(storage.read(first))
    sealed.update(seq=head["segments"], entries=head["tail"][:5], holders_at_start=head["holders_at_tail"])
    key = first.replace("00000000-", f"{head['segments']:08d}-")  # (named after segment 0's first entry: not read)
    history = registry.history(MODEL)
    damage.write(key, json.dumps(sealed).encode())

    assert registry.check().problems == []
    assert registry.history(MODEL) == history


# ------------------------------------------------------------------------------------------------- unreadable files


@pytest.mark.parametrize("layout", ["head", "legacy"])
def test_gc_keeps_the_uploads_of_a_model_whose_document_became_a_folder(
    registry: ModelRegistry, storage: StorageBackend, layout: str
) -> None:
    if layout == "legacy":
        to_legacy(registry)
    document = HEAD if layout == "head" else LEGACY
    stored = uploads(storage)
    files = storage.list(f"versions/{MODEL}/")
    storage.delete(document)
    storage.write(f"{document}/recovered.json", b"{}")  # a folder where the document was

    report = registry.check(gc=True)

    assert report.removed == []
    assert uploads(storage) == stored
    assert storage.list(f"versions/{MODEL}/") == files
    assert [(p.kind, p.key) for p in report.problems if p.kind == "unreadable_record"] == [
        ("unreadable_record", document)
    ]
    assert "is a folder, not a file" in messages(report, "unreadable_record")[0]
    kept = [p for p in report.problems if p.kind == "kept_upload"]
    assert len(kept) == 2  # v1's and v2's uploads, each said to be kept and why
    assert all("is a folder, not a file" in p.message for p in kept)
    kept_files = [p.key for p in report.problems if p.kind == "kept_version_file"]
    assert kept_files == ([version_file("v1"), version_file("v2")] if layout == "head" else [])
    assert not report.ok


@pytest.mark.parametrize("layout", ["head", "legacy"])
def test_gc_keeps_the_uploads_of_a_model_whose_document_is_corrupt_and_says_why(
    registry: ModelRegistry, storage: StorageBackend, layout: str
) -> None:
    if layout == "legacy":
        to_legacy(registry)
    document = HEAD if layout == "head" else LEGACY
    stored = uploads(storage)
    storage.write(document, b'{"name": ')

    report = registry.check(gc=True)

    assert report.removed == []
    assert uploads(storage) == stored
    kept = {"kept_upload", "kept_version_file"} if layout == "head" else {"kept_upload"}
    assert {p.kind for p in report.problems} == {"corrupt_record", *kept}
    assert all(f"corrupt record {document}" in p.message for p in report.problems if p.kind in kept)


@pytest.mark.parametrize("layout", ["head", "legacy"])
def test_gc_keeps_uploads_of_a_model_whose_document_is_an_empty_folder(tmp_path: Path, layout: str) -> None:
    # only a local registry can hold an empty folder: no listing shows it, only reading the document does
    root = tmp_path / "registry"
    registry = ModelRegistry(RegistryConfig(root=str(root)))
    registry.register_model(MODEL, export(tmp_path, 1))
    if layout == "legacy":
        to_legacy(registry)
    document = root / (HEAD if layout == "head" else LEGACY)
    os.remove(document)
    os.mkdir(document)
    stored = registry.storage.list("")

    report = registry.check(gc=True)

    assert report.removed == []
    assert registry.storage.list("") == stored
    kept = ["kept_version_file", "kept_upload"] if layout == "head" else ["kept_upload"]
    assert sorted(p.kind for p in report.problems) == sorted(["unreadable_record", *kept])
    assert "cannot be read" in report.problems[0].message


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
@pytest.mark.parametrize("file", ["state file", "index chunk", "segment"])
def test_a_corrupt_or_missing_file_of_a_grown_model_is_reported_and_gc_keeps_its_uploads(
    grown: tuple[ModelRegistry, Damage], file: str, damage: str
) -> None:
    registry, undo = grown
    storage = registry.storage
    key = {"state file": state_file(COLD), "index chunk": index_chunk(0), "segment": segment(storage, 0)}[file]
    if damage == "corrupt":
        undo.write(key, b'{"rows": ')
    else:
        undo.delete(key)
    add_leftover(undo)
    stored = uploads(storage)

    report = registry.check(gc=True)

    assert report.removed == []
    assert uploads(storage) == stored
    kind = "corrupt_record" if damage == "corrupt" else "missing_record"
    where = "history/churn/" if (file, damage) == ("segment", "missing") else key
    assert [p.key for p in report.problems if p.kind == kind] == [where]
    kept = [p for p in report.problems if p.kind == "kept_upload"]
    assert len(kept) == GROWN + 1  # every version's upload and the leftover: none can be proven unused
    assert not report.ok


def test_a_head_naming_a_version_whose_version_file_is_missing_is_reported_and_gc_keeps_everything(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    storage.delete(version_file("v2"))
    leftover = add_leftover(storage)
    stored = uploads(storage)

    report = registry.check(gc=True)

    assert report.removed == []
    assert uploads(storage) == stored
    assert found(report)[0] == ("missing_record", version_file("v2"))
    assert messages(report, "missing_record") == [
        f"{HEAD} names version v2, but its file {version_file('v2')} is missing"
    ]
    kept = [p.key for p in report.problems if p.kind == "kept_upload"]
    assert kept == sorted({"/".join(key.split("/")[:3]) for key in stored})  # v1's, v2's and the leftover
    assert leftover in kept


def test_a_head_missing_beside_files_of_committed_versions_is_reported_and_gc_keeps_everything(
    grown: tuple[ModelRegistry, Damage],
) -> None:
    registry, damage = grown
    damage.delete(HEAD)

    report = registry.check(gc=True)

    assert report.removed == []
    assert found(report)[0] == ("missing_record", HEAD)
    kinds = [p.kind for p in report.problems]
    assert (kinds.count("kept_upload"), kinds.count("kept_version_file")) == (GROWN, GROWN)
    assert len(kinds) == 1 + 2 * GROWN


# ------------------------------------------------------------------------------------------------- files that disagree

_DISAGREEMENTS: dict[str, tuple[str, Callable[[Any], object], str, str]] = {
    # case: (file edited, the edit, key of the problem, what it says)
    "state file against its index row": (
        state_file(COLD),
        lambda d: d["state"].update(revision=d["state"]["revision"] + 1),
        state_file(COLD),
        f"{COLD}: its state file says development (revision ",
    ),
    "index row against its state file": (
        index_chunk(0),
        lambda d: d["rows"][COLD].update(stage="validation"),
        state_file(COLD),
        f"its index row in {index_chunk(0)} says validation",
    ),
    "brief in a state file": (
        state_file(COLD),
        lambda d: d["brief"].update(registered_by="mallory"),
        state_file(COLD),
        f"{COLD}: its brief disagrees with its index row in {index_chunk(0)} (registered_by)",
    ),
    "facts in a state file against the version file": (
        state_file(COLD),
        lambda d: d["facts"]["params"].update(learning_rate=0.5),
        state_file(COLD),
        f"{COLD}: its copy of the facts disagrees with its version file (params)",
    ),
    "index row against the version file": (
        index_chunk(0),
        lambda d: d["rows"][COLD]["brief"].update(registered_by="mallory"),
        index_chunk(0),
        f"{COLD}: its brief disagrees with its version file (registered_by)",
    ),
    "head's brief against the version file": (
        HEAD,
        lambda d: d["hot"]["v30"]["brief"]["metrics"].update(accuracy=0.99),
        HEAD,
        "v30: its brief disagrees with its version file (metrics)",
    ),
    "a staging version outside the working set": (
        index_chunk(0),
        lambda d: d["rows"][COLD].update(stage="staging"),
        HEAD,
        f"{COLD} is in staging but not in the working set, where readers look for it",
    ),
    "head's latest": (
        HEAD,
        lambda d: d.update(latest="v40"),
        HEAD,
        "the head says its latest version is v40, but it is v41",
    ),
    "head's holders against its sealed history": (
        HEAD,
        lambda d: d.update(holders_at_tail={"production": ["v2"]}),
        HEAD,
        "it says production: v2 before its tail, but the sealed history gives production: v1, staging: v2",
    ),
    "segment's holders": (
        "segment 0",
        lambda d: d.update(holders_at_start={"staging": ["v9"]}),
        "segment 0",
        "it says staging: v9 at its start, but the history before it gives no holders",
    ),
    "a registration dropped from a segment": (
        "segment 0",
        lambda d: d.update(entries=[e for e in d["entries"] if (e["version"], e["action"]) != ("v5", "registered")]),
        HEAD,
        "v5: the history has no registration of it",
    ),
}


@pytest.mark.parametrize("case", list(_DISAGREEMENTS))
def test_files_that_disagree_are_reported_at_the_file_and_hold_gc(
    grown: tuple[ModelRegistry, Damage], case: str
) -> None:
    registry, damage = grown
    storage = registry.storage
    edited, change, key, message = _DISAGREEMENTS[case]
    segment_key = segment(storage, 0)
    edited, key = (segment_key if k == "segment 0" else k for k in (edited, key))
    damage.edit(edited, change)
    leftover = add_leftover(damage)

    report = registry.check(gc=True)

    assert any(p.key == key and message in p.message for p in report.problems), found(report)
    assert all(p.kind in ("invalid_record", "kept_upload", "kept_version_file") for p in report.problems)
    assert ("kept_upload", leftover) in found(report)
    assert report.removed == []


# ------------------------------------------------------------------------------------------------- orphan version files


@pytest.mark.parametrize("marker", ["gone", "abandoned", "in flight"])
def test_an_orphan_version_file_is_removed_once_its_registration_is_dead_never_while_in_flight(
    registry: ModelRegistry, storage: StorageBackend, tmp_path: Path, marker: str
) -> None:
    # What a registration leaves between creating its version file and the head's compare-and-swap: its marker
    # (unless it already cleaned up), its upload and its version file. Killed there, it never commits v3.
    upload_id = "20240101T000000-0123456789ab"
    upload = f"artifacts/{MODEL}/{upload_id}"
    v2 = registry.get_model_metadata(MODEL, "v2")
    v2_upload = v2.artifact_uri.removeprefix(storage.uri + "/")
    for entry in v2.artifact_manifest:
        storage.write(f"{upload}/{entry.path}", storage.read(f"{v2_upload}/{entry.path}"))
    facts = json.loads(storage.read(version_file("v2")))
    facts.update(version="v3", model_id=uuid.uuid4().hex, artifact_uri=upload)
    storage.write(version_file("v3"), json.dumps(facts).encode())
    mine = PendingMarker.for_this_process()
    markers = {
        "abandoned": dataclasses.replace(mine, started_at=mine.started_at - STALE_AFTER - timedelta(minutes=1)),
        "in flight": mine,
    }
    if marker in markers:
        storage.write(f"pending/{MODEL}/{upload_id}.json", markers[marker].to_json())

    report = registry.check(gc=True)

    if marker == "in flight":
        assert report.problems == []
        assert report.removed == []
        assert storage.list(upload)
        assert storage.exists(version_file("v3"))
        return
    expected = [("orphan_version_file", version_file("v3")), ("leftover_upload", upload)]
    if marker == "abandoned":
        expected.insert(0, ("stale_marker", f"pending/{MODEL}/{upload_id}.json"))
    assert found(report) == expected
    assert sorted(report.removed) == sorted(key for _, key in expected)
    assert storage.list(upload) == []
    assert not storage.exists(version_file("v3"))
    assert report.ok
    assert registry.register_model(MODEL, export(tmp_path, 9)).version == "v3"  # the label is free again
    assert registry.check().problems == []


def test_a_corrupt_orphan_version_file_is_reported_and_kept(registry: ModelRegistry, storage: StorageBackend) -> None:
    storage.write(version_file("v3"), b"\x00 not json")

    report = registry.check(gc=True)

    assert found(report) == [("corrupt_record", version_file("v3"))]
    assert report.removed == []
    assert storage.read(version_file("v3")) == b"\x00 not json"


# ------------------------------------------------------------------------------------------------- broken rules


@pytest.mark.parametrize("layout", ["head", "legacy"])
def test_two_versions_labelled_v1_are_reported_and_hold_gc(
    registry: ModelRegistry, storage: StorageBackend, layout: str
) -> None:
    leftover = add_leftover(storage)  # unreferenced: a leftover, if the model could be trusted
    if layout == "legacy":  # only one document can hold two versions labelled v1...
        to_legacy(registry)
        edit(storage, LEGACY, lambda d: _version(d, "v2").update(version="v1", stage="development", stage_history=[]))
    else:  # ...in the per-version layout, a version file can say it is another version than its name
        edit(storage, version_file("v2"), lambda d: d.update(version="v1"))
    stored = uploads(storage)

    report = registry.check(gc=True)

    assert "version 'v1' appears 2 times" in messages(report)
    if layout == "head":
        assert (version_file("v2"), "it is the version file of v2, but says version v1") in [
            (p.key, p.message) for p in report.problems
        ]
    assert report.removed == []
    assert uploads(storage) == stored
    assert [(p.kind, p.key) for p in report.problems if p.key == leftover] == [("kept_upload", leftover)]
    assert not report.ok


def _version(document: dict[str, Any], label: str) -> dict[str, Any]:
    return next(v for v in document["versions"] if v["version"] == label)


def test_two_production_versions_are_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    def second_holder(head: dict[str, Any]) -> None:
        v2 = hot(head, "v2")
        v2["stage"] = "production"
        v2["stage_history"].append({**v2["stage_history"][-1], "from_stage": "staging", "to_stage": "production"})

    edit(storage, HEAD, second_holder)

    problems = messages(registry.check())

    assert "2 versions are in production (v1, v2); at most one may be" in problems
    assert "v2: it is in production without an approval by someone other than alice bound to its artifacts" in problems


def test_a_production_version_without_its_approval_is_reported(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    edit(storage, HEAD, lambda d: hot(d, "v1").update(approvals=[]))

    assert messages(registry.check()) == [
        "v1: it is in production without an approval by someone other than alice bound to its artifacts"
    ]


def test_an_approval_bound_to_other_artifacts_is_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, HEAD, lambda d: hot(d, "v1")["approvals"][0].update(artifact_digest="sha256:" + "0" * 64))

    problems = messages(registry.check())

    assert any("v1: the approval by 'bob' for production is bound to other artifacts" in p for p in problems)
    assert "v1: it is in production without an approval by someone other than alice bound to its artifacts" in problems


def test_a_self_approval_does_not_count_under_four_eyes(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, HEAD, lambda d: hot(d, "v1")["approvals"][0].update(approver=REGISTRANT))

    assert any("without an approval by someone other than alice" in p for p in messages(registry.check()))
    lenient = ModelRegistry(RegistryConfig(root=registry.storage.uri, enforce_four_eyes=False))
    assert messages(lenient.check()) == []


def test_a_stage_that_its_histories_do_not_reach_is_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, HEAD, lambda d: hot(d, "v2").update(stage="archived"))

    problems = messages(registry.check())

    assert "v2: it is in archived, but its stage history ends in staging" in problems
    assert "v2: it is in archived, but the history last moved it to staging" in problems


def test_a_broken_stage_history_chain_is_reported(registry: ModelRegistry, storage: StorageBackend) -> None:
    edit(storage, HEAD, lambda d: hot(d, "v2")["stage_history"].pop(0))  # development -> validation is gone

    problems = messages(registry.check())

    assert any(p.startswith("v2: its stage history moves it from validation to staging") for p in problems)


def test_history_of_unknown_versions_and_missing_registrations_is_reported(
    registry: ModelRegistry, storage: StorageBackend
) -> None:
    def rewrite(head: dict[str, Any]) -> None:
        head["tail"] = [e for e in head["tail"] if e["version"] != "v2" or e["action"] != "registered"]
        head["tail"].append({**head["tail"][0], "id": uuid.uuid4().hex, "version": "v9"})

    edit(storage, HEAD, rewrite)

    problems = messages(registry.check())

    assert "the history names versions that do not exist: ['v9']" in problems
    assert "v2: the history has no registration of it" in problems


# ------------------------------------------------------------------------------------------------- endpoints, pending


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

    edit(storage, "endpoints/shop.json", rewrite)
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


def test_a_file_under_pending_that_is_no_marker_is_left_alone(registry: ModelRegistry, storage: StorageBackend) -> None:
    storage.write("pending/stray.json", b"{}")  # no pending/<model>/<upload-id>.json: nothing a registration wrote

    report = registry.check(gc=True)

    assert report.problems == []
    assert storage.read("pending/stray.json") == b"{}"
