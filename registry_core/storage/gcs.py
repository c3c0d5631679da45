"""Google Cloud Storage backend: create-if-absent and compare-and-swap with ``if_generation_match``."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import mimetypes
import os
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from registry_core.errors import (
    ConflictError,
    DependencyMissingError,
    InvalidInputError,
    NotFoundError,
    RegistryRootNotFoundError,
    StorageError,
)
from registry_core.storage.base import (
    CHUNK,
    StorageBackend,
    StoredFile,
    check_key,
    walk_files,
)
from registry_core.storage.transfer import Progress, ProgressCounter, shared_pool
from registry_core.text import one_line, shown

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Bucket, Client

__all__ = ["GCSStorage"]

_INSTALL_HINT = "google-cloud-storage is not installed: pip install 'google-cloud-storage>=3,<4'"
_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
_EMULATOR_PROJECT = "test"
_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
# Custom metadata stamped on every conditional write, so that after an ambiguous retry (the first attempt may
# have landed, the retry then gets 412) we can tell our own write from a rival's even when the bytes are equal.
_WRITE_ID = "registry-write-id"
_THREADS = 8  # parallel uploads, downloads and deletes; below requests' default pool of 10 connections
_POOL = "gcs"  # the process's pool of transfer threads (made once, not per call)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def _import_storage() -> Any:
    """Import google.cloud.storage on first use, so that ``import registry_core`` stays fast."""
    try:
        from google.cloud import storage
    except ImportError as exc:
        raise DependencyMissingError(_INSTALL_HINT) from exc
    return storage


def _emulator_credentials() -> Any:
    """Credentials for an emulator: those $GOOGLE_APPLICATION_CREDENTIALS names if it is usable, else anonymous."""
    from google.auth.credentials import AnonymousCredentials

    if os.environ.get(_CREDENTIALS_ENV):
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            return google.auth.default()[0]
        except DefaultCredentialsError:
            pass
    return AnonymousCredentials()  # type: ignore[no-untyped-call]


def _bucket_missing(exc: BaseException) -> bool:
    # GCS says "The specified bucket does not exist." on any request naming a missing bucket.
    return "bucket does not exist" in str(getattr(exc, "message", exc)).lower()


@contextlib.contextmanager
def _gcs_errors(what: str, *, bucket_level: bool = False) -> Iterator[None]:
    """Translate SDK, HTTP and auth exceptions into registry errors, once, at the backend boundary.

    Args:
        what: Names the operation and object for the message.
        bucket_level: A 404 here can only mean the bucket is missing (uploads, listings).
    """
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from google.cloud.storage import exceptions as media

    try:
        yield
    except api.NotFound as exc:
        if bucket_level or _bucket_missing(exc):
            msg = f"{what}: bucket does not exist"
            raise RegistryRootNotFoundError(msg) from exc
        msg = f"{what} does not exist"
        raise NotFoundError(msg) from exc
    except api.PreconditionFailed as exc:
        msg = f"{what} changed since it was read"
        raise ConflictError(msg) from exc
    except (api.Forbidden, api.Unauthorized) as exc:
        msg = f"{what}: permission denied ({exc.code} {one_line(exc.message)})"
        raise StorageError(msg) from exc
    except api.GoogleAPICallError as exc:
        msg = f"{what}: GCS error {exc.code} {one_line(exc.message)}"
        raise StorageError(msg) from exc
    except api.RetryError as exc:
        msg = f"{what}: gave up after retries ({one_line(str(exc.cause or exc))})"
        raise StorageError(msg) from exc
    except auth.DefaultCredentialsError as exc:
        msg = f"{what}: no Google credentials (run `gcloud auth application-default login`)"
        raise StorageError(msg) from exc
    except auth.GoogleAuthError as exc:
        msg = f"{what}: authentication failed ({one_line(str(exc))})"
        raise StorageError(msg) from exc
    except (media.DataCorruption, media.InvalidResponse) as exc:
        msg = f"{what}: bad response from GCS ({one_line(str(exc))})"
        raise StorageError(msg) from exc
    except OSError as exc:
        # requests' ConnectionError and Timeout derive from OSError, as do local file errors in up/downloads.
        msg = f"{what}: {type(exc).__name__}: {one_line(str(exc))}"
        raise StorageError(msg) from exc


class GCSStorage(StorageBackend):
    """Keys are objects under ``gs://bucket/prefix``. Safe for any number of writers anywhere.

    Conditional writes use object generations: ``create`` uploads with ``if_generation_match=0`` and
    ``compare_and_swap`` with ``if_generation_match=<generation>``. Objects up to 8 MiB go up in one multipart
    request, so a conditional write is one request.

    Args:
        uri: ``gs://bucket`` or ``gs://bucket/some/prefix``; keys are relative to the prefix.
        project: Google Cloud project for the client (``"test"`` against an emulator if None).
        client: A ready ``google.cloud.storage.Client``; if None one is made on first use, with anonymous
            credentials when ``STORAGE_EMULATOR_HOST`` is set, else Application Default Credentials.

    Raises:
        InvalidInputError: `uri` is not a ``gs://`` URI with a valid bucket name and prefix.
        DependencyMissingError: google-cloud-storage is not installed.
    """

    def __init__(self, uri: str, *, project: str | None = None, client: Client | None = None) -> None:
        if not isinstance(uri, str) or not uri.startswith("gs://"):
            msg = f"not a gs:// URI: {shown(uri)}"
            raise InvalidInputError(msg)
        bucket, _, prefix = uri[len("gs://") :].partition("/")
        prefix = prefix.strip("/")
        if not _BUCKET_NAME.match(bucket) or ".." in bucket:
            msg = f"invalid bucket name {shown(bucket)} in {shown(uri)}"
            raise InvalidInputError(msg)
        if prefix:
            check_key(prefix)
        _import_storage()  # fail at construction, not at the first read, when the SDK is missing
        self.bucket_name = bucket
        self.prefix = prefix
        self.uri = f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}"
        self._project = project
        self._given_client = _without_span_prefetch(client) if client is not None else None
        self._lazy_client: Client | None = None
        self._lazy_bucket: Bucket | None = None
        self._lock = threading.Lock()
        self._principal: tuple[str | None] | None = None

    def __repr__(self) -> str:
        return f"GCSStorage({self.uri!r})"

    # -- client and naming -----------------------------------------------------------------------------------

    def _client(self) -> Client:
        """Return the client, creating it on first use (finding credentials can take a while)."""
        if self._given_client is not None:
            return self._given_client
        with self._lock:
            if self._lazy_client is None:
                self._lazy_client = self._make_client()
            return self._lazy_client

    def _make_client(self) -> Client:
        storage = _import_storage()
        with _gcs_errors(f"cannot create a GCS client for {self.uri}"):
            if os.environ.get(_EMULATOR_ENV):
                # The client reads STORAGE_EMULATOR_HOST itself for the endpoint and would go anonymous; the
                # emulator wants no auth, but credentials given explicitly are used (the emulator ignores them), so
                # that the identity they carry is the actor, as on real GCS.
                client = storage.Client(project=self._project or _EMULATOR_PROJECT, credentials=_emulator_credentials())
            else:
                client = storage.Client(project=self._project)
        return _without_span_prefetch(client)

    def _bucket(self) -> Bucket:
        client = self._client()
        with self._lock:
            if self._lazy_bucket is None or self._lazy_bucket.client is not client:
                self._lazy_bucket = client.bucket(self.bucket_name)
            return self._lazy_bucket

    def _name(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _folder(self, prefix: str) -> str:
        """Return the object-name prefix (ending in '/' unless it is the bucket root) of the folder `prefix`."""
        # Same rules as the local backend: "" or "/" is the root, otherwise `prefix` must be a valid key.
        folder = self._name(prefix.rstrip("/")) if prefix.strip("/") else self.prefix
        return f"{folder}/" if folder else ""

    def _blob(self, key: str) -> Blob:
        # A fresh Blob per call: Blob objects carry per-request state (generation) and are not thread-safe.
        return self._bucket().blob(self._name(key))

    # -- reads ------------------------------------------------------------------------------------------------

    def read(self, key: str) -> bytes:
        """Return the bytes at `key` (one request). Raises: NotFoundError, StorageError."""
        return self.read_with_generation(key)[0]

    def read_with_generation(self, key: str) -> tuple[bytes, str]:
        """Return the bytes at `key` and their generation in one request. Raises: NotFoundError, StorageError.

        The generation comes from the ``x-goog-generation`` header of the same download response, so it always
        belongs to exactly these bytes (a separate metadata request could see a newer object).
        """
        blob = self._blob(key)
        with _gcs_errors(self.uri_for(key)):
            data = blob.download_as_bytes()
        if blob.generation is None:
            msg = f"{self.uri_for(key)}: the download response carried no generation"
            raise StorageError(msg)
        return data, str(blob.generation)

    # -- writes -----------------------------------------------------------------------------------------------

    def write(self, key: str, data: bytes, *, durable: bool = True) -> None:
        """Replace the bytes at `key` (one request up to 8 MiB; GCS objects are replaced atomically and durably)."""
        blob = self._blob(key)
        with _gcs_errors(self.uri_for(key), bucket_level=True):
            blob.upload_from_string(data, content_type="application/octet-stream")

    def create(self, key: str, data: bytes) -> str:
        """Store `data` only if `key` does not exist; return the new generation. Raises: ConflictError."""
        return self._conditional_upload(key, data, 0)

    def compare_and_swap(self, key: str, data: bytes, generation: str) -> str:
        """Replace `key` only if it is still at `generation`; return the new one. Raises: ConflictError."""
        expected = int(generation) if isinstance(generation, str) and generation.isdigit() else 0
        if expected <= 0:
            # Not a generation this backend hands out (0 would even turn the swap into a create), so the object
            # cannot be at it: a conflict, as on the local backend, without a request.
            msg = f"{key} is not at generation {shown(generation)}"
            raise ConflictError(msg)
        return self._conditional_upload(key, data, expected)

    def _conditional_upload(self, key: str, data: bytes, if_generation_match: int) -> str:
        """Upload with a generation precondition and return the new generation.

        The SDK retries transient failures of conditional uploads (DEFAULT_RETRY). If a first attempt landed but
        its response was lost, the retry gets 412 against our own write; the write id in the object's metadata
        tells that apart from a rival's write (one extra request, only after a 412).
        """
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        write_id = uuid.uuid4().hex
        blob = self._blob(key)
        blob.metadata = {_WRITE_ID: write_id}
        what = self.uri_for(key)
        try:
            with _gcs_errors(what, bucket_level=True):
                blob.upload_from_string(
                    data,
                    content_type="application/octet-stream",
                    if_generation_match=if_generation_match,
                    retry=DEFAULT_RETRY,
                )
        except ConflictError as exc:
            current = self._bucket().blob(blob.name)
            with _gcs_errors(what):
                try:
                    current.reload()
                except NotFound:
                    current = None
            if current is not None and (current.metadata or {}).get(_WRITE_ID) == write_id and current.generation:
                return str(current.generation)
            msg = f"{key} already exists" if if_generation_match == 0 else f"{key} changed since it was read"
            raise ConflictError(msg) from exc.__cause__
        return str(blob.generation)

    # -- listing and deleting ---------------------------------------------------------------------------------

    def _list_blobs(self, prefix: str) -> list[Blob]:
        folder = self._folder(prefix)
        # Names only: one request per 1,000 objects instead of full metadata for each.
        with _gcs_errors(f"cannot list gs://{self.bucket_name}/{folder}", bucket_level=True):
            blobs = self._client().list_blobs(self.bucket_name, prefix=folder, fields="items(name),nextPageToken")
            return [b for b in blobs if not b.name.endswith("/")]  # skip console-made folder placeholders

    def _key_of(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def list(self, prefix: str) -> list[str]:
        """Return every key under the folder `prefix` (recursively), sorted. Raises: RegistryRootNotFoundError."""
        return sorted(self._key_of(blob.name) for blob in self._list_blobs(prefix))

    def delete(self, key: str, *, durable: bool = True) -> None:
        """Delete `key`; a missing key (or a retried delete that already landed) is not an error.

        Every deletion is durable when it returns (`durable` changes nothing on GCS).
        """
        from google.api_core.exceptions import NotFound

        blob = self._blob(key)
        with _gcs_errors(f"cannot delete {self.uri_for(key)}"), contextlib.suppress(NotFound):
            blob.delete()

    def delete_prefix(self, prefix: str) -> None:
        """Delete every key under the folder `prefix`: one listing, then parallel deletes."""
        pool = shared_pool(_POOL, _THREADS)
        deletions = [pool.submit(self.delete, key) for key in self.list(prefix)]
        wait(deletions)
        for deletion in deletions:
            deletion.result()

    # -- folders ----------------------------------------------------------------------------------------------

    def upload_dir(
        self, local_dir: Path, prefix: str, *, progress: Progress | None = None
    ) -> builtins.list[StoredFile]:
        """Upload every file under `local_dir` to keys under `prefix` in parallel threads, hashing as they go up.

        Returns each file's size and sha256, computed from the bytes read for the upload (each byte is read once).
        Files up to 8 MiB go up in one request each; larger ones use resumable uploads. Artifacts live under fresh
        keys and need no preconditions. `progress` counts bytes as they are read for sending.
        """
        local_dir = Path(local_dir)
        folder = self._name(prefix.rstrip("/")) + "/"  # a folder under the root, never the root itself
        files = walk_files(local_dir)
        bucket = self._bucket()
        counter = ProgressCounter(progress)

        def upload_one(relative: str, path: Path) -> StoredFile:
            blob = bucket.blob(folder + check_key(relative))
            content_type = mimetypes.guess_type(path.name)[0]  # what upload_from_filename would send
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                reader = _HashingReader(handle, counter)
                blob.upload_from_file(reader, size=size, content_type=content_type)
                return StoredFile(relative, *reader.finish(size))

        pool = shared_pool(_POOL, _THREADS)
        with _gcs_errors(f"cannot upload {local_dir} to {self.uri_for(prefix.strip('/'))}", bucket_level=True):
            uploads = [pool.submit(upload_one, relative, path) for relative, path in files]
            wait(uploads)
            return [upload.result() for upload in uploads]

    def download_dir(self, prefix: str, local_dir: Path, *, progress: Progress | None = None) -> None:
        """Download every key under `prefix` into `local_dir`, keeping relative paths. Raises: NotFoundError."""
        local_dir = Path(local_dir)
        folder = self._name(prefix.rstrip("/")) + "/"
        blobs = self._list_blobs(prefix)
        if not blobs:
            msg = f"{self.uri_for(prefix.strip('/'))} does not exist"
            raise NotFoundError(msg)
        pairs = []
        for blob in blobs:
            # check_key refuses names like "a/../../x" that would escape local_dir.
            rel = check_key(blob.name[len(folder) :])
            pairs.append((blob, local_dir.joinpath(*rel.split("/"))))
        counter = ProgressCounter(progress)

        def download_one(blob: Blob, path: Path) -> None:
            with open(path, "wb") as handle:
                blob.download_to_file(_CountingWriter(handle, counter))

        pool = shared_pool(_POOL, _THREADS)
        with _gcs_errors(f"cannot download {self.uri_for(prefix.strip('/'))} to {local_dir}"):
            for _blob, path in pairs:
                path.parent.mkdir(parents=True, exist_ok=True)
            downloads = [pool.submit(download_one, blob, path) for blob, path in pairs]
            wait(downloads)
            for download in downloads:
                download.result()

    # -- naming and existence ---------------------------------------------------------------------------------

    def principal(self) -> str | None:
        """Return the e-mail of the Google account the client's credentials belong to (None when anonymous)."""
        if self._principal is None:
            from registry_core.identity import google_principal

            self._principal = (google_principal(getattr(self._client(), "_credentials", None)),)
        return self._principal[0]

    def uri_for(self, key: str) -> str:
        """Return ``gs://bucket/prefix/key``."""
        return f"gs://{self.bucket_name}/{self._name(key)}"

    def root_exists(self) -> bool:
        """Return True if the bucket exists (one request).

        A caller allowed to use objects but not to read bucket metadata gets 403; one listing request then tells.
        """
        from google.api_core.exceptions import Forbidden, NotFound

        bucket = self._bucket()
        with _gcs_errors(f"cannot check {self.uri}"):
            try:
                return bool(bucket.exists())
            except Forbidden:
                pass
            try:
                blobs = self._client().list_blobs(self.bucket_name, max_results=1, fields="items(name)")
                next(iter(blobs), None)
            except NotFound:
                return False
            return True


