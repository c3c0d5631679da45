"""Registration: the staged-upload protocol that publishes a new version all or nothing.

1. Upload the artifacts under a fresh key (``artifacts/<name>/<upload-id>/``), with a pending marker beside them so
   that ``check --gc`` leaves an upload in flight alone.
2. Build the manifest (size and sha256 of every file) from what was stored.
3. Take a label: create the version's file (``versions/<name>/<label>.json``, its facts) if absent; if another
   registration took that label first, try the next one.
4. Commit: one compare-and-swap of the model's head adds the version to it with its REGISTERED history entry.
   Readers see a version only once it is in the head (or, later, in the index): no version, or a whole one.
5. If the answer to that write was lost, read the head again before calling the registration failed.
6. Remove what a registration that did not commit left (its version file, its upload), then the marker. A crash
   between 3 and 4 leaves a version file no head names: check --gc removes it with the upload once the
   registration's process is gone (its label stays unused).

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
from typing import Protocol

from registry_core import layout
from registry_core.artifacts import build_manifest
from registry_core.documents import IDEMPOTENCY_KEY, ModelHead, VersionFacts, VersionState, compose
from registry_core.errors import (
    ConcurrentModificationError,
    ConflictError,
    InvalidInputError,
    ModelNotFoundError,
    RegistryError,
    StorageError,
    VersionConflictError,
    VersionNotFoundError,
)
from registry_core.lifecycle import changes
from registry_core.lifecycle.changes import Change
from registry_core.maintenance import PendingMarker
from registry_core.metadata import FileEntry, Lineage, ModelMetadata, ModelPerformance, ParamValue, utc_now
from registry_core.model_store import HeadRead, ModelStore
from registry_core.storage.base import StorageBackend
from registry_core.storage.transfer import Progress
from registry_core.store import ModelRecord
from registry_core.text import shown
from registry_core.versioning import VersioningStrategy, next_version, normalize_version

logger = logging.getLogger(__name__)

_LABEL_ATTEMPTS = 1000  # labels tried before giving up (each taken one was registered by a rival meanwhile)


class Commit(Protocol):
    """Applies a change to a model by compare-and-swap of its head, from a head read before (`ModelRegistry.commit`)."""

    def __call__(self, model_name: str, mutate: Change, *, start: HeadRead | None = None) -> ModelRecord:
        """Apply `mutate`, starting from the head `start` if given; return the record written."""


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
        models: The models (version files, heads).
        commit: Applies a change to a model by compare-and-swap of its head (``ModelRegistry.commit``).
        versioning: The label strategy of models registered for the first time.
    """

    def __init__(
        self, storage: StorageBackend, models: ModelStore, commit: Commit, versioning: VersioningStrategy
    ) -> None:
        self.storage = storage
        self.models = models
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
        label: str | None = None
        committed = unsure = False
        try:
            manifest, digest = build_manifest(self.storage.upload_dir(new.folder, prefix, progress=progress))
            upload = _Upload(uri, manifest, digest, utc_now())
            # One read of the head serves the label's choice and the commit's first attempt.
            read = self._head(new.name)
            repeated = self._repeated(new, read.head, digest)
            if repeated is not None:
                return repeated
            facts = self._take_label(new, read.head, upload)
            label = facts.version
            try:
                record = self.commit(new.name, partial(self._add, new, facts), start=read)
            except StorageError:
                # The write may have landed with its answer lost (the client gave up retrying): look before calling
                # the upload unused, or a visible version would lose its artifacts.
                found = self._reread(new.name, label)
                if found is None or found.artifact_uri != uri:
                    unsure = found is None  # then check(gc=True) removes the upload later if no version uses it
                    raise
                record = None
                registered = found
            if record is not None:
                mine = next((m for m in record.versions if m.version == label and m.artifact_uri == uri), None)
                if mine is None:  # a rival registered the same artifacts meanwhile (reuse, idempotency key): theirs
                    mine = next((m for m in reversed(record.versions) if new.is_repeated_by(m, digest)), None)
                # Neither at hand: a write of ours landed with its answer lost, and the version has since left the
                # working set (busy models move 21 versions out at a time): read it as it is stored.
                found = record.get(mine.version) if mine is not None else self._reread(new.name, label)
                if found is None:
                    unsure = True
                    msg = f"{new.name} {label} was committed but cannot be read back; run `model-registry check`"
                    raise StorageError(msg)
                registered = found
            committed = registered.artifact_uri == uri
        finally:
            self._clean_up(new.name, prefix, marker, label, committed=committed, unsure=unsure)
        logger.info("registered %s %s (%s)", new.name, registered.version, digest)
        return registered

    def _head(self, name: str) -> HeadRead:
        """The model's head as it is now, after converting a model of the old layout (no head: a new model)."""
        read = self.models.read_head(name)
        if read.head is None and self.models.migrate(name):
            read = self.models.read_head(name)
        return read

    def _repeated(self, new: Submission, head: ModelHead | None, digest: str) -> ModelMetadata | None:
        """A version this registration repeats (same artifacts; reuse_existing or the same key), if there is one."""
        if head is None or not (new.reuse_existing or new.idempotency_key is not None):
            return None
        for hot in sorted(head.hot.values(), key=lambda h: -h.brief.ordinal):
            brief = hot.brief
            same_key = new.idempotency_key is not None and brief.idempotency_key == new.idempotency_key
            if brief.artifact_digest == digest and (new.reuse_existing or same_key):
                return self.models.version(new.name, brief.version, head)
        return None

    def _take_label(self, new: Submission, head: ModelHead | None, upload: _Upload) -> VersionFacts:
        """Create the version file under the asked-for label, or the next free one. Raises: VersionConflictError."""
        strategy = head.versioning if head is not None else self.versioning
        taken = head.latest if head is not None else None
        for _ in range(_LABEL_ATTEMPTS):
            if new.version is not None:
                label = normalize_version(new.version, strategy)
            else:
                label = next_version(strategy, [taken] if taken else [], new.bump)
            facts = VersionFacts(
                model_id=uuid.uuid4().hex, model_name=new.name, version=label, metrics=new.metrics, params=new.params,
                description=new.description, tags=new.tags, lineage=new.lineage, framework=new.framework,
                artifact_uri=upload.uri, artifact_manifest=upload.manifest, artifact_digest=upload.digest,
                registered_by=new.registered_by, registered_at=upload.at,
            )  # fmt: skip
            try:
                self.models.create_version_file(facts)
            except ConflictError:
                if new.version is not None:
                    msg = f"model {new.name!r} already has version {label}"
                    raise VersionConflictError(msg) from None
                taken = label  # another registration took it first: the next one
                continue
            return facts
        msg = f"could not find a free label for {new.name!r} after {_LABEL_ATTEMPTS} attempts"
        raise ConcurrentModificationError(msg)

    def _add(self, new: Submission, facts: VersionFacts, record: ModelRecord | None) -> ModelRecord:
        """The change that commits `new` as version `facts.version`, unless a rival registered it meanwhile."""
        if record is None:
            record = ModelRecord(name=new.name, created_at=facts.registered_at, versioning=self.versioning)
        if any(new.is_repeated_by(existing, facts.artifact_digest) for existing in record.versions):
            return record
        return changes.register(record, compose(facts, VersionState()))

    def _reread(self, name: str, label: str) -> ModelMetadata | None:
        """Return version `label` as stored now, or None if it is not there or cannot be read."""
        try:
            return self.models.version(name, label)
        except RegistryError:
            return None

    def _surely_absent(self, name: str, label: str | None) -> bool:
        """Whether the model, read afresh, has no version `label`: only then are its file and upload removed.

        A failure can come after a write that landed with its answer lost, from any step of a commit; removing the
        version file of a version the head lists would lose it. When in doubt, check(gc=True) decides later.
        """
        if label is None:
            return True
        try:
            self.models.version(name, label)
        except (ModelNotFoundError, VersionNotFoundError):
            return True
        except RegistryError:
            return False
        logger.warning("%s %s is registered after all (a write landed, its answer lost): its files stay", name, label)
        return False

    def _clean_up(
        self, name: str, prefix: str, marker: str, label: str | None, *, committed: bool, unsure: bool
    ) -> None:
        """Remove what an uncommitted registration left (unless unsure whether it committed), then the marker."""
        if not committed and label is not None:
            # Left or removed, the file is no version: gc may remove it and another registration take its label.
            self.models.forget_facts(name, label)
        if not committed and not unsure and self._surely_absent(name, label):
            try:
                if label is not None:
                    self.models.delete_version_file(name, label)
                self.storage.delete_prefix(prefix)
            except RegistryError:  # check(gc=True) finds them later; the original error matters more
                logger.warning("could not remove the unused upload %s", prefix, exc_info=True)
        try:
            self.storage.delete(marker, durable=False)  # the marker only matters while this process lives
        except RegistryError:
            if not committed:
                raise
            # The version is published; a marker left behind is a leftover that check(gc=True) removes.
            logger.warning("registered %s but could not remove %s", name, marker, exc_info=True)
