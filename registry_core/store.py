"""MetadataStore: per-model JSON documents on a StorageBackend, updated by compare-and-swap.

Key layout under the registry root (the only place that knows it):

    models/<name>.json                    the model document: every version, its stage and approvals, history
    artifacts/<name>/<upload-id>/...      immutable artifact folders, referenced by versions
    pending/<name>/<upload-id>.json       markers of registrations in flight (for check/gc)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from registry_core.arguments import validate_name
from registry_core.errors import (
    ConcurrentModificationError,
    ConflictError,
    CorruptRecordError,
    ModelNotFoundError,
    NotFoundError,
    VersionNotFoundError,
)
from registry_core.metadata import (
    LOCATIONS_CONTEXT,
    SCHEMA_VERSION,
    HistoryEntry,
    ModelMetadata,
    ModelStage,
)
from registry_core.storage.base import StorageBackend
from registry_core.versioning import VersioningStrategy, version_key

logger = logging.getLogger(__name__)

MODELS_PREFIX = "models/"
ARTIFACTS_PREFIX = "artifacts/"
PENDING_PREFIX = "pending/"
_DOC_SUFFIX = ".json"
CAS_DEADLINE_SECONDS = 120.0
_BACKOFF_CAP_SECONDS = 4.0
_BACKOFF_BASE_SECONDS = 0.005
_PARSED_DOCUMENTS = 64  # parsed documents a store keeps for reuse


class RootRelativeLocations:
    """Artifact folders as documents keep them: keys relative to the root (``artifacts/<name>/<upload-id>``).

    Documents written before locations were relative hold absolute URIs, possibly of the place the registry was
    copied from; those resolve to the same key under the current root.

    Args:
        root_uri: The registry root's URI (``file:///...`` or ``gs://bucket/prefix``).
    """

    def __init__(self, root_uri: str) -> None:
        self.root = root_uri.rstrip("/")

    def stored(self, uri: str) -> str:
        """Return `uri` relative to the root (unchanged if it lies elsewhere)."""
        prefix = f"{self.root}/"
        return uri[len(prefix) :] if uri.startswith(prefix) else uri

    def resolved(self, stored: str, model_name: str) -> str:
        """Return the absolute URI under the current root of a stored location."""
        if "://" not in stored:
            return f"{self.root}/{stored}"
        marker = f"/{ARTIFACTS_PREFIX}{model_name}/"
        at = stored.rfind(marker)
        return f"{self.root}/{stored[at + 1 :]}" if model_name and at >= 0 else stored


def model_key(name: str) -> str:
    """Key of a model's document."""
    return f"{MODELS_PREFIX}{name}{_DOC_SUFFIX}"


def artifacts_prefix(name: str, upload_id: str) -> str:
    """Folder of one uploaded artifact set."""
    return f"{ARTIFACTS_PREFIX}{name}/{upload_id}"


def pending_key(name: str, upload_id: str) -> str:
    """Marker of a registration in flight."""
    return f"{PENDING_PREFIX}{name}/{upload_id}{_DOC_SUFFIX}"