class _HashingReader:
    """The file an upload reads, hashing each byte the first time the SDK reads it (a retry reads some again)."""

    def __init__(self, handle: BinaryIO, counter: ProgressCounter) -> None:
        self._handle = handle
        self._counter = counter
        self._sha = hashlib.sha256()
        self._hashed = 0  # bytes [0, _hashed) are in the digest

    def read(self, size: int = -1) -> bytes:
        """Read like the file, hashing what was not read before."""
        start = self._handle.tell()
        data = self._handle.read(size)
        end = start + len(data)
        if start <= self._hashed < end:
            self._sha.update(memoryview(data)[self._hashed - start :])
            self._counter.add(end - self._hashed)
            self._hashed = end
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move like the file (the SDK rewinds to resend what the service did not get)."""
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        """Return the position in the file."""
        return self._handle.tell()

    def finish(self, size: int) -> tuple[int, str]:
        """Return `size` and the sha256 of the first `size` bytes, reading any the upload skipped (none so far)."""
        if self._hashed < size:
            self._handle.seek(self._hashed)
            while self._hashed < size and (block := self._handle.read(min(CHUNK, size - self._hashed))):
                self._sha.update(block)
                self._hashed += len(block)
        return size, self._sha.hexdigest()


class _CountingWriter:
    """The file a download writes, counting bytes for progress."""

    def __init__(self, handle: BinaryIO, counter: ProgressCounter) -> None:
        self._handle = handle
        self._counter = counter

    def write(self, data: bytes) -> int:
        """Write like the file and count the bytes."""
        written = self._handle.write(data)
        self._counter.add(len(data))
        return written

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move like the file (the SDK rewinds to start over on a transcoded object)."""
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        """Return the position in the file."""
        return self._handle.tell()


def _without_span_prefetch(client: Client) -> Client:
    """Stop the SDK's background bucket-metadata request when tracing is off, and return `client`.

    google-cloud-storage 3.17 sends an extra GET of the bucket, in a background thread, the first time a client
    touches each bucket (and again after 404s), only to label OpenTelemetry spans. With tracing off nothing reads
    those labels, so the request is a wasted round trip that also skews request counts.
    """
    try:
        from google.cloud.storage._opentelemetry_tracing import enable_otel_traces
    except ImportError:  # the SDK changed; keep its behaviour
        return client
    if not enable_otel_traces and getattr(client, "_bucket_metadata_cache", None) is not None:
        client._bucket_metadata_cache = None
    return client
