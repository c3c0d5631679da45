"""check/gc: find broken records and missing artifacts, and remove what interrupted registrations left behind."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from registry_core.errors import CorruptRecordError, NotFoundError, RegistryError
from registry_core.metadata import utc_now
from registry_core.processes import is_running, own_process
from registry_core.storage.base import StorageBackend
from registry_core.store import ARTIFACTS_PREFIX, PENDING_PREFIX, MetadataStore

STALE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class PendingMarker:
    """Who is uploading artifacts for a registration that has not committed yet."""

    host: str
    pid: int
    process_start: str
    started_at: datetime

    @classmethod
    def for_this_process(cls) -> PendingMarker:
        """Return the marker describing the calling process."""
        pid, start = own_process()
        return cls(socket.gethostname(), pid, start, utc_now())

    def to_json(self) -> bytes:
        """Serialize for storage."""
        return json.dumps(
            {
                "host": self.host,
                "pid": self.pid,
                "process_start": self.process_start,
                "started_at": self.started_at.isoformat(),
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PendingMarker | None:
        """Parse a stored marker; None if it is unreadable."""
        try:
            raw = json.loads(data)
            return cls(
                str(raw["host"]), int(raw["pid"]), str(raw["process_start"]), datetime.fromisoformat(raw["started_at"])
            )
        except (ValueError, KeyError, TypeError):
            return None

    def is_abandoned(self, now: datetime) -> bool:
        """True if the registering process is known to be gone, or the marker is older than STALE_AFTER."""
        if now - self.started_at > STALE_AFTER:
            return True
        if self.host != socket.gethostname():
            return False  # cannot see processes of another machine: wait for STALE_AFTER
        return not is_running(self.pid, self.process_start)


class Problem(BaseModel):
    """One finding of check.

    Attributes:
        kind: "corrupt_record", "missing_artifacts", "leftover_upload", "stale_marker" or "temp_file".
        key: Storage key concerned.
        message: What is wrong, in one line.
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    key: str
    message: str


class CheckReport(BaseModel):
    """Result of ModelRegistry.check.

    Attributes:
        models_checked: How many model documents were read.
        versions_checked: How many versions were checked.
        problems: Everything found.
        removed: Keys (or folders) that gc removed.
    """

    models_checked: int = 0
    versions_checked: int = 0
    problems: list[Problem] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if nothing that needs attention remains (removed leftovers do not count)."""
        return all(p.key in self.removed for p in self.problems)


def run_check(storage: StorageBackend, store: MetadataStore, *, gc: bool, deep: bool) -> CheckReport:
    """Check every model of the registry behind `storage`; see ModelRegistry.check."""
    from registry_core.loading import artifact_key, verified_folder

    report = CheckReport()
    # Order matters: uploads are listed before markers, and markers before documents. A registration writes
    # its marker before uploading and deletes it after committing, so any upload seen here is either still
    # marked or already referenced by the documents read last.
    uploads = _group_uploads(storage.list(ARTIFACTS_PREFIX))
    markers: dict[str, bytes] = {}
    for key in storage.list(PENDING_PREFIX):
        try:
            markers[key] = storage.read(key)
        except NotFoundError:
            continue  # that registration finished while we listed
    referenced: set[str] = set()
    unreadable_models: set[str] = set()
    for name in store.list_models():
        try:
            record = store.load(name)
        except CorruptRecordError as exc:
            unreadable_models.add(name)
            report.problems.append(Problem(kind="corrupt_record", key=f"models/{name}.json", message=str(exc)))
            continue
        report.models_checked += 1
        for metadata in record.versions:
            report.versions_checked += 1
            key = artifact_key(storage, metadata)
            referenced.add(key)
            stored = uploads.get(key, set())
            missing = sorted({e.path for e in metadata.artifact_manifest} - stored)
            if missing:
                report.problems.append(
                    Problem(
                        kind="missing_artifacts",
                        key=key,
                        message=f"{name} {metadata.version}: {len(missing)} file(s) missing, e.g. {missing[0]}",
                    )
                )
            elif deep:
                try:
                    verified_folder(storage, metadata)
                except RegistryError as exc:
                    report.problems.append(Problem(kind="missing_artifacts", key=key, message=str(exc)))

    now = utc_now()
    live_uploads: set[str] = set()
    for key, data in markers.items():
        upload = _upload_of_marker(key)
        marker = PendingMarker.from_json(data)
        if upload not in referenced and marker is not None and not marker.is_abandoned(now):
            live_uploads.add(upload)
            continue
        report.problems.append(Problem(kind="stale_marker", key=key, message="marker of a finished registration"))
        if gc:
            if upload not in referenced and upload not in uploads and upload.split("/")[1] not in unreadable_models:
                # A writer killed after creating its upload folder but before storing a file leaves an empty folder
                # (local backend) that no listing shows; remove it before the marker that leads to it.
                storage.delete_prefix(upload)
            storage.delete(key)
            report.removed.append(key)
    for upload in sorted(uploads.keys() - referenced - live_uploads):
        if upload.split("/")[1] in unreadable_models:
            continue  # its document cannot be read, so we cannot tell whether a version uses it
        report.problems.append(
            Problem(kind="leftover_upload", key=upload, message="artifacts of a registration that never committed")
        )
        if gc:
            storage.delete_prefix(upload)
            report.removed.append(upload)
    for key in storage.abandoned_temp_files():
        report.problems.append(Problem(kind="temp_file", key=key, message="temporary file of a killed writer"))
        if gc:
            storage.remove_temp_file(key)
            report.removed.append(key)
    return report


def _group_uploads(keys: list[str]) -> dict[str, set[str]]:
    """Map each upload folder (artifacts/<name>/<id>) to the relative paths of its files."""
    uploads: dict[str, set[str]] = {}
    for key in keys:
        parts = key.split("/", 3)
        if len(parts) == 4:
            uploads.setdefault("/".join(parts[:3]), set()).add(parts[3])
    return uploads


def _upload_of_marker(key: str) -> str:
    name, file = key[len(PENDING_PREFIX) :].split("/", 1)
    return f"{ARTIFACTS_PREFIX}{name}/{file.removesuffix('.json')}"
