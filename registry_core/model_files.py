"""How check reads a model of the per-version layout: every file on its own, each problem reported at its file.

Readers trust the head and read only the files they need. Check reads every file a model has, so that a file that
is missing, does not parse or disagrees with another is reported where it is, and so that the versions the model
names are known even when some of its files are broken (their version files are never taken for orphans).

What must hold, with N = ``head.next_ordinal - 1`` versions committed:

* every ordinal 1..N belongs to one version, in the head's working set or in an index row (a row or a state file of
  a version in the working set is a stale copy that readers ignore, and so does check);
* every version has its version file, which says what its brief (in the head, or in its row and its state file)
  says, and a version outside the working set has a state file that agrees with its index row;
* no production or staging version, nor one with a pending request, is outside the working set: readers look for
  those in the working set only; the head's `latest` is the highest label;
* history segments 0..``head.segments - 1`` exist once each, and the production and staging holders they carry
  chain up to the head's.

Rows, state files and segments newer than the head check read (a write in progress, or one whose head write lost
its race) are left alone, as readers leave them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from registry_core import layout
from registry_core.documents import (
    TRACKED_STAGES,
    ColdVersion,
    HistorySegment,
    IndexChunk,
    IndexRow,
    ModelHead,
    VersionBrief,
    VersionFacts,
    VersionState,
    brief_of,
    compose,
    replay_holders,
)
from registry_core.errors import CorruptRecordError, InvalidInputError, NotFoundError, RegistryError
from registry_core.lifecycle.rollback import replay_trail
from registry_core.metadata import HistoryEntry, ModelStage, Record
from registry_core.model_store import ModelStore
from registry_core.store import ModelRecord, parse_document
from registry_core.text import one_line, shown
from registry_core.versioning import version_key

Doc = TypeVar("Doc", bound=Record)
_TIME = "%Y-%m-%d %H:%M:%S.%f"
_SHOWN = 5  # runs of missing versions or segments reported (a damaged head may claim billions)


@dataclass
class ModelFiles:
    """A model of the per-version layout as check found it.

    Attributes:
        record: Every version in full and the whole history, or None if a file could not be read.
        named: The labels the model names (working set, index rows, state files): their version files are in use.
        problems: (kind, key, message) of each problem, at the file concerned (see `maintenance.Problem`).
    """

    record: ModelRecord | None = None
    named: set[str] = field(default_factory=set)
    problems: list[tuple[str, str, str]] = field(default_factory=list)


def read_model_files(store: ModelStore, name: str, head: ModelHead, state_files: Iterable[str]) -> ModelFiles:
    """Read every file of model `name`, whose head is `head`, and say what is wrong with them.

    Args:
        store: The models.
        name: The model.
        head: Its head, as read.
        state_files: Labels of the state files listed under ``versions/<name>/``.
    """
    return _Inspection(store, name, head).run(set(state_files))


class _Inspection:
    def __init__(self, store: ModelStore, name: str, head: ModelHead) -> None:
        self.store, self.name, self.head = store, name, head
        self.head_key = layout.HEADS.key(name)
        self.found = ModelFiles()
        listed = (layout.index_chunk_of(key) for key in store.storage.list(f"{layout.INDEX_PREFIX}{name}/"))
        self.chunks = {n for n in listed if n is not None}
        self.incomplete = False  # a file could not be read, or versions are missing: no record can be put together

    def run(self, state_files: set[str]) -> ModelFiles:
        head = self.head
        briefs: dict[str, tuple[VersionBrief, str]] = {}  # label -> its brief, and the key of the file holding it
        states: dict[str, VersionState] = {}
        colds: dict[str, tuple[ColdVersion, str]] = {}  # label -> its state file, and the file's key
        for label, hot in head.hot.items():
            if hot.brief.version != label:
                self._invalid(self.head_key, f"the working set lists {label} with the brief of {hot.brief.version}")
            briefs[label], states[label] = (hot.brief, self.head_key), hot.state
        for label, (row, chunk_key) in self._index_rows().items():
            briefs[label] = (row.brief, chunk_key)
            cold = self._cold(label, row, chunk_key)
            if cold is not None:
                states[label] = cold.state
                colds[label] = (cold, layout.state_key(self.name, label))
        strays = self._stray_states(state_files - briefs.keys())
        self.found.named |= briefs.keys()
        self._ordinals(briefs, strays)
        facts = {label: f for label, (brief, at) in briefs.items() if (f := self._facts(label, brief, at)) is not None}
        for label, (cold, key) in colds.items():
            if label in facts and cold.facts != facts[label]:
                differ = _fields(cold.facts, facts[label])
                self._invalid(key, f"{label}: its copy of the facts disagrees with its version file ({differ})")
        highest = max(briefs, key=_order, default=None)
        if head.latest != highest and not self.incomplete:
            self._invalid(self.head_key, f"the head says its latest version is {head.latest}, but it is {highest}")
        history = self._sealed_history()
        if self.incomplete or history is None:
            return self.found
        ordered = sorted(briefs, key=lambda label: briefs[label][0].ordinal)
        self.found.record = ModelRecord(
            name=head.name, created_at=head.created_at, versioning=head.versioning,
            versions=tuple(compose(facts[label], states[label]) for label in ordered),
            history=(*history, *head.tail),
        )  # fmt: skip
        return self.found

    # ------------------------------------------------------------------------------------------ the index

    def _index_rows(self) -> dict[str, tuple[IndexRow, str]]:
        """Rows of the versions outside the working set, as listing reads them (with their chunk's key)."""
        rows: dict[str, tuple[IndexRow, str]] = {}
        last = layout.index_chunk(self.head.frozen_upto) if self.head.frozen_upto > 0 else -1
        for chunk in sorted(n for n in self.chunks if n <= last):
            key = layout.index_key(self.name, chunk)
            document = self._read(IndexChunk, key, missing=None)  # gone meanwhile: the ordinals tell
            for label, row in document.rows.items() if document is not None else ():
                if label in self.head.hot or row.brief.ordinal >= self.head.next_ordinal:
                    continue  # a stale copy of a version in the working set, or one newer than this head
                if row.brief.version != label:
                    self._invalid(key, f"the row of {label} holds the brief of {row.brief.version}")
                rows[label] = (row, key)
        return rows

    def _cold(self, label: str, row: IndexRow, chunk_key: str) -> ColdVersion | None:
        """The state file of a version outside the working set, checked against its index row."""
        key = self._key(layout.state_key, label, chunk_key)
        if key is None:
            return None
        cold = self._read(ColdVersion, key, missing=f"{chunk_key} lists {label} but its state file {key} is missing")
        if cold is None:
            return None
        said = (cold.state.stage, cold.state.added_metrics, cold.state.revision)
        if cold.brief != row.brief:
            differ = _fields(cold.brief, row.brief)
            self._invalid(key, f"{label}: its brief disagrees with its index row in {chunk_key} ({differ})")
        elif said != (row.stage, row.added_metrics, row.revision):
            self._invalid(
                key,
                f"{label}: its state file says {cold.state.stage.value} (revision {cold.state.revision}), its index "
                f"row in {chunk_key} says {row.stage.value} (revision {row.revision})",
            )
        for stage in {cold.state.stage, row.stage} & set(TRACKED_STAGES):
            self._invalid(
                self.head_key, f"{label} is in {stage.value} but not in the working set, where readers look for it"
            )
        if any(request.status == "pending" for request in cold.state.promotion_requests):
            self._invalid(
                self.head_key, f"{label} has a pending request but is not in the working set, where readers look"
            )
        return cold

    def _stray_states(self, labels: set[str]) -> dict[int, str]:
        """State files of versions that neither the working set nor the index lists: ordinal -> label.

        Each was written for a committed version (one that left the working set), so its version file is in use.
        """
        strays: dict[int, str] = {}
        for label in sorted(labels, key=_order):
            key = self._key(layout.state_key, label, self.head_key)
            cold = self._read(ColdVersion, key, missing=None) if key is not None else None
            if key is None or cold is None or cold.brief.ordinal >= self.head.next_ordinal:
                continue  # gone meanwhile, unreadable (reported), or newer than this head
            self.found.named.add(label)
            strays[cold.brief.ordinal] = label
        return strays

    def _ordinals(self, briefs: dict[str, tuple[VersionBrief, str]], strays: dict[int, str]) -> None:
        """Every version committed has one ordinal of its own, from 1 to the head's next one."""
        owners: dict[int, list[str]] = {}
        for label, (brief, _) in briefs.items():
            owners.setdefault(brief.ordinal, []).append(label)
        count, frozen = self.head.next_ordinal - 1, self.head.frozen_upto
        for ordinal, labels in sorted(owners.items()):
            if len(labels) > 1:
                shared = ", ".join(sorted(labels, key=_order))
                self._invalid(self.head_key, f"versions {shared} share ordinal {ordinal}")
            if not 0 < ordinal <= count:
                self._invalid(self.head_key, f"{labels[0]} has ordinal {ordinal}, outside the head's 1..{count}")
        for ordinal, label in strays.items():
            if ordinal in owners:
                key = layout.state_key(self.name, label)
                self._invalid(key, f"{label} has a state file, but neither the head nor the index lists it")
        # Runs of missing ordinals, split where the index ends: up to `frozen_upto` versions left the working set.
        gaps = [
            part
            for first, last in _gaps(sorted(n for n in owners if 0 < n <= count), count)
            for part in ((first, min(last, frozen)), (max(first, frozen + 1), last))
            if part[0] <= part[1]
        ]
        for first, last in gaps[:_SHOWN]:
            what = f"{last - first + 1} version(s) of {self.name} ({_span(first, last)} registered)"
            remain = sum(1 for n in strays if first <= n <= last)
            remain_note = f"; state files remain for {remain} of them" if remain else ""
            if first > frozen:
                message = f"{what} are missing from the working set of {self.head_key}, and none left it"
                self._invalid(self.head_key, message + remain_note)
                continue
            chunk = layout.index_chunk(first)
            key = layout.index_key(self.name, chunk)
            absent = chunk not in self.chunks
            message = f"{what} are neither in the working set of {self.head_key} nor in {key}"
            if absent:
                self._problem("missing_record", key, f"{message}, which is missing{remain_note}")
            else:
                self._invalid(key, message + remain_note)
        self.incomplete = self.incomplete or bool(gaps)

    # ------------------------------------------------------------------------------------------ version files

    def _facts(self, label: str, brief: VersionBrief, where: str) -> VersionFacts | None:
        key = self._key(layout.version_key, label, where)
        if key is None:
            return None
        facts = self._read(VersionFacts, key, missing=f"{where} names version {label}, but its file {key} is missing")
        if facts is None:
            return None
        if facts.model_name != self.name:
            self._invalid(key, f"it is the version file of {label} of {self.name}, but says model {facts.model_name}")
        if facts.version != label:
            self._invalid(key, f"it is the version file of {label}, but says version {facts.version}")
        elif (expected := brief_of(facts, brief.ordinal)) != brief:
            self._invalid(where, f"{label}: its brief disagrees with its version file ({_fields(brief, expected)})")
        return facts

    # ------------------------------------------------------------------------------------------ history

    def _sealed_history(self) -> list[HistoryEntry] | None:
        """The entries of segments 0..head.segments-1, with their holders checked; None if one is unreadable."""
        folder = layout.history_folder(self.name)
        by_seq: dict[int, list[str]] = {}
        for key in self.store.storage.list(folder):
            found = layout.segment_of(key)
            if found is not None and found[0] < self.head.segments:
                by_seq.setdefault(found[0], []).append(key)  # later ones: sealed by a write whose head never came
        gaps = _gaps(sorted(by_seq), self.head.segments - 1, start=0)
        for first, last in gaps[:_SHOWN]:
            which = (
                f"segment {first} of {self.head_key} is"
                if first == last
                else f"segments {first}-{last} of {self.head_key} are"
            )
            self._problem("missing_record", folder, f"history {which} missing")
        entries: list[HistoryEntry] = []
        holders: dict[ModelStage, tuple[str, ...]] = {}
        trail: list[str] = []
        complete = not gaps
        for seq, keys in sorted(by_seq.items()):
            if len(keys) > 1:
                self._invalid(folder, f"history segment {seq} is stored {len(keys)} times: {', '.join(keys)}")
            segment = self._read(HistorySegment, keys[0], missing="")
            if segment is None:
                complete = False
                continue
            self._check_segment(keys[0], seq, segment, holders if complete else None)
            entries += segment.entries
            holders = replay_holders(segment.holders_at_start, segment.entries)
            trail = replay_trail(trail, segment.entries)
        if not complete:
            self.incomplete = True
            return None
        if holders != self.head.holders_at_tail:
            said, given = _holders(self.head.holders_at_tail), _holders(holders)
            self._invalid(self.head_key, f"it says {said} before its tail, but the sealed history gives {given}")
        if tuple(trail) != self.head.trail_at_tail:
            kept = list(self.head.trail_at_tail)
            self._invalid(self.head_key, f"its rollback trail before its tail is {kept}, the sealed history's {trail}")
        return entries

    def _check_segment(
        self, key: str, seq: int, segment: HistorySegment, holders: dict[ModelStage, tuple[str, ...]] | None
    ) -> None:
        if segment.seq != seq:
            self._invalid(key, f"it is history segment {seq}, but says {segment.seq}")
        named = layout.segment_of(key)
        if not segment.entries:
            self._invalid(key, "the history segment has no entries")
        elif named is not None and named[1] != segment.entries[0].at:
            first = segment.entries[0].at
            self._invalid(key, f"its name says it starts at {named[1]:{_TIME}}, its first entry is of {first:{_TIME}}")
        if holders is not None and segment.holders_at_start != holders:
            said = _holders(segment.holders_at_start)
            self._invalid(key, f"it says {said} at its start, but the history before it gives {_holders(holders)}")

    # ------------------------------------------------------------------------------------------ reading

    def _read(self, kind: type[Doc], key: str, *, missing: str | None) -> Doc | None:
        """Parse `key`; report it and return None if it cannot be read (`missing`: what to say if absent, or None)."""
        storage = self.store.storage
        try:
            return parse_document(kind, storage.read(key), key, self.store.context)
        except NotFoundError:
            if storage.list(f"{key}/"):
                self._problem("unreadable_record", key, f"{key} is a folder, not a file")
            elif missing is not None:
                self._problem("missing_record", key, missing or f"{key} is missing")
            else:
                return None
        except CorruptRecordError as exc:
            self._problem("corrupt_record", key, str(exc))
        except RegistryError as exc:  # a folder (local), permission denied...
            self._problem("unreadable_record", key, f"{key} cannot be read: {exc}")
        self.incomplete = True
        return None

    def _key(self, build: Callable[[str, str], str], label: str, where: str) -> str | None:
        try:
            return build(self.name, label)
        except InvalidInputError:
            self._invalid(where, f"{shown(label)} is not a version label")
            self.incomplete = True
            return None

    def _invalid(self, key: str, message: str) -> None:
        self._problem("invalid_record", key, message)

    def _problem(self, kind: str, key: str, message: str) -> None:
        # Labels and names in messages come from damaged files: one printable line, bounded, whatever they hold.
        self.found.problems.append((kind, key, one_line(message)))


def _fields(one: Record, other: Record) -> str:
    """The names of the fields in which two records differ."""
    a, b = one.model_dump(), other.model_dump()
    return ", ".join(name for name in a if a[name] != b.get(name))


def _holders(holders: dict[ModelStage, tuple[str, ...]]) -> str:
    """e.g. "production: v3, staging: v4/v5" (who held the tracked stages), or "no holders"."""
    shown = ", ".join(f"{stage.value}: {'/'.join(labels)}" for stage, labels in sorted(holders.items()))
    return shown or "no holders"


def _order(label: str) -> tuple[int, tuple[int, ...], str]:
    """A sort key for labels that orders v2 before v10 and tolerates a damaged one (after the valid ones)."""
    try:
        return 0, version_key(label), ""
    except RegistryError:
        return 1, (), label


def _gaps(present: list[int], last: int, start: int = 1) -> list[tuple[int, int]]:
    """The runs of numbers from `start` to `last` missing from `present` (sorted, each within those bounds)."""
    gaps: list[tuple[int, int]] = []
    expected = start
    for number in [*present, last + 1]:
        if number > expected:
            gaps.append((expected, number - 1))
        expected = number + 1
    return gaps


def _span(first: int, last: int) -> str:
    """e.g. "1st-21st" or "30th"."""
    return _nth(first) if first == last else f"{_nth(first)}-{_nth(last)}"


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
