"""The storage layout of a registry root: every key and prefix, how to build them and how to read them back.

    heads/<model>.json                         a model's head: its working set of versions, the newest history,
                                               the stage holders; every change is one compare-and-swap of it (`HEADS`)
    versions/<model>/<label>.json              one version's immutable metadata, written once (`version_key`)
    versions/<model>/<label>.state.json        the mutable state of a version that left the head (`state_key`)
    index/<model>/<chunk>.json                 listing rows of versions that left the head, 1,000 per chunk
    history/<model>/<seq>-<first entry>.json   sealed history segments, oldest first (`segment_key`)
    digests/<model>/<sha256>.json              which version first had these artifacts (`digest_key`)
    endpoints/<endpoint>.json                  an endpoint's document: deployments, traffic split, history (`ENDPOINTS`)
    artifacts/<model>/<upload-id>/...          immutable artifact folders, one per registration (`artifacts_folder`)
    pending/<model>/<upload-id>.json           markers of registrations in flight, for check --gc (`pending_key`)
    monitoring/<endpoint>/...                  prediction logs and feedback by hour (`monitoring/log_layout.py`)
    models/<model>.json                        the one-document layout of earlier releases (`MODELS`), read until
                                               `model-registry migrate` (or the model's next change) converts it

Builders validate the names they are given, so that a key never leaves its prefix; parsers take keys as a listing
returns them and answer None for keys that are not theirs. Documents name their artifact folders relative to the
root (`RootRelativeLocations`), so a registry copied or moved elsewhere keeps working.

The local backend also keeps files of its own beside the keys, which its listings leave out: ``.locks/`` (lock
files of compare-and-swap) and ``<key>.regtmp-<writer>-<random>`` (a file being written, named after its writing
process so that check can tell an abandoned one). They are the backend's business and named in
`storage/local.py`: storage sits below the registry's layout and imports nothing of it. No key of the layout starts
with a dot.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from registry_core.arguments import validate_name
from registry_core.errors import InvalidInputError
from registry_core.text import shown

DOCUMENT_SUFFIX = ".json"
ARTIFACTS_PREFIX = "artifacts/"
PENDING_PREFIX = "pending/"
_UPLOAD_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,99}")


@dataclass(frozen=True)
class Documents:
    """A folder of JSON documents, one per name: ``<prefix><name>.json``.

    Attributes:
        prefix: The folder, ending in "/".
        kind: What a document describes, for messages ("model", "endpoint").
    """

    prefix: str
    kind: str

    def key(self, name: str) -> str:
        """Return the key of the document of `name`. Raises: InvalidNameError."""
        return f"{self.prefix}{validate_name(name, self.kind)}{DOCUMENT_SUFFIX}"

    def listed_key(self, name: str) -> str:
        """Return the key of the document of a name read from a listing (not validated: check reports bad names).

        Raises:
            InvalidInputError: `name` holds a "/", so it could not have come from a document's key.
        """
        if "/" in name:
            msg = f"{shown(name)} is not the name of a document in {self.prefix}"
            raise InvalidInputError(msg)
        return f"{self.prefix}{name}{DOCUMENT_SUFFIX}"

    def name_of(self, key: str) -> str | None:
        """Return the name whose document `key` is, or None if it is not one (another folder, nested, not JSON)."""
        stem = _under(self.prefix, key)
        if stem is None or "/" in stem or not stem.endswith(DOCUMENT_SUFFIX):
            return None
        return stem.removesuffix(DOCUMENT_SUFFIX)

    def folder_name_of(self, key: str) -> str | None:
        """Return the name whose document `key` lies inside, or None.

        A key such as ``models/churn.json/x`` means that the document of "churn" is a folder, not a file.
        """
        stem = _under(self.prefix, key)
        if stem is None:
            return None
        first, slash, _ = stem.partition("/")
        return first.removesuffix(DOCUMENT_SUFFIX) if slash and first.endswith(DOCUMENT_SUFFIX) else None


MODELS = Documents("models/", "model")
HEADS = Documents("heads/", "model")
ENDPOINTS = Documents("endpoints/", "endpoint")

VERSIONS_PREFIX = "versions/"
INDEX_PREFIX = "index/"
HISTORY_PREFIX = "history/"
DIGESTS_PREFIX = "digests/"
STATE_SUFFIX = ".state.json"
INDEX_CHUNK = 1000  # listing rows per index chunk: listing N versions reads ceil(N / 1000) of them
_LABEL = re.compile(r"v[0-9]+(?:\.[0-9]+\.[0-9]+)?")
_CHUNK = re.compile(r"(?P<chunk>[0-9]{6,})\.json")
_SEGMENT = re.compile(r"(?P<seq>[0-9]{8})-(?P<at>[0-9]{8}T[0-9]{12}Z)\.json")
_SEGMENT_TIME = "%Y%m%dT%H%M%S%fZ"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def version_key(model: str, label: str) -> str:
    """Return the key of a version's immutable metadata, ``versions/<model>/<label>.json``."""
    return f"{VERSIONS_PREFIX}{validate_name(model)}/{_label(label)}{DOCUMENT_SUFFIX}"


