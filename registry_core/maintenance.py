"""check/gc: find broken records and missing artifacts, and remove what interrupted registrations left behind."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from registry_core import layout
from registry_core.consistency import endpoint_problems, model_problems
from registry_core.deploy.records import EndpointRecord
from registry_core.documents import VersionFacts
from registry_core.errors import CorruptRecordError, ModelNotFoundError, NotFoundError, RegistryError
from registry_core.lifecycle.approvals import ApprovalPolicy
from registry_core.metadata import utc_now
from registry_core.model_files import read_model_files
from registry_core.model_store import ModelStore
from registry_core.processes import is_running, own_process
from registry_core.storage.base import StorageBackend
from registry_core.store import DocumentStore, ModelRecord, parse_document

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
        kind: "corrupt_record" (a document that does not parse), "unreadable_record" (one that cannot be read, e.g.
            a folder where the file should be), "missing_record" (a file that a model's head or index needs is
            missing: a version file, a state file, an index chunk, a history segment, or the head itself),
            "invalid_record" (one that parses but breaks a rule, e.g. two versions labelled v1, or disagrees with
            another file of its model), "missing_artifacts", "leftover_upload", "kept_upload" (an upload gc may not
            remove because it cannot prove it unused), "orphan_version_file" (the version file of a registration
            that died before its commit), "kept_version_file" (one gc may not remove), "stale_marker" or
            "temp_file".
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
        endpoints_checked: How many endpoint documents were read.
        problems: Everything found.
        removed: Keys (or folders) that gc removed.
    """

    models_checked: int = 0
    versions_checked: int = 0
    endpoints_checked: int = 0
    problems: list[Problem] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if nothing that needs attention remains (removed leftovers do not count)."""
        return all(p.key in self.removed for p in self.problems)

    def add(self, kind: str, key: str, message: str) -> None:
        """Record a problem."""
        self.problems.append(Problem(kind=kind, key=key, message=message))


@dataclass
class _Models:
    """The model documents as check read them."""

    records: dict[str, ModelRecord] = field(default_factory=dict)
    named: dict[str, set[str]] = field(default_factory=dict)  # model -> the labels it names (not orphans)
    keys: dict[str, str] = field(default_factory=dict)  # model -> the key of its head (or old-layout document)
    held: dict[str, str] = field(default_factory=dict)  # model -> why nothing of it may be removed
    unreadable: set[str] = field(default_factory=set)  # models whose document exists but cannot be read


def run_check(
    storage: StorageBackend,
    store: ModelStore,
    *,
    gc: bool,
    deep: bool,
    policy: ApprovalPolicy | None = None,
) -> CheckReport:
    """Check every model and endpoint of the registry behind `storage`; see ModelRegistry.check.

    gc removes an upload only when it is proven unused: the document of its model was read, means what it must
    (`consistency.model_problems`) and names no version using it. Of a model whose document cannot be read, is
    not a file or breaks a rule, nothing is removed; each of its uploads is reported as "kept_upload", with why.
    """
    report = CheckReport()
    # Order matters: uploads are listed before markers, and markers before documents. A registration writes
    # its marker before uploading and deletes it after committing, so any upload seen here is either still
    # marked or already referenced by the documents read last.
    uploads = _group_uploads(storage.list(layout.ARTIFACTS_PREFIX))
    # Version files before markers: a registration creates its version file after its marker and deletes the
    # marker after committing, so a version file listed here is committed, marked, or left by a dead registration.
    version_files = [
        (*found, key) for key in storage.list(layout.VERSIONS_PREFIX) if (found := layout.label_of_version_key(key))
    ]
    markers: dict[str, tuple[str, bytes]] = {}  # key -> (upload it marks, its bytes)
    for key in storage.list(layout.PENDING_PREFIX):
        upload = layout.upload_of_marker(key)
        if upload is None:
            continue  # not a marker: nothing the registry wrote, nothing check may remove
        try:
            markers[key] = upload, storage.read(key)
        except NotFoundError:
            continue  # that registration finished while we listed
    owners = {layout.owner_of_upload(upload) for upload in [*uploads, *(u for u, _ in markers.values())]}
    models = _read_models(storage, store, owners, version_files, report)
    referenced = _check_versions(storage, models, uploads, report, deep=deep, policy=policy)
    _check_endpoints(storage, models, report)
    orphans = _orphans(store, models, version_files, report)

    now = utc_now()
    live_uploads: set[str] = set()
    for key, (upload, data) in markers.items():
        marker = PendingMarker.from_json(data)
        if upload not in referenced and marker is not None and not marker.is_abandoned(now):
            live_uploads.add(upload)
            continue
        report.add("stale_marker", key, "marker of a registration that finished or died")
        if gc:
            if upload not in referenced and upload not in uploads and layout.owner_of_upload(upload) not in models.held:
                # A writer killed after creating its upload folder but before storing a file leaves an empty folder
                # (local backend) that no listing shows; remove it before the marker that leads to it.
                storage.delete_prefix(upload)
            storage.delete(key)
            report.removed.append(key)
    for (name, key), upload in sorted(orphans.items()):
        if upload in live_uploads:
            continue  # a registration in flight: it commits or cleans up after itself
        why = models.held.get(name)
        if why is not None:
            report.add("kept_version_file", key, f"not removed, it may be in use: {why}")
            continue
        report.add("orphan_version_file", key, "version file of a registration that never committed")
        if gc:
            storage.delete(key)
            report.removed.append(key)
    for upload in sorted(uploads.keys() - referenced - live_uploads):
        why = models.held.get(layout.owner_of_upload(upload))
        if why is not None:
            report.add("kept_upload", upload, f"not removed, it may be in use: {why}")
            continue
        report.add("leftover_upload", upload, "artifacts of a registration that never committed")
        if gc:
            storage.delete_prefix(upload)
            report.removed.append(upload)
    for key in storage.abandoned_temp_files():
        report.add("temp_file", key, "temporary file of a killed writer")
        if gc:
            storage.remove_temp_file(key)
            report.removed.append(key)
    return report


def _read_models(
    storage: StorageBackend,
    store: ModelStore,
    owners: set[str],
    version_files: list[tuple[str, str, bool, str]],
    report: CheckReport,
) -> _Models:
    """Read every model (head, or old-layout document), and every model that owns uploads, markers or files.

    A model with uploads but no listed document either never committed its first version (then it has no document
    and its uploads are leftovers) or has a document that is not a readable file: only an absent one is taken as
    absent, and only if nothing else says a version of it was committed (a state file, an index chunk, a history
    segment: each is written after a commit).
    """
    models = _Models()
    listed: dict[str, str] = {}  # model -> its document's key
    folders: dict[str, tuple[str, str]] = {}  # model -> (its document, a key under it): the document is a folder
    old_layout: set[str] = set()  # models with a document of the one-document layout
    for documents in (layout.MODELS, layout.HEADS):  # a head wins over an old document of the same model
        for key in storage.list(documents.prefix):
            if (name := documents.name_of(key)) is not None:
                listed[name] = key
                if documents is layout.MODELS:
                    old_layout.add(name)
            elif (name := documents.folder_name_of(key)) is not None:
                folders[name] = documents.listed_key(name), key
    states: dict[str, set[str]] = {}
    committed: dict[str, str] = {}  # model -> a key that only a committed version leaves
    for name, label, is_state, key in version_files:
        if is_state:
            states.setdefault(name, set()).add(label)
            committed.setdefault(name, key)
    for prefix in (layout.INDEX_PREFIX, layout.HISTORY_PREFIX):
        for key in storage.list(prefix):
            owner, slash, _ = key.removeprefix(prefix).partition("/")
            if slash:
                committed.setdefault(owner, key)
    for name in sorted(listed.keys() | owners | folders.keys() | committed.keys()):
        key = listed.get(name) or layout.HEADS.listed_key(name)
        models.keys[name] = key
        if name in folders:
            document, inside = folders[name]
            _hold(models, report, name, "unreadable_record", document, f"{document} is a folder, not a file ({inside})")
            continue
        try:
            head = store.head(name)
            record = store.full_record(name) if head is None else None  # a model of the old layout
        except ModelNotFoundError:
            if name in listed:
                _hold(models, report, name, "unreadable_record", key, f"{key} was listed but then not found")
            elif name in committed:
                why = f"{key} is missing, but versions of {name} were committed ({committed[name]} exists)"
                _hold(models, report, name, "missing_record", key, why)
            continue  # no document: its uploads are leftovers of a first registration that never committed
        except CorruptRecordError as exc:
            _hold(models, report, name, "corrupt_record", key, str(exc))
            continue
        except RegistryError as exc:  # not a valid name, not a file, permission denied...
            _hold(models, report, name, "unreadable_record", key, f"{key} cannot be read: {exc}")
            continue
        if head is not None:  # the per-version layout: every file of the model, each on its own
            if name in old_layout:
                _old_document_beside(store, name, report)
            found = read_model_files(store, name, head, states.get(name, set()))
            for kind, at, message in found.problems:
                report.add(kind, at, message)
            if found.problems:
                more = f" (and {len(found.problems) - 1} more)" if len(found.problems) > 1 else ""
                models.held[name] = f"{found.problems[0][2]}{more}"
            models.named[name] = found.named
            record = found.record
        if record is None:
            models.unreadable.add(name)
            continue
        models.records[name] = record
        models.named.setdefault(name, {m.version for m in record.versions})
    return models


def _old_document_beside(store: ModelStore, name: str, report: CheckReport) -> None:
    """Report an old-layout document beside a head if it holds changes the head lacks (readers only see the head)."""
    key = layout.MODELS.key(name)
    try:
        leftover = store.legacy_is_leftover(name)
    except CorruptRecordError as exc:
        report.add("corrupt_record", key, str(exc))
        return
    if not leftover:
        report.add(
            "invalid_record", key,
            f"{name} is in both layouts and this old document holds changes its head lacks (written by a client of "
            "an earlier release after the conversion); readers see only the head",
        )  # fmt: skip


def _hold(models: _Models, report: CheckReport, name: str, kind: str, key: str, why: str) -> None:
    """Report that the document of `name` cannot be read, and keep everything of the model."""
    models.held[name] = why
    models.unreadable.add(name)
    report.add(kind, key, why)


def _orphans(
    store: ModelStore, models: _Models, version_files: list[tuple[str, str, bool, str]], report: CheckReport
) -> dict[tuple[str, str], str]:
    """Version files that no model names: (model, key) -> the upload they name ("" if they name none here).

    An orphan that cannot be read is reported and never removed: nothing ties it to a registration that died.
    """
    locations = layout.RootRelativeLocations(store.storage.uri)
    orphans: dict[tuple[str, str], str] = {}
    for name, label, is_state, key in version_files:
        if is_state or label in models.named.get(name, set()):
            continue
        try:
            facts = parse_document(VersionFacts, store.storage.read(key), key, store.context)
        except NotFoundError:
            continue  # removed meanwhile, by the registration that wrote it
        except CorruptRecordError as exc:
            report.add("corrupt_record", key, str(exc))
            continue
        except RegistryError as exc:
            report.add("unreadable_record", key, f"{key} cannot be read: {exc}")
            continue
        orphans[(name, key)] = locations.key(facts.artifact_uri) or ""
    return orphans


def _check_versions(
    storage: StorageBackend,
    models: _Models,
    uploads: dict[str, set[str]],
    report: CheckReport,
    *,
    deep: bool,
    policy: ApprovalPolicy | None,
) -> set[str]:
    """Check what each readable document means and whether its artifacts are there; return the uploads in use."""
    from registry_core.loading import artifact_key, verified_folder

    referenced: set[str] = set()
    for name, record in models.records.items():
        report.models_checked += 1
        key = models.keys[name]
        problems = model_problems(name, record, policy)
        for problem in problems:
            report.add("invalid_record", key, problem)
        for metadata in record.versions:
            report.versions_checked += 1
            try:
                folder = artifact_key(storage, metadata)
            except RegistryError as exc:
                problems.append(str(exc))
                report.add("invalid_record", key, str(exc))
                continue
            referenced.add(folder)
            stored = uploads.get(folder, set())
            missing = sorted({e.path for e in metadata.artifact_manifest} - stored)
            if missing:
                message = f"{name} {metadata.version}: {len(missing)} file(s) missing, e.g. {missing[0]}"
                report.add("missing_artifacts", folder, message)
            elif deep:
                try:
                    verified_folder(storage, metadata)
                except RegistryError as exc:
                    report.add("missing_artifacts", folder, str(exc))
        if problems:
            models.held.setdefault(name, f"{key} breaks {len(problems)} rule(s) (see its invalid_record problems)")
    return referenced


def _check_endpoints(storage: StorageBackend, models: _Models, report: CheckReport) -> None:
    """Check that every endpoint document reads, and serves versions that exist with the artifacts deployed."""
    endpoints = DocumentStore(storage, EndpointRecord, layout.ENDPOINTS)
    known: dict[str, ModelRecord | None] = {**dict.fromkeys(models.unreadable), **models.records}
    for name in endpoints.names():
        key = layout.ENDPOINTS.listed_key(name)
        try:
            record = endpoints.get(name)
        except CorruptRecordError as exc:
            report.add("corrupt_record", key, str(exc))
            continue
        except RegistryError as exc:
            report.add("unreadable_record", key, f"{key} cannot be read: {exc}")
            continue
        if record is None:
            continue  # removed while we listed
        report.endpoints_checked += 1
        for problem in endpoint_problems(name, record, known):
            report.add("invalid_record", key, problem)


def _group_uploads(keys: list[str]) -> dict[str, set[str]]:
    """Map each upload folder (artifacts/<name>/<id>) to the relative paths of its files."""
    uploads: dict[str, set[str]] = {}
    for key in keys:
        if (found := layout.upload_of_file(key)) is not None:
            uploads.setdefault(found[0], set()).add(found[1])
    return uploads
