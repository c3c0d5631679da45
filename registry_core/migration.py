"""From the one-document layout of earlier releases to the per-version layout: a pure conversion of one model.

`convert` turns a model's old document (every version and the whole history in one `ModelRecord`) into what the
per-version layout stores: a version file per version, the head with the working set and the newest history, state
files and index rows of the other versions, and sealed history segments. `model_store.ModelStore.migrate` writes
them (each created if absent or merged, the head last) and then removes the old document, so a migration can be
interrupted and run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from registry_core import layout
from registry_core.documents import (
    ColdVersion,
    HistorySegment,
    HotVersion,
    IndexRow,
    ModelHead,
    VersionFacts,
    brief_of,
    facts_of,
    replay_holders,
    state_of,
)
from registry_core.lifecycle.rollback import replay_trail
from registry_core.metadata import ModelMetadata, ModelStage
from registry_core.store import ModelRecord
from registry_core.versioning import version_key


@dataclass
class Converted:
    """Everything the per-version layout stores for one model."""

    head: ModelHead
    facts: list[VersionFacts] = field(default_factory=list)
    cold: dict[str, ColdVersion] = field(default_factory=dict)
    index: dict[int, dict[str, IndexRow]] = field(default_factory=dict)
    segments: list[HistorySegment] = field(default_factory=list)


def convert(
    record: ModelRecord, *, hot: int, seal: int, pinned: Callable[[ModelMetadata], bool]
) -> Converted:
    """Convert a model's old document.

    Args:
        record: The old document.
        hot: How many of the most recently registered versions form the working set (besides the pinned ones).
        seal: Entries per sealed history segment; the newest entries (fewer than `seal`) stay in the head.
        pinned: Which versions stay in the working set whatever their age (stage holders, pending requests).

    Returns:
        What to write; the head's revision is 1 and every state is stamped with it.
    """
    latest = max((m.version for m in record.versions), key=version_key, default=None)
    converted = Converted(head=ModelHead(name=record.name, created_at=record.created_at, versioning=record.versioning))
    working: dict[str, HotVersion] = {}
    recent = {m.version for m in record.versions[-hot:]} if hot else set()
    frozen_upto = 0
    for ordinal, metadata in enumerate(record.versions, 1):
        facts = facts_of(metadata)
        converted.facts.append(facts)
        brief = brief_of(facts, ordinal)
        state = state_of(metadata, facts.metrics, revision=1)
        if metadata.version in recent or metadata.version == latest or pinned(metadata):
            working[metadata.version] = HotVersion(brief=brief, state=state)
            continue
        converted.cold[metadata.version] = ColdVersion(brief=brief, state=state, facts=facts)
        row = IndexRow(brief=brief, stage=state.stage, added_metrics=state.added_metrics, revision=1)
        converted.index.setdefault(layout.index_chunk(ordinal), {})[metadata.version] = row
        frozen_upto = ordinal
    history = record.history
    sealed_count = (len(history) // seal) * seal if seal else 0
    holders: dict[ModelStage, tuple[str, ...]] = {}
    trail: list[str] = []
    for seq, start in enumerate(range(0, sealed_count, seal)):
        entries = history[start : start + seal]
        converted.segments.append(HistorySegment(seq=seq, entries=entries, holders_at_start=holders))
        holders = replay_holders(holders, entries)
        trail = replay_trail(trail, entries)
    converted.head = converted.head.model_copy(
        update={
            "revision": 1,
            "next_ordinal": len(record.versions) + 1,
            "latest": latest,
            "hot": working,
            "frozen_upto": frozen_upto,
            "frozen_top": max(converted.cold, key=version_key, default=None),
            "tail": history[sealed_count:],
            "segments": len(converted.segments),
            "holders_at_tail": holders,
            "trail_at_tail": tuple(trail),
        }
    )
    return converted
