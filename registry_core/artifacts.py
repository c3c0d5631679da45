"""Artifact manifests: build them from stored files, digest them, verify a folder against one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from registry_core.errors import ArtifactIntegrityError, InvalidInputError
from registry_core.metadata import FileEntry
from registry_core.storage.base import StoredFile, hash_file, walk_files
from registry_core.storage.transfer import shared_pool

_MAX_LISTED = 3
_HASH_THREADS = 4  # hashlib releases the GIL: big artifacts are verified on every core


def build_manifest(files: Iterable[StoredFile]) -> tuple[tuple[FileEntry, ...], str]:
    """Return the sorted manifest of `files` and its digest."""
    entries = tuple(sorted((FileEntry(path=f.path, size=f.size, sha256=f.sha256) for f in files), key=_path))
    return entries, manifest_digest(entries)


def manifest_digest(entries: Iterable[FileEntry]) -> str:
    """Return "sha256:<hex>" over every (path, size, sha256), in path order."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=_path):
        digest.update(f"{entry.path}\0{entry.size}\0{entry.sha256}\n".encode())
    return "sha256:" + digest.hexdigest()


def verify_folder(folder: Path, manifest: Iterable[FileEntry], *, what: str) -> None:
    """Check that `folder` holds exactly the files of `manifest`, with the recorded sizes and digests.

    Args:
        folder: The local folder to check.
        manifest: The recorded entries.
        what: How to name the artifacts in the error, e.g. "churn v3".

    Raises:
        ArtifactIntegrityError: a file is missing, extra, or differs.
    """
    expected = {entry.path: entry for entry in manifest}
    if not folder.is_dir():
        msg = f"artifacts of {what} are missing ({folder} does not exist)"
        raise ArtifactIntegrityError(msg)
    try:
        actual = dict(walk_files(folder))
    except InvalidInputError as exc:  # a link or a special file among the stored artifacts: never follow it
        msg = f"artifacts of {what} do not match their manifest: {exc}"
        raise ArtifactIntegrityError(msg) from None
    problems = [f"missing {p}" for p in sorted(expected.keys() - actual.keys())]
    problems += [f"unexpected {p}" for p in sorted(actual.keys() - expected.keys())]
    both = sorted(expected.keys() & actual.keys())
    same_size = [rel for rel in both if actual[rel].stat().st_size == expected[rel].size]
    hashed = shared_pool("hash", _HASH_THREADS).map(hash_file, [actual[rel] for rel in same_size])
    digests = dict(zip(same_size, hashed, strict=True))
    problems += [f"modified {rel}" for rel in both if rel not in digests or digests[rel][1] != expected[rel].sha256]
    if problems:
        shown = ", ".join(problems[:_MAX_LISTED]) + (
            f" and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        )
        msg = f"artifacts of {what} do not match their manifest: {shown}"
        raise ArtifactIntegrityError(msg)


def _path(entry: FileEntry) -> str:
    return entry.path
