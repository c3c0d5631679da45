"""ModelStore: models in the per-version layout, read in a few small requests and changed by one compare-and-swap.

What is where (keys in `layout`, documents in `documents`):

* ``versions/<model>/<label>.json``: a version's facts, written once. Creating it if absent allocates the label.
* ``heads/<model>.json``: the head. It holds the state of a bounded working set of versions (the newest ones, the
  latest, every version in production or staging and every one with a pending request), the newest history entries
  and what history replays need. Every change of the model is one compare-and-swap of the head, built by a pure
  change of a working record (`store.ModelRecord`) that holds the working set's versions and reads any other
  version it asks for by label; so a promotion, the archiving of the previous holder and their history entries are
  one write, as in the one-document layout, and none of it grows with the number of versions or the history.
* When the working set outgrows `HOT_HIGH`, the versions registered longest ago that are not pinned leave it: their
  state, with a copy of the version's facts, goes to ``versions/<model>/<label>.state.json`` and their listing row
  to ``index/<model>/<chunk>.json`` (both merged by the state's revision, so a stale writer never overwrites a newer
  copy), then the head drops them.
  When the history in the head outgrows `TAIL_HIGH`, its oldest `SEAL_SIZE` entries go to a sealed segment
  ``history/<model>/<seq>-<first entry>.json`` (created if absent, the same content whoever writes it) with the
  production and staging holders at its start, so that `holders_at` reads one segment.

Costs in requests (GCS): resolving a stage or any version, 2 (head, then the version file, or for an older version
its state file, which carries a copy of its facts); listing N versions, 1 + ceil(N_older / 1000); a promotion, 3
(head, that same file, the conditional write). A model still in the one-document layout of earlier releases
(``models/<name>.json``) is read as it is and converted (`migrate`) before its first change.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from registry_core import layout
from registry_core.contention import CAS_DEADLINE_SECONDS, Contention
from registry_core.documents import (
    LAYOUT_VERSION,
    TRACKED_STAGES,
    ColdVersion,
    HistorySegment,
    HotVersion,
    IndexChunk,
    IndexRow,
    ModelHead,
    VersionFacts,
    VersionState,
    VersionSummary,
    brief_of,
    compose,
    facts_of,
    replay_holders,
    sketch,
    state_of,
    summary,
)
from registry_core.errors import (
    ConcurrentModificationError,
    ConflictError,
    CorruptRecordError,
    ModelNotFoundError,
    NotFoundError,
    VersionNotFoundError,
)
from registry_core.lifecycle.rollback import replay_trail
from registry_core.metadata import LOCATIONS_CONTEXT, SCHEMA_VERSION, HistoryEntry, ModelMetadata, ModelStage
from registry_core.storage.base import StorageBackend
from registry_core.store import MetadataStore, ModelRecord, added_history
from registry_core.text import one_line
from registry_core.versioning import normalize_version, version_key

logger = logging.getLogger(__name__)

HOT_HIGH = 40  # versions in the head's working set before some leave it...
HOT_LOW = 20  # ...down to this many (pinned ones stay whatever their number)
TAIL_HIGH = 40  # history entries in the head before the oldest are sealed...
SEAL_SIZE = 30  # ...this many at a time, always: every writer seals the same entries into the same segment
PINNED_STAGES = frozenset(TRACKED_STAGES)
_EVICTION_THREADS = 8
_CACHED_FACTS = 4096  # version files are immutable: a store keeps this many parsed
_CACHED_CHUNKS = 16  # index chunks kept parsed, with their listing rows (16,000 versions)

Doc = TypeVar("Doc", bound=BaseModel)
Change = Callable[[ModelRecord | None], ModelRecord]


@dataclass(frozen=True)
class HeadRead:
    """A model's head as one read found it, for a change to start from (`ModelStore.read_head`).

    Attributes:
        head: The head, or None if the model had none.
        generation: The head's generation (None if there was none): the compare-and-swap's condition.
    """

    head: ModelHead | None
    generation: str | None


class ModelStore:
    """The models of one registry root.

    Args:
        storage: The backend.
    """

    def __init__(self, storage: StorageBackend) -> None:
        self.storage = storage
        self.context: dict[str, object] = {LOCATIONS_CONTEXT: layout.RootRelativeLocations(storage.uri)}
        self.legacy = MetadataStore(storage)
        self._heads: dict[str, tuple[bytes, ModelHead]] = {}
        self._facts: dict[tuple[str, str], VersionFacts] = {}
        # Index chunks as last read, with their listing rows: a warm registry lists again without parsing again.
        self._chunks: dict[str, tuple[bytes, IndexChunk, dict[str, VersionSummary] | None]] = {}

    # ---------------------------------------------------------------------------------------------- reading

    def list_models(self) -> list[str]:
        """Return the names of every model (either layout), sorted."""
        heads = (layout.HEADS.name_of(key) for key in self.storage.list(layout.HEADS.prefix))
        return sorted({name for name in heads if name is not None} | set(self.legacy.names()))

    def head(self, name: str) -> ModelHead | None:
        """Return the model's head, or None if it has none (not registered, or still in the old layout)."""
        return self._read_head(name, generation=False)[0]

    def read_head(self, name: str) -> HeadRead:
        """Return the model's head with its generation, for `update` to start from without reading it again."""
        return HeadRead(*self._read_head(name, generation=True))

    def exists(self, name: str) -> bool:
        """Return True if the model is registered (in either layout)."""
        return self.head(name) is not None or self.legacy.get(name) is not None

    def resolve(self, name: str, version: str | None = None, stage: ModelStage | str | None = None) -> ModelMetadata:
        """Return one version: by label, by stage (its latest version there), or the latest overall.

        Raises:
            ModelNotFoundError, VersionNotFoundError: nothing matches.
        """
        wanted = ModelStage.parse(stage) if stage is not None else None
        head = self.head(name)
        if head is None:
            return _resolve_in(self._legacy(name), version, wanted)
        if version is not None:
            metadata = self.version(name, normalize_version(version, head.versioning), head)
            if wanted is not None and metadata.stage is not wanted:
                msg = f"{name} {metadata.version} is in {metadata.stage.value}, not {wanted.value}"
                raise VersionNotFoundError(msg)
            return metadata
        label = head.latest if wanted is None else self._latest_in(name, head, wanted)
        if label is None:
            where = f" in {wanted.value}" if wanted is not None else ""
            msg = f"model {name!r} has no version{where}"
            raise VersionNotFoundError(msg)
        return self.version(name, label, head)

    def version(self, name: str, label: str, head: ModelHead | None = None) -> ModelMetadata:
        """Return the whole metadata of version `label` (its facts and its state).

        Raises:
            ModelNotFoundError: no such model. VersionNotFoundError: no such version.
        """
        head = head if head is not None else self.head(name)
        if head is None:
            return self._legacy(name).get(label)
        found = self._full(name, head, label)
        if found is None:
            known = ", ".join(sorted(head.hot, key=version_key)[-5:]) or "none"
            msg = f"model {name!r} has no version {label}; latest versions: {known}"
            raise VersionNotFoundError(msg)
        return found

    def list_versions(self, name: str) -> list[VersionSummary]:
        """Return a listing row of every version, ordered by label. Raises: ModelNotFoundError."""
        head = self.head(name)
        if head is None:
            record = self._legacy(name)
            return [
                summary(name, brief_of(facts_of(m), index), m.stage, state_of(m, m.metrics).added_metrics)
                for index, m in enumerate(record.sorted_versions(), 1)
            ]
        rows = {
            label: row
            for chunk in self._index_chunks(name, head)
            for label, row in self._summaries(name, chunk).items()
            if label not in head.hot
        }
        rows |= {label: summary(name, h.brief, h.state.stage, h.state.added_metrics) for label, h in head.hot.items()}
        return [rows[label] for label in sorted(rows, key=version_key)]

    def history(self, name: str) -> list[HistoryEntry]:
        """Return the model's whole history, oldest first. Raises: ModelNotFoundError."""
        head = self.head(name)
        if head is None:
            return list(self._legacy(name).history)
        return self._history_of(name, head)

    def _history_of(self, name: str, head: ModelHead) -> list[HistoryEntry]:
        """The history as of `head`: its sealed segments, then its tail."""
        entries: list[HistoryEntry] = []
        for _, _, key in self._segment_keys(name, head):
            entries.extend(self._segment(key).entries)
        return entries + list(head.tail)

    def holders_at(self, name: str, when: datetime) -> dict[ModelStage, tuple[str, ...]]:
        """Return the versions in production and staging at `when`, reading only the history that covers it.

        Raises:
            ModelNotFoundError: no such model.
        """
        head = self.head(name)
        if head is None:
            return replay_holders({}, [e for e in self._legacy(name).history if e.at <= when])
        if head.tail and head.tail[0].at <= when:
            return replay_holders(head.holders_at_tail, [e for e in head.tail if e.at <= when])
        starts = [key for _, first_at, key in self._segment_keys(name, head) if first_at <= when]
        if not starts:
            return {}
        segment = self._segment(starts[-1])
        return replay_holders(segment.holders_at_start, [e for e in segment.entries if e.at <= when])

    def pending(self, name: str) -> list[ModelMetadata]:
        """Return the versions with a pending promotion request (each is in the working set)."""
        head = self.head(name)
        if head is None:
            return [m for m in self._legacy(name).versions if _has_pending(m.promotion_requests)]
        waiting = [label for label, hot in head.hot.items() if _has_pending(hot.state.promotion_requests)]
        return [self.version(name, label, head) for label in waiting]

    def rollback_candidates(self, name: str) -> list[str]:
        """Return the versions production may be rolled back to, the default first."""
        from registry_core.lifecycle.rollback import candidates

        head = self.head(name)
        record = self._legacy(name) if head is None else self._record(name, head)
        return candidates(record)

    def full_record(self, name: str) -> ModelRecord:
        """Return the model with every version in full and its whole history (check and tools; reads everything).

        Raises:
            ModelNotFoundError: no such model. CorruptRecordError: a document does not parse.
        """
        head = self.head(name)
        if head is None:
            return self._legacy(name)
        ordinals = {
            label: row.brief.ordinal for chunk in self._index_chunks(name, head) for label, row in chunk.rows.items()
        }
        ordinals |= {label: hot.brief.ordinal for label, hot in head.hot.items()}
        versions = sorted((self.version(name, label, head) for label in ordinals), key=lambda m: ordinals[m.version])
        return ModelRecord(
            name=head.name, created_at=head.created_at, versioning=head.versioning, versions=tuple(versions),
            history=tuple(self._history_of(name, head)),
        )  # fmt: skip

    # ---------------------------------------------------------------------------------------------- writing

    def create_version_file(self, facts: VersionFacts) -> None:
        """Write a new version's facts; the label is taken if and only if this succeeds.

        The facts are remembered for the commit that follows; a registration that does not commit forgets them
        (`forget_facts`).

        Raises:
            ConflictError: a version file with that label exists.
        """
        key = layout.version_key(facts.model_name, facts.version)
        self.storage.create(key, facts.model_dump_json(context=self.context).encode())
        self._remember_facts(facts)

    def delete_version_file(self, name: str, label: str) -> None:
        """Remove the version file of a registration that was not committed."""
        self.forget_facts(name, label)
        self.storage.delete(layout.version_key(name, label))

    def update(self, name: str, change: Change, *, start: HeadRead | None = None) -> ModelRecord:
        """Apply `change` to the model's working record and write the result with one compare-and-swap of its head.

        `change` gets the working record as last read (None if the model has no head yet) and returns the new one;
        it is called again on fresh state whenever another writer got there first, so it must be pure. The history
        entries it adds are written with one time, the first one's (they happened in one write). The returned
        record reads versions that are not at hand as they are after this write.

        A conflict may also answer a write that did land (a retry meeting its own first attempt): the history
        entries of every conflicting attempt are kept, and if the fresh head already has them, that attempt
        landed and the change is not applied a second time.

        Args:
            name: The model.
            change: The pure change.
            start: The head as the caller just read it (`read_head`): the first attempt starts from it instead of
                reading the head again (a registration reads it anyway to choose its label). If it is stale, the
                compare-and-swap fails and the next attempt reads the head afresh.

        Raises:
            ConcurrentModificationError: other writers kept winning for CAS_DEADLINE_SECONDS.
        """
        key = layout.HEADS.key(name)
        contention = Contention(f"model {name!r}")
        sealed_before: int | None = None  # segments the head had when an attempt was first lost
        while True:
            contention.begin()
            if start is not None:
                head, generation, start = start.head, start.generation, None
            else:
                head, generation = self._read_head(name, generation=True)
            if head is None and self.legacy.get(name) is not None:
                self.migrate(name)
                continue
            if head is not None and contention.landed(self._entries_since(name, head, sealed_before)):
                logger.debug("a conflicting write to %s had landed; not applying it again", key)
                return self._record(name, head)
            seen: dict[str, ColdVersion] = {}  # older versions this attempt read (they come back into the working set)
            current = self._record(name, head, seen) if head is not None else None
            updated = _one_moment(change(current), len(current.history) if current is not None else 0)
            if updated == current:
                return updated
            new_head = self._next_head(name, head, current, updated, seen)
            data = new_head.model_dump_json(context=self.context).encode()
            try:
                if generation is None:
                    self.storage.create(key, data)
                else:
                    self.storage.compare_and_swap(key, data, generation)
            except ConflictError:
                if sealed_before is None:
                    sealed_before = head.segments if head is not None else 0
                contention.lost(added_history(updated, current))
                continue
            self._heads[name] = (data, new_head)
            return updated.with_loader(self._loader(name, new_head, {}))

    def _entries_since(self, name: str, head: ModelHead, sealed_before: int | None) -> set[str]:
        """Ids of the head's tail, and of the segments sealed since `sealed_before` segments (None: none yet).

        An attempt whose answer was lost may have landed, and another writer may since have sealed its entries out of
        the tail: they are looked for there too, or the change would be applied twice.
        """
        ids = {entry.id for entry in head.tail}
        if sealed_before is not None and head.segments > sealed_before:
            for seq, _, key in self._segment_keys(name, head):
                if seq >= sealed_before:
                    ids |= {entry.id for entry in self._segment(key).entries}
        return ids

    def migrate(self, name: str) -> bool:
        """Convert a model from the one-document layout to this one; return False if it was not in the old layout.

        Safe to interrupt and to run again: every file is created if absent or merged, the head is created last and
        the old document removed after it.
        """
        from registry_core.migration import convert

        record = self.legacy.get(name)
        if record is None:
            return False
        if self.head(name) is not None and not self.legacy_is_leftover(name, record):
            msg = (
                f"model {name!r} is in both layouts, and {layout.MODELS.key(name)} holds changes its head lacks "
                "(a client of an earlier release wrote it after the conversion); it was kept: register or promote "
                "those versions again with this release, then delete the file"
            )
            raise CorruptRecordError(msg)
        if self.head(name) is None:
            converted = convert(record, hot=HOT_LOW, seal=SEAL_SIZE, pinned=lambda m: _pinned_state(m, None))
            # What an interrupted run wrote is compared, not written again (locally a refused create costs a sync).
            present = set(self.storage.list(layout.versions_folder(name)))
            present |= set(self.storage.list(layout.history_folder(name)))
            for facts in converted.facts:
                self._create_or_match(layout.version_key(name, facts.version), facts, present)
            for label, cold in converted.cold.items():
                absent = layout.state_key(name, label) not in present
                self._merge_state(name, label, cold, migrating=True, likely_absent=absent)
            for chunk, rows in converted.index.items():
                self._merge_index(name, chunk, rows, migrating=True)
            for segment in converted.segments:
                self._create_or_match(layout.segment_key(name, segment.seq, segment.entries[0].at), segment, present)
            try:
                self.storage.create(
                    layout.HEADS.key(name), converted.head.model_dump_json(context=self.context).encode()
                )
            except ConflictError:
                logger.debug("%s was migrated by another process meanwhile", name)
        self.storage.delete(layout.MODELS.key(name))
        logger.info("migrated %s to the per-version layout", name)
        return True

    def legacy_is_leftover(self, name: str, record: ModelRecord | None = None) -> bool:
        """Whether the old-layout document beside a head says nothing the head's history lacks.

        So it is what an interrupted conversion left (removing it loses nothing), not the work of a client of an
        earlier release that wrote the old document after the conversion.
        """
        record = record if record is not None else self.legacy.get(name)
        head = self.head(name)
        if record is None or head is None:
            return True
        known = {entry.id for entry in self._history_of(name, head)}
        return all(entry.id in known for entry in record.history)

    # ---------------------------------------------------------------------------------------------- the head

    def _read_head(self, name: str, *, generation: bool) -> tuple[ModelHead | None, str | None]:
        key = layout.HEADS.key(name)
        try:
            if generation:
                data, found = self.storage.read_with_generation(key)
            else:
                data, found = self.storage.read(key), None
        except NotFoundError:
            return None, None
        cached = self._heads.get(name)
        if cached is not None and cached[0] == data:
            return cached[1], found
        head = self._parse(ModelHead, data, key)
        if head.layout > LAYOUT_VERSION:
            msg = f"{key} is of layout {head.layout}, newer than this library ({LAYOUT_VERSION}); upgrade registry-core"
            raise CorruptRecordError(msg)
        self._heads[name] = (data, head)
        return head, found

    def _record(self, name: str, head: ModelHead, seen: dict[str, ColdVersion] | None = None) -> ModelRecord:
        """The working record of a change: the working set (as sketches), the tail, the rollback trail."""
        versions = tuple(
            sketch(name, hot.brief, hot.state) for hot in sorted(head.hot.values(), key=lambda h: h.brief.ordinal)
        )
        record = ModelRecord(
            name=head.name, created_at=head.created_at, versioning=head.versioning, versions=versions,
            history=head.tail, trail_base=head.trail_at_tail,
        )  # fmt: skip
        return record.with_loader(self._loader(name, head, {} if seen is None else seen))

    def _loader(
        self, name: str, head: ModelHead, seen: dict[str, ColdVersion]
    ) -> Callable[[ModelRecord, str], ModelMetadata | None]:
        """Read a version in full for a working record: its facts, with its state as the record has it."""

        def load(record: ModelRecord, label: str) -> ModelMetadata | None:
            at_hand = next((m for m in record.versions if m.version == label), None)
            if at_hand is None:
                return self._full(name, head, label, seen)
            facts = self._facts_for(name, label)
            if facts is None:
                msg = f"model {name!r} lists version {label} but its file {layout.version_key(name, label)} is missing"
                raise CorruptRecordError(msg)
            return compose(facts, state_of(at_hand, facts.metrics))

        return load

    def _full(
        self, name: str, head: ModelHead, label: str, seen: dict[str, ColdVersion] | None = None
    ) -> ModelMetadata | None:
        """A version in full: from the head and its version file, or from its state file alone (one read each)."""
        hot = head.hot.get(label)
        if hot is None:
            cold = self._cold(name, label)
            if cold is None:
                return None  # no such version (a version file alone is a registration that never committed)
            if seen is not None:
                seen[label] = cold
            self._remember_facts(cold.facts)
            return compose(cold.facts, cold.state)
        facts = self._facts_for(name, label)
        if facts is None:
            msg = f"model {name!r} lists version {label} but its file {layout.version_key(name, label)} is missing"
            raise CorruptRecordError(msg)
        return compose(facts, hot.state)

    def _next_head(
        self,
        name: str,
        head: ModelHead | None,
        before: ModelRecord | None,
        after: ModelRecord,
        seen: dict[str, ColdVersion],
    ) -> ModelHead:
        """Return the head after `after`, writing first what leaves it (state files, index rows, a segment)."""
        revision = (head.revision if head is not None else 0) + 1
        if head is None:
            head = ModelHead(name=after.name, created_at=after.created_at, versioning=after.versioning)
        hot = dict(head.hot)
        next_ordinal, latest = head.next_ordinal, head.latest
        previous = {m.version: m for m in before.versions} if before is not None else {}
        touched: set[str] = set()
        for metadata in after.versions:
            label = metadata.version
            known = hot.get(label)
            if known is not None:
                state = state_of(metadata, known.brief.metrics, revision)
                if previous.get(label) is not None and state.same_as(known.state):
                    continue
                hot[label] = HotVersion(brief=known.brief, state=state)
            else:
                cold = seen.get(label)
                if cold is not None:  # an older version this change read and changed: back into the working set
                    hot[label] = HotVersion(brief=cold.brief, state=state_of(metadata, cold.brief.metrics, revision))
                else:  # a new registration (its version file is written)
                    facts = facts_of(metadata)
                    hot[label] = HotVersion(brief=brief_of(facts, next_ordinal), state=VersionState(revision=revision))
                    next_ordinal += 1
                    if latest is None or version_key(label) > version_key(latest):
                        latest = label
            touched.add(label)
        new_entries = after.history[len(before.history) if before is not None else 0 :]
        tail = head.tail + new_entries
        updated = head.model_copy(
            update={"revision": revision, "hot": hot, "next_ordinal": next_ordinal, "latest": latest, "tail": tail}
        )
        updated = self._evict(name, updated, touched)
        return self._seal(name, updated, committed=len(head.tail))

    def _evict(self, name: str, head: ModelHead, touched: set[str]) -> ModelHead:
        if len(head.hot) <= HOT_HIGH:
            return head
        movable = sorted(
            (h for label, h in head.hot.items() if label not in touched and not _pinned(label, h.state, head.latest)),
            key=lambda h: h.brief.ordinal,
        )
        leaving = movable[: max(0, len(head.hot) - HOT_LOW)]
        with ThreadPoolExecutor(max_workers=_EVICTION_THREADS) as pool:
            found = list(pool.map(lambda hot: self._facts_for(name, hot.brief.version), leaving))
        facts = {hot.brief.version: f for hot, f in zip(leaving, found, strict=True) if f is not None}
        leaving = [hot for hot in leaving if hot.brief.version in facts]  # the others stay (check reports them)
        if not leaving:
            return head
        chunks: dict[int, dict[str, IndexRow]] = {}
        for hot in leaving:
            row = IndexRow(brief=hot.brief, stage=hot.state.stage, added_metrics=hot.state.added_metrics,
                           revision=hot.state.revision)  # fmt: skip
            chunks.setdefault(layout.index_chunk(hot.brief.ordinal), {})[hot.brief.version] = row
        # The state files are independent writes, each waiting for its disk flush or round trip: overlap them.
        jobs = [
            partial(self._merge_state, name, h.brief.version, ColdVersion(brief=h.brief, state=h.state,
                                                                          facts=facts[h.brief.version]))
            for h in leaving
        ]  # fmt: skip
        jobs += [partial(self._merge_index, name, chunk, rows) for chunk, rows in chunks.items()]
        with ThreadPoolExecutor(max_workers=_EVICTION_THREADS) as pool:
            for done in [pool.submit(job) for job in jobs]:
                done.result()
        gone = {hot.brief.version for hot in leaving}
        return head.model_copy(
            update={
                "hot": {label: h for label, h in head.hot.items() if label not in gone},
                "frozen_upto": max(head.frozen_upto, *(hot.brief.ordinal for hot in leaving)),
                "frozen_top": max((label for label in (head.frozen_top, *gone) if label), key=version_key),
            }
        )

    def _seal(self, name: str, head: ModelHead, committed: int) -> ModelHead:
        """Seal the oldest `SEAL_SIZE` entries of the tail while it is longer than `TAIL_HIGH`.

        Only entries among the first `committed` (those the head held before this write) are sealed: a segment is
        written before the head's compare-and-swap, and a writer that then loses the race or dies must leave a
        segment that every later writer would write the same. A change that adds many entries to a short tail
        leaves the tail longer than `TAIL_HIGH` until the next write seals it.
        """
        while len(head.tail) > TAIL_HIGH and committed >= SEAL_SIZE:
            committed -= SEAL_SIZE
            sealed, rest = head.tail[:SEAL_SIZE], head.tail[SEAL_SIZE:]
            segment = HistorySegment(seq=head.segments, entries=sealed, holders_at_start=head.holders_at_tail)
            self._create_or_match(layout.segment_key(name, segment.seq, sealed[0].at), segment)
            head = head.model_copy(
                update={
                    "tail": rest,
                    "segments": head.segments + 1,
                    "holders_at_tail": replay_holders(head.holders_at_tail, sealed),
                    "trail_at_tail": tuple(replay_trail(head.trail_at_tail, sealed)),
                }
            )
        return head

    # ---------------------------------------------------------------------------------------------- files

    def version_facts(self, name: str, label: str) -> VersionFacts | None:
        """Return the facts in a version file as it is now (committed or not), or None if there is none.

        Not remembered: the file of a registration that never committed may be removed by gc and its label taken
        by another registration, with other facts.
        """
        return self._read_facts(name, label)

    def forget_facts(self, name: str, label: str) -> None:
        """Forget the facts of a version file that did not become a version (see `version_facts`)."""
        self._facts.pop((name, label), None)

    def _version_facts(self, name: str, label: str) -> VersionFacts | None:
        """The facts of a committed version: they never change, so they are remembered."""
        cached = self._facts.get((name, label))
        if cached is not None:
            return cached
        facts = self._read_facts(name, label)
        if facts is not None:
            self._remember_facts(facts)
        return facts

    def _read_facts(self, name: str, label: str) -> VersionFacts | None:
        key = layout.version_key(name, label)
        try:
            data = self.storage.read(key)
        except NotFoundError:
            return None
        return self._parse(VersionFacts, data, key)

    def _remember_facts(self, facts: VersionFacts) -> None:
        if len(self._facts) >= _CACHED_FACTS:
            self._facts.clear()
        self._facts[(facts.model_name, facts.version)] = facts

    def _cold(self, name: str, label: str) -> ColdVersion | None:
        key = layout.state_key(name, label)
        try:
            return self._parse(ColdVersion, self.storage.read(key), key)
        except NotFoundError:
            return None

    def _facts_for(self, name: str, label: str) -> VersionFacts | None:
        """The facts of a committed version: its version file, else the copy in a state file it left behind.

        None (logged) if neither can be read: `check` reports the file; reads of that version fail, other work goes on.
        """
        try:
            facts = self._version_facts(name, label)
        except CorruptRecordError:
            facts = None
        if facts is not None:
            return facts
        try:
            cold = self._cold(name, label)
        except CorruptRecordError:
            cold = None
        if cold is None or cold.facts.version != label:
            logger.warning("%s: cannot read the facts of %s; `model-registry check` reports why", name, label)
            return None
        logger.warning("%s: %s is missing or damaged; using the copy in its state file", name, label)
        return cold.facts

    def _merge_state(
        self, name: str, label: str, cold: ColdVersion, *, migrating: bool = False, likely_absent: bool = True
    ) -> None:
        """Write a state file unless it holds a newer state (a higher revision) already.

        `migrating`: also replace a state of the same revision that differs. A migration stamps revision 1, which a
        version outside the working set gets only from a migration: such a file is left by an interrupted run that
        read the old document before a client of an earlier release changed it.
        """
        key = layout.state_key(name, label)

        def newer(current: ColdVersion | None) -> ColdVersion | None:
            if current is None or current.state.revision < cold.state.revision:
                return cold
            if migrating and current.state.revision == cold.state.revision and current != cold:
                return cold
            return None

        # Most versions leave the working set once, so their state file is new: create it without reading first.
        self._merge(key, ColdVersion, newer, likely_absent=likely_absent)

    def _merge_index(self, name: str, chunk: int, rows: dict[str, IndexRow], *, migrating: bool = False) -> None:
        """Add listing rows to an index chunk, keeping for each version the row of the higher revision.

        `migrating`: also replace a row of the same revision that differs (see `_merge_state`).
        """
        key = layout.index_key(name, chunk)

        def merged(current: IndexChunk | None) -> IndexChunk | None:
            existing = dict(current.rows) if current is not None else {}
            fresh = {
                label: row
                for label, row in rows.items()
                if label not in existing
                or existing[label].revision < row.revision
                or (migrating and existing[label].revision == row.revision and existing[label] != row)
            }
            return IndexChunk(rows=existing | fresh) if fresh else None

        self._merge(key, IndexChunk, merged, repair=partial(self._rebuilt_chunk, name, chunk))

    def _rebuilt_chunk(self, name: str, chunk: int, data: bytes) -> IndexChunk:
        """The rows of an index chunk that does not parse, made again from the state files of its versions.

        The rows only repeat what the state files say, so a damaged chunk would otherwise stop every later eviction,
        and with it every registration of the model. A chunk of a newer schema is another library's: not replaced.

        Raises:
            CorruptRecordError: the chunk is of a newer schema than this library.
        """
        key = layout.index_key(name, chunk)
        try:
            written = json.loads(data)
        except ValueError:
            written = None
        schema = written.get("schema_version") if isinstance(written, dict) else None
        if isinstance(schema, int) and schema > SCHEMA_VERSION:
            self._parse(IndexChunk, data, key)  # raises, saying which schema
        labels = [
            found[1]
            for k in self.storage.list(layout.versions_folder(name))
            if (found := layout.label_of_version_key(k)) is not None and found[2]
        ]

        def readable(label: str) -> ColdVersion | None:
            try:
                return self._cold(name, label)
            except CorruptRecordError:
                return None  # check reports it

        with ThreadPoolExecutor(max_workers=_EVICTION_THREADS) as pool:
            colds = [cold for cold in pool.map(readable, labels) if cold is not None]
        rows = {
            c.brief.version: IndexRow(brief=c.brief, stage=c.state.stage, added_metrics=c.state.added_metrics,
                                      revision=c.state.revision)
            for c in colds
            if layout.index_chunk(c.brief.ordinal) == chunk and c.brief.version == c.facts.version
        }  # fmt: skip
        logger.warning("%s does not parse; rebuilt its %d rows from the state files", key, len(rows))
        return IndexChunk(rows=rows)

    def _merge(
        self,
        key: str,
        kind: type[Doc],
        change: Callable[[Doc | None], Doc | None],
        *,
        likely_absent: bool = False,
        repair: Callable[[bytes], Doc] | None = None,
    ) -> None:
        """Read-modify-write `key` by compare-and-swap until it lands (`change` returns None: nothing to write).

        With `likely_absent`, first try to create `key` with ``change(None)`` (one request instead of two); if it
        exists, merge with what it holds as usual. With `repair`, a document that does not parse is replaced by
        what `repair` makes of its bytes (or `repair` raises).
        """
        deadline = time.monotonic() + CAS_DEADLINE_SECONDS
        if likely_absent:
            fresh = change(None)
            if fresh is None:
                return
            try:
                self.storage.create(key, fresh.model_dump_json(context=self.context).encode())
                return
            except ConflictError:
                pass
        while True:
            try:
                data, generation = self.storage.read_with_generation(key)
            except NotFoundError:
                data, generation = None, None
            repaired = False
            try:
                current: Doc | None = self._parse(kind, data, key) if data is not None else None
            except CorruptRecordError:
                if repair is None or data is None:
                    raise
                current, repaired = repair(data), True
            updated = change(current)
            if updated is None and repaired:
                updated = current  # the repair alone is worth writing
            if updated is None:
                return
            payload = updated.model_dump_json(context=self.context).encode()
            try:
                if generation is None:
                    self.storage.create(key, payload)
                else:
                    self.storage.compare_and_swap(key, payload, generation)
                return
            except ConflictError:
                if time.monotonic() > deadline:
                    msg = f"gave up writing {key} after conflicts"
                    raise ConcurrentModificationError(msg) from None
                time.sleep(random.uniform(0, 0.05))

    def _create_or_match(self, key: str, document: BaseModel, present: Collection[str] = ()) -> None:
        """Create `key` with `document`; if it exists (or is in `present`), it must hold the same.

        Raises:
            CorruptRecordError: it holds something else.
        """
        if key not in present:
            try:
                self.storage.create(key, document.model_dump_json(context=self.context).encode())
                return
            except ConflictError:
                pass  # another writer made it first
        existing = self._parse(type(document), self.storage.read(key), key)
        if existing != document:
            msg = f"{key} exists with other content than this write would give it"
            raise CorruptRecordError(msg)

    def _segment_keys(self, name: str, head: ModelHead) -> list[tuple[int, datetime, str]]:
        """The segments `head` counts, oldest first: (sequence number, first entry's time, key).

        A writer seals a segment before its compare-and-swap of the head; if it then dies or loses the race, the
        segment is there but the head does not count it (its entries are still in the tail): it is not history yet,
        and the next writer that seals those entries writes the same segment (`_create_or_match`).
        """
        listed = [(layout.segment_of(key), key) for key in self.storage.list(layout.history_folder(name))]
        return sorted((*found, key) for found, key in listed if found is not None and found[0] < head.segments)

    def _segment(self, key: str) -> HistorySegment:
        return self._parse(HistorySegment, self.storage.read(key), key)

    def _summaries(self, name: str, chunk: IndexChunk) -> dict[str, VersionSummary]:
        """The listing rows of a chunk, built once for the chunk as last read."""
        for key, (data, cached, rows) in tuple(self._chunks.items()):  # other threads may add chunks
            if cached is chunk:
                if rows is None:
                    rows = {label: summary(name, r.brief, r.stage, r.added_metrics) for label, r in chunk.rows.items()}
                    self._chunks[key] = (data, chunk, rows)
                return rows
        return {label: summary(name, r.brief, r.stage, r.added_metrics) for label, r in chunk.rows.items()}

    def _chunk(self, key: str) -> IndexChunk:
        """Read an index chunk, reusing the last parse of the same bytes. Raises: NotFoundError."""
        data = self.storage.read(key)
        cached = self._chunks.get(key)
        if cached is not None and cached[0] == data:
            return cached[1]
        chunk = self._parse(IndexChunk, data, key)
        if len(self._chunks) >= _CACHED_CHUNKS:
            self._chunks.clear()
        self._chunks[key] = (data, chunk, None)
        return chunk

    def _index_chunks(self, name: str, head: ModelHead) -> Iterable[IndexChunk]:
        if head.frozen_upto <= 0:
            return
        last = layout.index_chunk(head.frozen_upto)
        for chunk in range(last + 1):  # by number: a listing would cost a request more
            key = layout.index_key(name, chunk)
            try:
                yield self._chunk(key)
            except NotFoundError:
                # A chunk whose versions all stayed in the working set, or a damaged head claiming more versions
                # than there are: go on with the chunks that exist, so a wrong count never costs a read per number.
                listed = (layout.index_chunk_of(k) for k in self.storage.list(f"{layout.INDEX_PREFIX}{name}/"))
                for later in sorted(n for n in listed if n is not None and chunk < n <= last):
                    key = layout.index_key(name, later)
                    try:
                        yield self._chunk(key)
                    except NotFoundError:
                        continue
                return

    def _latest_in(self, name: str, head: ModelHead, stage: ModelStage) -> str | None:
        """The highest label in `stage`: among the working set, unless a version outside it could be higher."""
        members = [label for label, h in head.hot.items() if h.state.stage is stage]
        best = max(members, key=version_key, default=None)
        frozen = head.frozen_top
        if stage in PINNED_STAGES or head.frozen_upto == 0:
            return best
        if best is not None and frozen is not None and version_key(best) > version_key(frozen):
            return best
        for chunk in self._index_chunks(name, head):
            for label, row in chunk.rows.items():
                higher = best is None or version_key(label) > version_key(best)
                if label not in head.hot and row.stage is stage and higher:
                    best = label
        return best

    def _legacy(self, name: str) -> ModelRecord:
        record = self.legacy.get(name)
        if record is None:
            msg = f"model {name!r} is not registered"
            raise ModelNotFoundError(msg)
        return record

    def _parse(self, kind: type[Doc], data: bytes, key: str) -> Doc:
        try:
            return kind.model_validate_json(data, context=self.context)
        except ValidationError as exc:
            msg = f"corrupt record {key}: {one_line(exc)}"
            raise CorruptRecordError(msg) from None


