"""What the registry stored, for tests that read or damage it by hand: keys, JSON edits, a grown model, old documents.

The per-version layout keeps a model in a head (``heads/<model>.json``), a version file per version, state files and
index chunks of the versions that left the head's working set, and sealed history segments. A model of the old
one-document layout (``models/<model>.json``) is still read where it has no head: `to_legacy` makes one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry_core import ModelRegistry, ModelStage
from registry_core.errors import NotFoundError
from registry_core.layout import HEADS, MODELS, index_key, model_folders, segment_of, state_key, version_key
from registry_core.model_store import HOT_HIGH, TAIL_HIGH
from registry_core.storage import StorageBackend

MODEL = "churn"
HEAD = HEADS.key(MODEL)
LEGACY = MODELS.key(MODEL)
REGISTRANT, APPROVER, OPERATOR = "alice", "bob", "carol"
GROWN = HOT_HIGH + 1  # versions after which the oldest leave the head's working set
COLD = "v4"  # a version outside the working set of a grown model (v1 and v2 hold stages, v3 came back)


def version_file(label: str, model: str = MODEL) -> str:
    return version_key(model, label)


def state_file(label: str, model: str = MODEL) -> str:
    return state_key(model, label)


def index_chunk(chunk: int = 0, model: str = MODEL) -> str:
    return index_key(model, chunk)


def segment(storage: StorageBackend, seq: int = 0, model: str = MODEL) -> str:
    """The key of sealed history segment `seq` (its name carries its first entry's time)."""
    return next(key for key in storage.list(f"history/{model}/") if (found := segment_of(key)) and found[0] == seq)


def edit(storage: StorageBackend, key: str, change: Callable[[Any], object]) -> None:
    """Rewrite the JSON document at `key` with `change` applied to it (a hand edit)."""
    document = json.loads(storage.read(key))
    change(document)
    storage.write(key, json.dumps(document).encode())


def hot(head: dict[str, Any], label: str) -> dict[str, Any]:
    """The state of `label` in a head's working set (JSON)."""
    state: dict[str, Any] = head["hot"][label]["state"]
    return state


def export(tmp_path: Path, n: int) -> Path:
    """A small artifact folder, distinct for each `n`."""
    folder = tmp_path / f"export-{n}"
    (folder / "variables").mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_bytes(f"graph {n}".encode())
    (folder / "variables" / "variables.data").write_bytes(f"weights {n}".encode())
    return folder


def production_and_staging(registry: ModelRegistry, tmp_path: Path) -> None:
    """v1 in production (approved by bob), v2 in staging, both registered by alice."""
    for n in (1, 2):
        registry.register_model(MODEL, export(tmp_path, n), registered_by=REGISTRANT)
    for label, last in (("v1", ModelStage.PRODUCTION), ("v2", ModelStage.STAGING)):
        for stage in (ModelStage.VALIDATION, ModelStage.STAGING, ModelStage.PRODUCTION):
            approver = APPROVER if stage is ModelStage.PRODUCTION else None
            registry.promote_model(MODEL, label, stage, approved_by=approver, actor=OPERATOR)
            if stage is last:
                break


def grow(registry: ModelRegistry, tmp_path: Path) -> None:
    """Make `production_and_staging` a model with every kind of file: state files, an index chunk, a segment.

    After it, v4..v23 are outside the working set (a state file and an index row each), v3 came back into it by a
    promotion (its row and state file are stale copies, as readers leave them), and the oldest history is sealed.
    """
    production_and_staging(registry, tmp_path)
    for n in range(3, GROWN + 1):
        registry.register_model(MODEL, export(tmp_path, n), registered_by=REGISTRANT)
    registry.promote_model(MODEL, "v3", ModelStage.VALIDATION, actor=OPERATOR)
    stored = registry.storage
    assert len(registry.history(MODEL)) > TAIL_HIGH
    assert stored.list(f"history/{MODEL}/")
    assert stored.list(f"index/{MODEL}/")
    assert COLD not in json.loads(stored.read(HEAD))["hot"]
    assert "v3" in json.loads(stored.read(HEAD))["hot"]


def to_legacy(registry: ModelRegistry, model: str = MODEL) -> None:
    """Store `model` as releases before the per-version layout did: one document, no head and no version files."""
    record = registry.store.full_record(model)
    data = record.model_dump_json(context=registry.store.context, exclude={"trail_base"})
    storage = registry.storage
    storage.write(MODELS.key(model), data.encode())
    storage.delete(HEADS.key(model))
    for folder in model_folders(model):
        for key in storage.list(folder):
            storage.delete(key)


class Damage:
    """Hand damage to a registry shared by several tests, undone after each (see `damaged`)."""

    def __init__(self, storage: StorageBackend) -> None:
        self.storage = storage
        self.originals: dict[str, bytes | None] = {}

    def write(self, key: str, data: bytes) -> None:
        self._keep(key)
        self.storage.write(key, data)

    def delete(self, key: str) -> None:
        self._keep(key)
        self.storage.delete(key)

    def edit(self, key: str, change: Callable[[Any], object]) -> None:
        self._keep(key)
        edit(self.storage, key, change)

    def _keep(self, key: str) -> None:
        if key not in self.originals:
            try:
                self.originals[key] = self.storage.read(key)
            except NotFoundError:  # a key that did not exist is deleted again
                self.originals[key] = None

    def undo(self) -> None:
        for key, data in self.originals.items():
            if data is None:
                self.storage.delete(key)
            else:
                self.storage.write(key, data)


@contextmanager
def damaged(storage: StorageBackend) -> Iterator[Damage]:
    """Damage `storage` within the block; every damaged key is as it was after it."""
    damage = Damage(storage)
    try:
        yield damage
    finally:
        damage.undo()
