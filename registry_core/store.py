"""Documents on a StorageBackend, updated by compare-and-swap: the model documents (MetadataStore) and others.

Where each document lives is `layout`'s business; this module reads, parses, caches and conditionally writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import PrivateAttr, ValidationError

from registry_core import layout
from registry_core.contention import Contention
from registry_core.errors import (
    ConflictError,
    CorruptRecordError,
    ModelNotFoundError,
    NotFoundError,
    VersionNotFoundError,
)
from registry_core.metadata import (
    LOCATIONS_CONTEXT,
    HistoryEntry,
    ModelMetadata,
    ModelStage,
    Record,
    SchemaChecked,
)
from registry_core.storage.base import StorageBackend
from registry_core.text import one_line
from registry_core.versioning import VersioningStrategy, version_key

logger = logging.getLogger(__name__)

_PARSED_DOCUMENTS = 64  # parsed documents a store keeps for reuse


class ModelRecord(SchemaChecked):
    """A model as a change sees it: its versions and its history, changed by pure functions, written back at once.

    In the one-document layout of earlier releases this was the whole stored document. In the per-version layout it
    is the working record of one change (see `model_store.ModelStore.update`): the versions of the head's working
    set (every stage holder among them), any other version the change asks for by label (`get` reads it on demand),
    and the newest history.

    Attributes:
        schema_version: Layout version of this document.
        name: Model name.
        created_at: When the first version was registered.
        versioning: Strategy of this model's labels (fixed at creation).
        versions: The versions at hand, in registration order.
        history: The history at hand (all of it, or the newest part), oldest first.
        trail_base: The production holders a rollback may return to, as of just before `history`'s first entry.
    """

    name: str
    created_at: datetime
    versioning: VersioningStrategy
    versions: tuple[ModelMetadata, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    trail_base: tuple[str, ...] = ()
    _loader: Callable[[ModelRecord, str], ModelMetadata | None] | None = PrivateAttr(default=None)

    def with_loader(self, loader: Callable[[ModelRecord, str], ModelMetadata | None]) -> ModelRecord:
        """Return this record reading versions through `loader` ((record, label) -> metadata or None).

        The loader is asked for versions that are not at hand and for those at hand only as a sketch (no artifact
        manifest: the working set of the per-version layout); it gives them in full, with the state this record has.
        """
        record = self.model_copy()
        record._loader = loader
        return record

    def get(self, version: str) -> ModelMetadata:
        """Return the version labelled `version`, in full. Raises: VersionNotFoundError."""
        at_hand = next((m for m in self.versions if m.version == version), None)
        if at_hand is not None and (at_hand.artifact_manifest or self._loader is None):
            return at_hand
        if self._loader is not None and (found := self._loader(self, version)) is not None:
            return found
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


Doc = TypeVar("Doc", bound=Record)  # a document type: ModelRecord, EndpointRecord


class DocumentStore(Generic[Doc]):
    """JSON documents of one pydantic type in one folder of the layout, updated by compare-and-swap.

    Args:
        storage: The backend.
        record_type: The pydantic model of the documents.
        documents: Where they are (`layout.MODELS`, `layout.ENDPOINTS`).
    """

    def __init__(self, storage: StorageBackend, record_type: type[Doc], documents: layout.Documents) -> None:
        self.storage = storage
        self.record_type = record_type
        self.documents = documents
        self.kind = documents.kind
        # name -> (bytes, record) of the last version of each document read or written here: parsing is a pure
        # function of the bytes, so unchanged bytes (compared in full) reuse the record. Records are frozen and shared.
        self._parsed: dict[str, tuple[bytes, Doc]] = {}
        self.context: dict[str, object] = {LOCATIONS_CONTEXT: layout.RootRelativeLocations(storage.uri)}

    def key(self, name: str) -> str:
        """Key of the document of `name` (validated, so it can never leave its folder)."""
        return self.documents.key(name)

    def names(self) -> list[str]:
        """Return the names of every document, sorted."""
        listed = (self.documents.name_of(key) for key in self.storage.list(self.documents.prefix))
        return sorted(name for name in listed if name is not None)

    def get(self, name: str) -> Doc | None:
        """Return the document of `name`, or None (one read). Raises: CorruptRecordError."""
        key = self.key(name)
        try:
            data = self.storage.read(key)  # no generation needed: the local backend would hash the bytes for it
        except NotFoundError:
            return None
        return self._parse(name, key, data)

    def _load_with_generation(self, name: str) -> tuple[Doc | None, str | None]:
        key = self.key(name)
        try:
            data, generation = self.storage.read_with_generation(key)
        except NotFoundError:
            return None, None
        return self._parse(name, key, data), generation

    def _parse(self, name: str, key: str, data: bytes) -> Doc:
        """Parse `data`, or return the previous parse of `name` if its bytes are exactly the same."""
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == data:
            return cached[1]
        record = parse_document(self.record_type, data, key, self.context)
        self._remember(name, data, record)
        return record

    def _remember(self, name: str, data: bytes, record: Doc) -> None:
        if len(self._parsed) >= _PARSED_DOCUMENTS and name not in self._parsed:
            self._parsed.clear()  # a bound on memory; clear() is safe against other threads, unlike eviction loops
        self._parsed[name] = (data, record)

    def update(self, name: str, mutate: Callable[[Doc | None], Doc]) -> Doc:
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
        contention = Contention(f"{self.kind} {name!r}")
        while True:
            contention.begin()
            current, generation = self._load_with_generation(name)
            if current is not None and contention.landed(_history_ids(current)):
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
                contention.lost(added_history(updated, current))
                continue
            if contention.attempts:
                logger.debug("updated %s after %d conflicts", key, contention.attempts)
            self._remember(name, data, updated)  # `data` is `updated` serialized: the next read needs no parse
            return updated


def _history_ids(record: Record) -> set[str]:
    """Ids of a document's history entries (model and endpoint documents both keep an id'd history)."""
    return {entry.id for entry in getattr(record, "history", ())}


def added_history(updated: Record, current: Record | None) -> set[str]:
    """Ids of the history entries that `updated` has and `current` had not (what one attempt of a change wrote)."""
    return _history_ids(updated) - (_history_ids(current) if current is not None else set())


class MetadataStore(DocumentStore[ModelRecord]):
    """The model documents."""

    def __init__(self, storage: StorageBackend) -> None:
        super().__init__(storage, ModelRecord, layout.MODELS)

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


def parse_document(record_type: type[Doc], data: bytes, key: str, context: dict[str, object] | None = None) -> Doc:
    """Parse a document (`context`: the store's, which resolves artifact locations).

    Raises:
        CorruptRecordError: naming the key and the first problem.
    """
    try:
        return record_type.model_validate_json(data, context=context)
    except ValidationError as exc:
        msg = f"corrupt record {key}: {one_line(exc)}"  # keys and messages come from the document: one line
        raise CorruptRecordError(msg) from None