def state_key(model: str, label: str) -> str:
    """Return the key of the state of a version that left the head, ``versions/<model>/<label>.state.json``."""
    return f"{VERSIONS_PREFIX}{validate_name(model)}/{_label(label)}{STATE_SUFFIX}"


def versions_folder(model: str) -> str:
    """Return the folder of a model's version files, ``versions/<model>/``."""
    return f"{VERSIONS_PREFIX}{validate_name(model)}/"


def label_of_version_key(key: str) -> tuple[str, str, bool] | None:
    """Return (model, label, is_state) of a listed version or state file, or None if `key` is neither."""
    stem = _under(VERSIONS_PREFIX, key)
    model, slash, file = (stem or "").partition("/")
    if not slash or "/" in file:
        return None
    for suffix, is_state in ((STATE_SUFFIX, True), (DOCUMENT_SUFFIX, False)):
        label = file.removesuffix(suffix)
        if file.endswith(suffix) and _LABEL.fullmatch(label):
            return model, label, is_state
    return None


def index_chunk(ordinal: int) -> int:
    """Return the index chunk that lists the version registered `ordinal`-th (1, 2, ...)."""
    return (ordinal - 1) // INDEX_CHUNK


def index_key(model: str, chunk: int) -> str:
    """Return the key of an index chunk, ``index/<model>/<chunk, 6 digits>.json``."""
    return f"{INDEX_PREFIX}{validate_name(model)}/{chunk:06d}{DOCUMENT_SUFFIX}"


def index_chunk_of(key: str) -> int | None:
    """Return the number of a listed index chunk key (``index/<model>/<chunk>.json``), or None if it is not one."""
    _, slash, file = (_under(INDEX_PREFIX, key) or "").partition("/")
    match = _CHUNK.fullmatch(file) if slash else None
    return int(match["chunk"]) if match is not None else None


def segment_key(model: str, seq: int, first_at: datetime) -> str:
    """Return the key of a sealed history segment, named by its sequence number and its first entry's time."""
    return f"{HISTORY_PREFIX}{validate_name(model)}/{seq:08d}-{first_at.astimezone(UTC):{_SEGMENT_TIME}}.json"


def history_folder(model: str) -> str:
    """Return the folder of a model's sealed history segments, ``history/<model>/``."""
    return f"{HISTORY_PREFIX}{validate_name(model)}/"


def segment_of(key: str) -> tuple[int, datetime] | None:
    """Return (sequence number, first entry's time) of a listed segment key, or None if it is not one."""
    _, slash, file = (_under(HISTORY_PREFIX, key) or "").partition("/")
    match = _SEGMENT.fullmatch(file) if slash else None
    if match is None:
        return None
    return int(match["seq"]), datetime.strptime(match["at"], _SEGMENT_TIME).replace(tzinfo=UTC)


def digest_key(model: str, digest: str) -> str:
    """Return the key that names the first version of `model` with artifacts of `digest` ("sha256:<hex>")."""
    hexdigest = digest.removeprefix("sha256:")
    if not _SHA256.fullmatch(hexdigest):
        msg = f"invalid artifact digest {shown(digest)}"
        raise InvalidInputError(msg)
    return f"{DIGESTS_PREFIX}{validate_name(model)}/{hexdigest}{DOCUMENT_SUFFIX}"


