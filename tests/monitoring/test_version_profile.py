"""A version registered with its training-data profile: stored in its artifacts, read back, shown by get-model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from monitoring_support import sample_rows

from registry_core import ModelRegistry
from registry_core.errors import ArtifactIntegrityError, NotFoundError
from registry_core.integration import register_trained_model, validate_training_data
from registry_core.metadata import ModelStage
from registry_core.monitoring.profile import profile_rows
from registry_core.storage import open_storage


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"model bytes")
    return folder


def _register(registry: ModelRegistry, folder: Path, rows: list[dict]) -> str:
    profile = profile_rows(rows, name="train")
    metadata = register_trained_model(
        folder, "m", registry=registry, data_profile=profile, lineage_extra={"data_validation": "passed"}
    )
    return metadata.version


def test_the_profile_is_stored_with_the_version_and_read_back(storage_root: str, model_folder: Path) -> None:
    registry = ModelRegistry.from_uri(storage_root)
    rows = sample_rows(200, seed=1)
    version = _register(registry, model_folder, rows)
    metadata = registry.get_model_metadata("m", version)
    assert {e.path for e in metadata.artifact_manifest} == {
        "saved_model.pb", "data_profile/statistics.pb", "data_profile/schema.pbtxt",
    }  # fmt: skip
    assert metadata.lineage.extra == {
        "data_validation": "passed", "data_profile": "data_profile", "data_profile_examples": "200",
        "data_profile_features": "3",
    }  # fmt: skip
    assert registry.get_data_profile("m", version).statistics == profile_rows(rows, name="train").statistics
    assert not (model_folder / "data_profile").exists()  # the given folder is copied, never changed


def test_a_version_without_a_profile_says_so(tmp_path: Path, model_folder: Path) -> None:
    registry = ModelRegistry.from_uri(str(tmp_path / "registry"))
    version = registry.register_model("m", model_folder).version
    with pytest.raises(NotFoundError, match=f"m {version} has no data profile"):
        registry.get_data_profile("m", version)


def test_a_changed_profile_file_is_an_integrity_error(tmp_path: Path, model_folder: Path) -> None:
    registry = ModelRegistry.from_uri(str(tmp_path / "registry"))
    version = _register(registry, model_folder, sample_rows(50, seed=1))
    uri = registry.get_model_metadata("m", version).artifact_uri
    open_storage(uri).write("data_profile/schema.pbtxt", b"feature { name: 'x' }")
    with pytest.raises(ArtifactIntegrityError, match="modified data_profile/schema.pbtxt"):
        registry.get_data_profile("m", version)


def test_new_data_is_validated_against_the_production_profile(tmp_path: Path, model_folder: Path) -> None:
    registry = ModelRegistry.from_uri(str(tmp_path / "registry"))
    _, first = validate_training_data(registry, "m", sample_rows(100, seed=1))
    assert first.status == "no_baseline"
    version = _register(registry, model_folder, sample_rows(1000, seed=1))
    for stage in (ModelStage.VALIDATION, ModelStage.STAGING):
        registry.promote_model("m", version, stage)
    registry.approve("m", version, ModelStage.PRODUCTION, approver="bob")
    registry.promote_model("m", version, ModelStage.PRODUCTION)
    _, clean = validate_training_data(registry, "m", sample_rows(500, seed=2))
    assert (clean.status, clean.baseline) == ("passed", f"m {version} (production)")
    _, shifted = validate_training_data(registry, "m", sample_rows(500, seed=2, shift=4.0), {"numeric_drift": 0.3})
    assert shifted.status == "failed"
    assert [d.feature for d in shifted.drift if d.drifted] == ["width"]


def test_get_model_shows_the_profile_summary(tmp_path: Path, model_folder: Path) -> None:
    root = tmp_path / "registry"
    version = _register(ModelRegistry.from_uri(str(root)), model_folder, sample_rows(120, seed=1))
    env = dict(os.environ, MODEL_REGISTRY_ROOT=str(root), COLUMNS="250")
    shown = subprocess.run(
        [sys.executable, "-m", "registry_core", "get-model", "m", "--version", version],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "120 examples, 3 features at" in shown
    assert "data_profile" in shown
    as_json = subprocess.run(
        [sys.executable, "-m", "registry_core", "--json", "get-model", "m", "--version", version],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert json.loads(as_json)["lineage"]["extra"]["data_profile_examples"] == "120"
