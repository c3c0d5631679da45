"""Artifact manifests: every file with its size and sha256, one digest over them, and verification of a folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from registry_core.artifacts import build_manifest, manifest_digest, verify_folder
from registry_core.errors import ArtifactIntegrityError
from registry_core.storage.base import StoredFile


def stored(path: str, data: bytes) -> StoredFile:
    return StoredFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def folder_with(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


FILES = {"saved_model.pb": b"graph", "variables/variables.data": b"weights"}


def test_the_manifest_is_sorted_and_its_digest_does_not_depend_on_upload_order() -> None:
    forward, digest = build_manifest(stored(p, d) for p, d in FILES.items())
    backward, same = build_manifest(stored(p, d) for p, d in reversed(FILES.items()))
    assert [e.path for e in forward] == ["saved_model.pb", "variables/variables.data"]
    assert forward == backward
    assert digest == same == manifest_digest(forward)
    assert digest.startswith("sha256:")


def test_the_digest_changes_with_any_byte_or_name() -> None:
    weights = stored("variables/variables.data", b"weights")
    base = build_manifest([stored("saved_model.pb", b"graph"), weights])[1]
    assert build_manifest([stored("saved_model.pb", b"graph!"), weights])[1] != base
    assert build_manifest([stored("model.pb", b"graph"), weights])[1] != base


def test_a_folder_matching_its_manifest_verifies(tmp_path: Path) -> None:
    manifest, _ = build_manifest(stored(p, d) for p, d in FILES.items())
    verify_folder(folder_with(tmp_path, FILES), manifest, what="churn v1")


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"saved_model.pb": b"graph"}, "missing variables/variables.data"),
        ({**FILES, "extra.txt": b"x"}, "unexpected extra.txt"),
        ({**FILES, "saved_model.pb": b"GRAPH"}, "modified saved_model.pb"),
    ],
)
def test_a_missing_extra_or_changed_file_is_named(tmp_path: Path, files: dict[str, bytes], problem: str) -> None:
    manifest, _ = build_manifest(stored(p, d) for p, d in FILES.items())
    with pytest.raises(ArtifactIntegrityError, match=f"artifacts of churn v1 do not match their manifest: {problem}"):
        verify_folder(folder_with(tmp_path, files), manifest, what="churn v1")


def test_a_missing_folder_is_an_integrity_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactIntegrityError, match="are missing"):
        verify_folder(tmp_path / "nowhere", (), what="churn v1")
