"""Registration: the staged-upload protocol that publishes a new version all or nothing.

1. Upload the artifacts under a fresh key (``artifacts/<name>/<upload-id>/``), with a pending marker beside them so
   that ``check --gc`` leaves an upload in flight alone.
2. Build the manifest (size and sha256 of every file) from what was stored.
3. Commit the version with one conditional write of the model's document: readers see no version or a whole one.
4. If the answer to that write was lost, read the document again before calling the upload unused.
5. Remove an upload that no version uses, then the marker.

Identical artifacts registered again with ``reuse_existing``, or under the same idempotency key, return the version
made before instead of adding one.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from registry_core import layout
from registry_core.artifacts import build_manifest
from registry_core.errors import InvalidInputError, RegistryError, StorageError
from registry_core.lifecycle import changes
from registry_core.lifecycle.changes import Commit
from registry_core.maintenance import PendingMarker
from registry_core.metadata import FileEntry, Lineage, ModelMetadata, ModelPerformance, ParamValue, utc_now
from registry_core.storage.base import StorageBackend
from registry_core.storage.transfer import Progress
from registry_core.store import MetadataStore, ModelRecord
from registry_core.text import shown
from registry_core.versioning import VersioningStrategy

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY = "idempotency_key"  # the lineage extra that names a registration



@dataclass(frozen=True)
class Submission:
    """A version to register, its arguments already checked.

    Attributes:
        name: Model name.
        folder: Local artifact folder (or single file).
        metrics: Evaluation metrics.
        params: Training parameters.
        description: Free text.
        tags: Sorted, distinct labels.
        lineage: Provenance, with the idempotency key in its extras if there is one (see `keyed_lineage`).
        framework: e.g. "tensorflow", or None.
        registered_by: Who registers.
        version: The label asked for (canonical form), or None for the next one.
        bump: For semantic versioning: "major", "minor" or "patch".
        reuse_existing: Return a version with identical artifacts instead of adding one.
        idempotency_key: Return the version with identical artifacts registered under this key, if there is one.
    """

    name: str
    folder: Path
    metrics: ModelPerformance
    params: dict[str, ParamValue]
    description: str
    tags: tuple[str, ...]
    lineage: Lineage
    framework: str | None
    registered_by: str
    version: str | None = None
    bump: str = "minor"
    reuse_existing: bool = False
    idempotency_key: str | None = None

    def is_repeated_by(self, existing: ModelMetadata, digest: str) -> bool:
        """Whether `existing` is this registration made before: same artifacts, and reuse or the same key."""
        if existing.artifact_digest != digest:
            return False
        return self.reuse_existing or (
            self.idempotency_key is not None and existing.lineage.extra.get(IDEMPOTENCY_KEY) == self.idempotency_key
        )


@dataclass(frozen=True)
class _Upload:
    """Artifacts stored for a registration: where, their manifest and digest, and when they were stored."""

    uri: str
    manifest: tuple[FileEntry, ...]
    digest: str
    at: datetime


def keyed_lineage(lineage: Lineage, idempotency_key: str | None) -> Lineage:
    """Return `lineage` with `idempotency_key` recorded as ``extra["idempotency_key"]`` (unchanged without one).

    Raises:
        InvalidInputError: the key is not a non-empty string.
    """
    if idempotency_key is None:
        return lineage
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        msg = f"invalid idempotency_key {shown(idempotency_key)}: expected a non-empty string"
        raise InvalidInputError(msg)
    return lineage.model_copy(update={"extra": lineage.extra | {IDEMPOTENCY_KEY: idempotency_key}})


class Registrar:
    """Publishes new versions on one registry root by the staged-upload protocol.

    Args:
        storage: The registry's backend (artifacts and markers go there).
        store: The model documents (read again when a commit's answer was lost).
        commit: Applies a change to a model's document by compare-and-swap (``ModelRegistry.commit``).
        versioning: The label strategy of models registered for the first time.
    """

    def __init__(
        self, storage: StorageBackend, store: MetadataStore, commit: Commit, versioning: VersioningStrategy
    ) -> None:
        self.storage = storage
        self.store = store
        self.commit = commit
        self.versioning = versioning

    def register(self, new: Submission, *, progress: Progress | None = None) -> ModelMetadata:
        """Upload `new`'s artifacts and commit its version; return it (or the identical one registered before).

        `progress` is called with the bytes of artifacts stored so far.

        Raises:
            VersionConflictError: the label asked for is taken. StorageError: the upload or the commit failed.
        """
        upload_id = layout.new_upload_id()
        prefix = layout.artifacts_folder(new.name, upload_id)
        marker = layout.pending_key(new.name, upload_id)
        # The marker only has to be visible while this process runs (check --gc treats unmarked uploads as leftovers),
        # so it skips the fsync: a power loss takes this process with it.
        self.storage.write(marker, PendingMarker.for_this_process().to_json(), durable=False)
        uri = self.storage.uri_for(prefix)
        committed = unsure = False
        try:
            manifest, digest = build_manifest(self.storage.upload_dir(new.folder, prefix, progress=progress))
            try:
                record = self.commit(new.name, partial(self._add, new, _Upload(uri, manifest, digest, utc_now())))
            except StorageError:
                # The write may have landed with its answer lost (the client gave up retrying): look before calling
                # the upload unused, or a visible version would lose its artifacts.
                found = self._reread(new.name)
                if found is None or all(m.artifact_uri != uri for m in found.versions):
                    unsure = found is None  # then check(gc=True) removes the upload later if no version uses it
                    raise
                record = found
            # Ours by its upload; else the identical version that was reused (reuse_existing, idempotency_key).
            registered = next((m for m in record.versions if m.artifact_uri == uri), None) or next(
                m for m in reversed(record.versions) if new.is_repeated_by(m, digest)
            )
            committed = registered.artifact_uri == uri
        finally:
            self._clean_up(new.name, prefix, marker, committed=committed, unsure=unsure)
        logger.info("registered %s %s (%s)", new.name, registered.version, digest)
        return registered

    def _add(self, new: Submission, upload: _Upload, record: ModelRecord | None) -> ModelRecord:
        """The change that commits `new`: its version under the next (or the asked-for) label, unless repeated."""
        if record is None:
            record = ModelRecord(name=new.name, created_at=upload.at, versioning=self.versioning)
        if any(new.is_repeated_by(existing, upload.digest) for existing in record.versions):
            return record
        metadata = ModelMetadata(
            model_id=uuid.uuid4().hex,
            model_name=new.name,
            version=changes.choose_label(record, new.version, new.bump),
            metrics=new.metrics,
            params=new.params,
            description=new.description,
            tags=new.tags,
            lineage=new.lineage,
            framework=new.framework,
            artifact_uri=upload.uri,
            artifact_manifest=upload.manifest,
            artifact_digest=upload.digest,
            registered_by=new.registered_by,
            registered_at=upload.at,
        )
        return changes.register(record, metadata)

    def _reread(self, name: str) -> ModelRecord | None:
        """Return the model's document as stored now, or None if it cannot be read."""
        try:
            return self.store.get(name)
        except RegistryError:
            return None

    def _clean_up(self, name: str, prefix: str, marker: str, *, committed: bool, unsure: bool) -> None:
        """Remove an unused upload (unless unsure whether a version uses it), then the marker."""
        if not committed and not unsure:
            try:
                self.storage.delete_prefix(prefix)
            except RegistryError:  # check(gc=True) finds it later; the original error matters more
                logger.warning("could not remove unused upload %s", prefix, exc_info=True)
        try:
            self.storage.delete(marker)
        except RegistryError:
            if not committed:
                raise
            # The version is published; a marker left behind is a leftover that check(gc=True) removes.
            logger.warning("registered %s but could not remove %s", name, marker, exc_info=True)
