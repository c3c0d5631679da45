"""Storage backends behind one byte-store interface, chosen by the root URI."""

from __future__ import annotations

from registry_core.errors import InvalidInputError
from registry_core.storage.base import StorageBackend, StoredFile
from registry_core.storage.local import LocalStorage
from registry_core.text import shown

__all__ = ["LocalStorage", "StorageBackend", "StoredFile", "open_storage"]


def open_storage(uri: str, *, create: bool = True, project: str | None = None) -> StorageBackend:
    """Return the backend for `uri`: a local path or ``file://...``, or ``gs://bucket[/prefix]``.

    Args:
        uri: The registry root.
        create: For local roots, create the folder on the first write.
        project: Google Cloud project for GCS clients.

    Raises:
        InvalidInputError: the scheme is not supported.
    """
    if not isinstance(uri, str) or not uri.strip():
        msg = "the registry root must be a non-empty path or URI"
        raise InvalidInputError(msg)
    if uri.startswith("gs://"):
        from registry_core.storage.gcs import (
            GCSStorage,  # google-cloud-storage is slow to import
        )

        return GCSStorage(uri, project=project)
    if "://" in uri and not uri.startswith("file://"):
        scheme = uri.split("://", 1)[0]
        msg = f"unsupported registry root scheme {shown(scheme)}; use a local path, file:// or gs://"
        raise InvalidInputError(msg)
    return LocalStorage(uri, create=create)