def model_folders(model: str) -> list[str]:
    """Return every folder that holds data of `model` in the per-version layout (for check and migrate)."""
    name = validate_name(model)
    return [f"{prefix}{name}/" for prefix in (VERSIONS_PREFIX, INDEX_PREFIX, HISTORY_PREFIX, DIGESTS_PREFIX)]


def new_upload_id() -> str:
    """Return a new upload id: when it started (sortable) and a random part (unique)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def artifacts_folder(model: str, upload_id: str) -> str:
    """Return the folder of one registration's artifacts, ``artifacts/<model>/<upload-id>``.

    Raises:
        InvalidNameError: `model` is not a model name. InvalidInputError: `upload_id` is not one.
    """
    return f"{ARTIFACTS_PREFIX}{validate_name(model)}/{_upload_id(upload_id)}"


def pending_key(model: str, upload_id: str) -> str:
    """Return the key of the marker of a registration in flight, ``pending/<model>/<upload-id>.json``.

    Raises:
        InvalidNameError: `model` is not a model name. InvalidInputError: `upload_id` is not one.
    """
    return f"{PENDING_PREFIX}{validate_name(model)}/{_upload_id(upload_id)}{DOCUMENT_SUFFIX}"


def upload_of_file(key: str) -> tuple[str, str] | None:
    """Return the upload folder a listed artifact file lies in and its path inside it, or None if it lies in none."""
    stem = _under(ARTIFACTS_PREFIX, key)
    parts = stem.split("/", 2) if stem is not None else []
    if len(parts) < 3 or not all(parts):
        return None
    model, upload_id, path = parts
    return f"{ARTIFACTS_PREFIX}{model}/{upload_id}", path


def upload_of_marker(key: str) -> str | None:
    """Return the upload folder a listed pending marker stands for, or None if `key` is no marker."""
    model, slash, file = (_under(PENDING_PREFIX, key) or "").partition("/")
    upload_id = file.removesuffix(DOCUMENT_SUFFIX)
    return f"{ARTIFACTS_PREFIX}{model}/{upload_id}" if slash and model and upload_id else None


def owner_of_upload(folder: str) -> str:
    """Return the model an upload folder (``artifacts/<model>/<upload-id>``) belongs to."""
    return folder.removeprefix(ARTIFACTS_PREFIX).split("/", 1)[0]


class RootRelativeLocations:
    """Artifact folders as documents keep them: keys relative to the root (``artifacts/<model>/<upload-id>``).

    Documents written before locations were relative hold absolute URIs, possibly of the place the registry was
    copied from; those resolve to the same key under the current root.

    Args:
        root_uri: The registry root's URI (``file:///...`` or ``gs://bucket/prefix``).
    """

    def __init__(self, root_uri: str) -> None:
        self.root = root_uri.rstrip("/")

    def stored(self, uri: str) -> str:
        """Return `uri` relative to the root (unchanged if it lies elsewhere)."""
        key = self.key(uri)
        return uri if key is None else key

    def resolved(self, stored: str, model_name: str) -> str:
        """Return the absolute URI under the current root of a stored location."""
        if "://" not in stored:
            return f"{self.root}/{stored}"
        marker = f"/{ARTIFACTS_PREFIX}{model_name}/"
        at = stored.rfind(marker)
        return f"{self.root}/{stored[at + 1 :]}" if model_name and at >= 0 else stored

    def key(self, uri: str) -> str | None:
        """Return the key of `uri` under the root, or None if it lies elsewhere."""
        prefix = f"{self.root}/"
        return uri[len(prefix) :] if uri.startswith(prefix) else None


def _under(prefix: str, key: str) -> str | None:
    return key[len(prefix) :] if key.startswith(prefix) else None


def _label(label: str) -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        msg = f"invalid version label {shown(label)}"
        raise InvalidInputError(msg)
    return label


def _upload_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        msg = f"invalid upload id {shown(upload_id)}"
        raise InvalidInputError(msg)
    return upload_id
