"""Rollback: which versions held production, where production may go back to, and the rollback change itself."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from registry_core.errors import LifecycleError
from registry_core.lifecycle.changes import history_entry, move
from registry_core.metadata import HistoryAction, HistoryEntry, ModelStage, utc_now
from registry_core.store import ModelRecord

ROLLBACK = "rollback"  # the default reason, and the cause of the stage changes a rollback makes


TRAIL_LENGTH = 16  # production holders a model keeps as rollback candidates


def production_holders(record: ModelRecord) -> list[str]:
    """Return the versions that held PRODUCTION and were not rolled back from, latest last, no repeats."""
    return replay_trail(record.trail_base, record.history)


def replay_trail(base: Sequence[str], history: Iterable[HistoryEntry]) -> list[str]:
    """Return the production holders after `history`, starting from `base` (latest last, at most TRAIL_LENGTH)."""
    order: list[str] = list(base)
    for entry in history:
        if entry.action is HistoryAction.ROLLED_BACK:
            # A version rolled back from is not a candidate for the next rollback, until promoted again.
            rejected = set(entry.details.get("from_version", "").split(","))
            order = [v for v in order if v not in rejected]
        entered = entry.to_stage is ModelStage.PRODUCTION and entry.action in (
            HistoryAction.STAGE_CHANGED,
            HistoryAction.ROLLED_BACK,
        )
        if entered:
            if entry.version in order:
                order.remove(entry.version)
            order.append(entry.version)
    return order[-TRAIL_LENGTH:]


def candidates(record: ModelRecord) -> list[str]:
    """Return the versions production can be rolled back to, the default (the latest earlier holder) first."""
    current = {m.version for m in record.in_stage(ModelStage.PRODUCTION)}
    return [v for v in reversed(production_holders(record)) if v not in current]


def choose(record: ModelRecord, wanted: str | None = None) -> str:
    """Return the version to roll back to: `wanted` if it may be, else the latest earlier production holder.

    Raises:
        VersionNotFoundError: `wanted` does not exist.
        LifecycleError: `wanted` never served, was rolled back from or is in production now; or (without
            `wanted`) there is no earlier production version.
    """
    allowed = candidates(record)
    if wanted is None:
        if not allowed:
            msg = f"{record.name} has no earlier production version to roll back to"
            raise LifecycleError(msg)
        return allowed[0]
    metadata = record.get(wanted)
    if wanted in allowed:
        return wanted
    if wanted in production_holders(record):  # a holder that is no candidate holds production now
        msg = f"{record.name} {wanted} is already in production"
    elif any(c.to_stage is ModelStage.PRODUCTION for c in metadata.stage_history):
        msg = (
            f"{record.name} {wanted} was rolled back from; promote it again (with an approval) "
            "instead of rolling back to it"
        )
    else:
        msg = f"{record.name} {wanted} has never been in production; promote it instead of rolling back"
    raise LifecycleError(msg)


def roll_back(
    record: ModelRecord, wanted: str | None = None, *, actor: str, reason: str = "", now: datetime | None = None
) -> ModelRecord:
    """Put PRODUCTION back on an earlier holder (see `choose`) and archive the current one, with a ROLLED_BACK entry.

    No approval is needed: the restored version was approved for PRODUCTION with the same artifact digest.

    Raises:
        VersionNotFoundError, LifecycleError: as `choose`.
    """
    now = now or utc_now()
    why = reason or ROLLBACK
    label = choose(record, wanted)
    target = record.get(label)
    current = record.in_stage(ModelStage.PRODUCTION)
    restored, _ = move(target, ModelStage.PRODUCTION, actor, now, why, cause=ROLLBACK)
    archived = [move(holder, ModelStage.ARCHIVED, actor, now, why, cause=ROLLBACK) for holder in current]
    details = {"from_version": ",".join(sorted(m.version for m in current))}
    entry = history_entry(actor, HistoryAction.ROLLED_BACK, label, target.stage, ModelStage.PRODUCTION, why, details)
    return record.with_versions(restored, *(m for m, _ in archived)).with_history(*(e for _, e in archived), entry)