def _one_moment(record: ModelRecord, since: int) -> ModelRecord:
    """Stamp the history entries a change added (from `since` on) with the time of the first: one write, one moment.

    A promotion's entry and the archiving of the previous holder land together; were the second a microsecond
    later, `holders_at` the first one's time would see two versions in production.
    """
    added = record.history[since:]
    if len(added) < 2 or all(entry.at == added[0].at for entry in added):
        return record
    stamped = tuple(entry.model_copy(update={"at": added[0].at}) for entry in added)
    return record.model_copy(update={"history": record.history[:since] + stamped})


def _has_pending(requests: Iterable[object]) -> bool:
    return any(getattr(request, "status", "") == "pending" for request in requests)


def _pinned_state(metadata: ModelMetadata, latest: str | None) -> bool:
    return metadata.stage in PINNED_STAGES or _has_pending(metadata.promotion_requests) or metadata.version == latest


def _pinned(label: str, state: VersionState, latest: str | None) -> bool:
    """Whether a version stays in the working set: a stage holder, a pending request, or the latest version."""
    return state.stage in PINNED_STAGES or _has_pending(state.promotion_requests) or label == latest


def _resolve_in(record: ModelRecord, version: str | None, stage: ModelStage | None) -> ModelMetadata:
    if version is not None:
        metadata = record.get(normalize_version(version, record.versioning))
        if stage is not None and metadata.stage is not stage:
            msg = f"{record.name} {metadata.version} is in {metadata.stage.value}, not {stage.value}"
            raise VersionNotFoundError(msg)
        return metadata
    candidates = record.in_stage(stage) if stage is not None else record.sorted_versions()
    if not candidates:
        where = f" in {stage.value}" if stage is not None else ""
        msg = f"model {record.name!r} has no version{where}"
        raise VersionNotFoundError(msg)
    return candidates[-1]