class ModelRecord(BaseModel):
    """Everything mutable about one model, kept in one document so that one conditional write changes it.

    Attributes:
        schema_version: Layout version of this document.
        name: Model name.
        created_at: When the first version was registered.
        versioning: Strategy of this model's labels (fixed at creation).
        versions: Every version, in registration order.
        history: Append-only log, oldest first.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    name: str
    created_at: datetime
    versioning: VersioningStrategy
    versions: tuple[ModelMetadata, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    def get(self, version: str) -> ModelMetadata:
        """Return the version labelled `version`. Raises: VersionNotFoundError."""
        for metadata in self.versions:
            if metadata.version == version:
                return metadata
        known = ", ".join(v.version for v in self.sorted_versions()[-5:]) or "none"
        msg = f"model {self.name!r} has no version {version}; latest versions: {known}"
        raise VersionNotFoundError(msg)

    def sorted_versions(self) -> list[ModelMetadata]:
        """Return the versions ordered by label (v2 before v10)."""
        return sorted(self.versions, key=lambda m: version_key(m.version))

    def in_stage(self, stage: ModelStage) -> list[ModelMetadata]:
        """Return the versions in `stage`, ordered by label."""
        return sorted((m for m in self.versions if m.stage is stage), key=lambda m: version_key(m.version))

    def with_versions(self, *updated: ModelMetadata) -> ModelRecord:
        """Return a copy where each of `updated` replaces the version with its label (or is appended)."""
        by_label = {m.version: m for m in updated}
        kept = tuple(by_label.pop(m.version, m) for m in self.versions)
        return self.model_copy(update={"versions": kept + tuple(by_label.values())})

    def with_history(self, *entries: HistoryEntry) -> ModelRecord:
        """Return a copy with `entries` appended to the history."""
        return self.model_copy(update={"history": self.history + entries})


Record = TypeVar("Record", bound=BaseModel)


class DocumentStore(Generic[Record]):
    """JSON documents of one pydantic type at ``<prefix><name>.json``, updated by compare-and-swap.

    Args:
        storage: The backend.
        record_type: The pydantic model of the documents.
        prefix: Folder of the documents, e.g. "models/".
        kind: What a document describes, for messages ("model", "endpoint").
    """

    def __init__(self, storage: StorageBackend, record_type: type[Record], prefix: str, kind: str) -> None:
        self.storage = storage
        self.record_type = record_type
        self.prefix = prefix
        self.kind = kind
        # name -> (bytes, record) of the last version of each document read or written here: parsing is a pure
        # function of the bytes, so unchanged bytes (compared in full) reuse the record. Records are frozen and shared.
        self._parsed: dict[str, tuple[bytes, Record]] = {}
        self.context: dict[str, object] = {LOCATIONS_CONTEXT: RootRelativeLocations(storage.uri)}

    def key(self, name: str) -> str:
        """Key of the document of `name` (validated, so it can never leave the prefix)."""
        return f"{self.prefix}{validate_name(name, self.kind)}{_DOC_SUFFIX}"

    def names(self) -> list[str]:
        """Return the names of every document, sorted."""
        names = []
        for key in self.storage.list(self.prefix):
            stem = key[len(self.prefix) :]
            if stem.endswith(_DOC_SUFFIX) and "/" not in stem:
                names.append(stem[: -len(_DOC_SUFFIX)])
        return sorted(names)

    def get(self, name: str) -> Record | None:
        """Return the document of `name`, or None (one read). Raises: CorruptRecordError."""
        key = self.key(name)
        try:
            data = self.storage.read(key)  # no generation needed: the local backend would hash the bytes for it
        except NotFoundError:
            return None
        return self._parse(name, key, data)

    def _load_with_generation(self, name: str) -> tuple[Record | None, str | None]:
        key = self.key(name)
        try:
            data, generation = self.storage.read_with_generation(key)
        except NotFoundError:
            return None, None
        return self._parse(name, key, data), generation

    def _parse(self, name: str, key: str, data: bytes) -> Record:
        """Parse `data`, or return the previous parse of `name` if its bytes are exactly the same."""
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == data:
            return cached[1]
        record = parse_document(self.record_type, data, key, self.context)
        self._remember(name, data, record)
        return record

    def _remember(self, name: str, data: bytes, record: Record) -> None:
        if len(self._parsed) >= _PARSED_DOCUMENTS and name not in self._parsed:
            self._parsed.clear()  # a bound on memory; clear() is safe against other threads, unlike eviction loops
        self._parsed[name] = (data, record)

    def update(self, name: str, mutate: Callable[[Record | None], Record]) -> Record:
        """Apply `mutate` to the current document of `name` and write the result conditionally.

        `mutate` gets the document as last read (None if it does not exist yet) and returns the new one; it is
        called again on fresh state whenever another writer got there first, so it must be pure. A RegistryError
        raised by it aborts the update.

        A conflict may also answer a write that did land: a backend that retries a conditional write whose answer
        was lost meets its own first attempt, and once a rival has written on top, nothing in the object says it was
        ours. The history entries of every conflicting attempt are kept, and if the fresh document already has them,
        that attempt landed and the fresh document is returned instead of applying `mutate` a second time.

        Raises:
            ConcurrentModificationError: other writers kept winning for CAS_DEADLINE_SECONDS.
        """
        key = self.key(name)
        deadline = time.monotonic() + CAS_DEADLINE_SECONDS
        attempt = 0
        unconfirmed: list[set[str]] = []  # history ids written by each conflicting attempt
        while True:
            began = time.monotonic()
            current, generation = self._load_with_generation(name)
            if unconfirmed and current is not None:
                present = _history_ids(current)
                if any(ids <= present for ids in unconfirmed):
                    logger.debug("a conflicting write to %s had landed; not applying it again", key)
                    return current
            updated = mutate(current)
            if updated == current:
                return updated  # nothing changed: no write, no new generation
            data = updated.model_dump_json(context=self.context).encode()
            try:
                if generation is None:
                    self.storage.create(key, data)
                else:
                    self.storage.compare_and_swap(key, data, generation)
            except ConflictError:
                attempt += 1
                written = _history_ids(updated) - (_history_ids(current) if current is not None else set())
                if written:
                    unconfirmed.append(written)
                if time.monotonic() > deadline:
                    msg = f"gave up updating {self.kind} {name!r} after {attempt} conflicting attempts"
                    raise ConcurrentModificationError(msg) from None
                # Full jitter keeps many contending processes from retrying in lock-step. The window grows from the
                # time one attempt took: with a large document or a slow store, a fixed small window makes most
                # attempts collide (32 writers of a 640-version model wasted 4/5 of their work and took 2x longer).
                spent = max(_BACKOFF_BASE_SECONDS, time.monotonic() - began)
                time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, spent * 2**attempt)))
                continue
            if attempt:
                logger.debug("updated %s after %d conflicts", key, attempt)
            self._remember(name, data, updated)  # `data` is `updated` serialized: the next read needs no parse
            return updated


def _history_ids(record: BaseModel) -> set[str]:
    """Ids of a document's history entries (model and endpoint documents both keep an id'd history)."""
    return {entry.id for entry in getattr(record, "history", ())}


class MetadataStore(DocumentStore[ModelRecord]):
    """The model documents."""

    def __init__(self, storage: StorageBackend) -> None:
        super().__init__(storage, ModelRecord, MODELS_PREFIX, "model")

    def list_models(self) -> list[str]:
        """Return the names of every model with a document, sorted."""
        return self.names()

    def load(self, name: str) -> ModelRecord:
        """Return the document of `name`. Raises: ModelNotFoundError, CorruptRecordError."""
        record = self.get(name)
        if record is None:
            msg = f"model {name!r} is not registered"
            raise ModelNotFoundError(msg)
        return record


def parse_record(data: bytes, key: str, context: dict[str, object] | None = None) -> ModelRecord:
    """Parse a model document. Raises: CorruptRecordError naming the key and the first problem."""
    return parse_document(ModelRecord, data, key, context)


def parse_document(
    record_type: type[Record], data: bytes, key: str, context: dict[str, object] | None = None
) -> Record:
    """Parse a document (`context`: the store's, which resolves artifact locations).

    Raises:
        CorruptRecordError: naming the key and the first problem.
    """
    try:
        return record_type.model_validate_json(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        # Keys and validator messages come from the document itself: keep the message on one line.
        where = ".".join(str(p) if str(p).isprintable() else repr(p) for p in first.get("loc", ()))
        problem = " ".join(str(first.get("msg", "invalid")).split())
        msg = f"corrupt record {key}: {where + ': ' if where else ''}{problem}"
        raise CorruptRecordError(msg) from None
