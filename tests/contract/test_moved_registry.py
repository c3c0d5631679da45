"""A registry copied or moved to another folder or bucket keeps working: documents keep artifact locations relative.

Every document that names artifacts keeps them relative to the root: version files, the briefs in heads, index rows
and state files.

Runs on both backends: the local copy is `shutil.copytree` (what `cp -r` does), the GCS copy is every object read and
written again under another bucket (what `gcloud storage cp -r` does).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from stored_support import COLD, HEAD, LEGACY, MODEL, Damage, index_chunk, state_file, to_legacy, version_file

from registry_core import ModelRegistry, ModelStage, RegistryConfig
from registry_core.storage import open_storage


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_CACHE", str(tmp_path / "download-cache"))
    monkeypatch.setenv("MODEL_REGISTRY_USER", "alice")


def artifact(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "in" / body
    (folder / "variables").mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"body": body}))
    (folder / "variables" / "data").write_text(body * 10)
    return folder


def copy_registry(source: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Copy the whole registry at `source` somewhere else on the same backend; return the new root."""
    if not source.startswith("gs://"):
        target = str(tmp_path / "moved" / "registry")
        shutil.copytree(source, target)
        return target
    target = f"gs://{request.getfixturevalue('gcs_emulator').create_bucket()}/elsewhere"
    src, dst = open_storage(source), open_storage(target)
    for key in src.list(""):
        dst.write(key, src.read(key))
    return target


def test_a_copied_registry_reads_verifies_and_grows_in_its_new_place(
    storage_root: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    original = ModelRegistry(RegistryConfig(root=storage_root))
    v1 = original.register_model(MODEL, artifact(tmp_path, "one"))
    original.promote_model(MODEL, v1.version, ModelStage.VALIDATION)

    moved_root = copy_registry(storage_root, request, tmp_path)
    moved = ModelRegistry(RegistryConfig(root=moved_root))
    found = moved.get_model_metadata(MODEL, stage=ModelStage.VALIDATION)
    assert found.artifact_uri.startswith(moved.storage.uri + "/artifacts/churn/")
    assert found.artifact_uri.removeprefix(moved.storage.uri) == v1.artifact_uri.removeprefix(original.storage.uri)
    assert (moved.artifact_path(MODEL, v1.version) / "model.json").read_text() == '{"body": "one"}'
    assert moved.check(deep=True).ok

    v2 = moved.register_model(MODEL, artifact(tmp_path, "two"))
    assert [v.version for v in moved.list_versions(MODEL)] == ["v1", "v2"]
    assert [v.version for v in original.list_versions(MODEL)] == ["v1"]  # the copies are independent
    assert v2.artifact_uri.startswith(moved.storage.uri + "/")


def test_stored_documents_keep_artifact_locations_relative_to_the_root(grown: tuple[ModelRegistry, Damage]) -> None:
    # The grown model has every kind of document: a head, version files, state files, an index chunk, a segment.
    registry, _ = grown
    storage = registry.storage
    documents = [key for key in storage.list("") if not key.startswith("artifacts/")]
    assert {key.split("/")[0] for key in documents} == {"heads", "versions", "index", "history"}
    assert all("://" not in storage.read(key).decode() for key in documents)
    hot, cold = (
        registry.get_model_metadata(MODEL, label).artifact_uri.removeprefix(f"{storage.uri}/") for label in ("v1", COLD)
    )
    assert hot.startswith("artifacts/churn/")
    assert cold.startswith("artifacts/churn/")
    assert json.loads(storage.read(version_file("v1")))["artifact_uri"] == hot
    assert json.loads(storage.read(HEAD))["hot"]["v1"]["brief"]["artifact_uri"] == hot
    assert json.loads(storage.read(version_file(COLD)))["artifact_uri"] == cold
    assert json.loads(storage.read(index_chunk(0)))["rows"][COLD]["brief"]["artifact_uri"] == cold
    assert json.loads(storage.read(state_file(COLD)))["brief"]["artifact_uri"] == cold


@pytest.mark.parametrize("document", ["legacy document", "version file"])
def test_a_document_with_absolute_locations_of_another_root_resolves_under_this_one(
    storage_root: str, tmp_path: Path, document: str
) -> None:
    """Documents written before locations became relative hold absolute URIs, e.g. of where the registry was."""
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    registry.register_model(MODEL, artifact(tmp_path, "one"))
    if document == "legacy document":  # a model of the one-document layout, as releases of that time wrote it
        to_legacy(registry)
        key, where = LEGACY, lambda stored: stored["versions"][0]
    else:
        key, where = version_file("v1"), lambda stored: stored
    stored = json.loads(registry.storage.read(key))
    relative = where(stored)["artifact_uri"]
    where(stored)["artifact_uri"] = f"gs://the-old-bucket/some/prefix/{relative}"
    registry.storage.write(key, json.dumps(stored).encode())

    fresh = ModelRegistry(RegistryConfig(root=storage_root))
    assert fresh.get_model_metadata(MODEL).artifact_uri == f"{fresh.storage.uri}/{relative}"
    assert (fresh.artifact_path(MODEL, "v1") / "model.json").is_file()
    assert fresh.check(deep=True).problems == []
