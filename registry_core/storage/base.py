"""The byte-store interface every storage backend implements; registry logic is written once above it."""

from __future__ import annotations

import abc
import builtins
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from registry_core.errors import InvalidInputError
from registry_core.storage.transfer import Progress
from registry_core.text import shown

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file written by ``upload_dir``: path relative to the folder, size and sha256."""

    path: str
    size: int
    sha256: str


class StorageBackend(abc.ABC):
    """Bytes stored at '/'-separated keys relative to the backend root.

    Keys are relative: no empty, '.' or '..' component and no NUL; backends refuse others.
    Generations are opaque strings that change whenever the bytes at a key change.

    Durability: a write, create, compare-and-swap or delete that returned survives a crash of the machine (unless
    made with ``durable=False``). Files stored by ``upload_dir`` may become durable later, but always before any write
    made after it returned is visible, so publishing a record of them is enough; ``sync`` waits for them explicitly.
    """

    uri: str

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """Return the bytes at `key`. Raises: NotFoundError."""

    @abc.abstractmethod
    def read_with_generation(self, key: str) -> tuple[bytes, str]:
        """Return the bytes at `key` and their generation. Raises: NotFoundError."""

    @abc.abstractmethod
    def write(self, key: str, data: bytes, *, durable: bool = True) -> None:
        """Store `data` at `key`, replacing what is there; readers see old or new bytes, never a mix.

        With ``durable=False`` the bytes need not survive a power loss (only a process crash): for notes whose
        writer would be gone then anyway, such as the markers of registrations in flight.
        """

    @abc.abstractmethod
    def create(self, key: str, data: bytes) -> str:
        """Store `data` only if `key` does not exist; return the new generation. Raises: ConflictError."""

    @abc.abstractmethod
    def compare_and_swap(self, key: str, data: bytes, generation: str) -> str:
        """Replace `key` only if it is still at `generation`; return the new one. Raises: ConflictError."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Return every key under the folder `prefix` (recursively), sorted."""

    @abc.abstractmethod
    def delete(self, key: str, *, durable: bool = True) -> None:
        """Delete `key`; a missing key is not an error.

        With ``durable=False`` the deletion may be undone by a power loss (not by a process crash): for notes that
        would be leftovers then anyway, such as the marker of a registration that just finished.
        """

    @abc.abstractmethod
    def upload_dir(
        self, local_dir: Path, prefix: str, *, progress: Progress | None = None
    ) -> builtins.list[StoredFile]:
        """Copy every file under `local_dir` to keys under `prefix`; return each file's size and sha256.

        Each byte is read once: the sha256 is of the bytes stored. `progress` is called with the bytes stored so far.
        """

    @abc.abstractmethod
    def download_dir(self, prefix: str, local_dir: Path, *, progress: Progress | None = None) -> None:
        """Copy every key under `prefix` into `local_dir`, keeping relative paths.

        `progress` is called with the bytes copied so far.
        """

    def sync(self) -> None:  # noqa: B027 - a no-op where uploads are durable when they return
        """Return once every ``upload_dir`` that returned is durable (writes made after one wait for it anyway)."""

    @abc.abstractmethod
    def uri_for(self, key: str) -> str:
        """Return the full URI of `key` (file://... or gs://...)."""

    @abc.abstractmethod
    def root_exists(self) -> bool:
        """Return True if the root folder or bucket exists."""

    def local_root(self) -> Path | None:
        """Return the root folder if the backend stores files locally, else None."""
        return None

    def local_path(self, key: str) -> Path | None:
        """Return a local filesystem path for `key` if the backend has one (the local backend), else None."""
        return None

    def principal(self) -> str | None:
        """Return the authenticated identity this backend writes as (a Google account), None if it has none."""
        return None

    def abandoned_temp_files(self) -> builtins.list[str]:
        """Return temporary files left by writers that died mid-write (only backends that make them)."""
        return []

    def remove_temp_file(self, key: str) -> None:  # noqa: B027 - optional hook, a no-op where there are none
        """Remove a file returned by abandoned_temp_files."""

    def delete_prefix(self, prefix: str) -> None:
        """Delete every key under the folder `prefix`."""
        for key in self.list(prefix):
            self.delete(key)

    def exists(self, key: str) -> bool:
        """Return True if `key` exists."""
        from registry_core.errors import NotFoundError

        try:
            self.read(key)
        except NotFoundError:
            return False
        return True


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative key, else raise InvalidInputError."""
    parts = key.split("/")
    if not key or "\0" in key or "\\" in key or any(p in ("", ".", "..") for p in parts):
        msg = f"invalid storage key {shown(key)}"
        raise InvalidInputError(msg)
    return key


def hash_file(path: Path) -> tuple[int, str]:
    """Return the size and sha256 hex digest of a local file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := handle.readinto(buffer):
            digest.update(view[:n])
            size += n
    return size, digest.hexdigest()


def walk_files(local_dir: Path) -> builtins.list[tuple[str, Path]]:
    """Return (relative '/'-path, absolute path) of every regular file under `local_dir`, sorted.

    A single file gives itself, under its own name; `local_dir` itself may be a symbolic link (whoever passed it
    named it). Inside a folder, symbolic links (to files or to folders alike) and special files (FIFOs, sockets,
    devices) are refused, neither followed nor skipped: following a link can bring in files from outside the
    folder (a key, another model), and skipping one would store something other than what the folder shows.

    Raises:
        InvalidInputError: a link, a special file or an unreadable folder inside `local_dir`, named.
    """
    if local_dir.is_file():
        return [(local_dir.name, local_dir)]

    def unreadable(error: OSError) -> None:  # os.walk skips what it cannot list unless told otherwise
        msg = f"cannot read {shown(str(error.filename))} in {shown(str(local_dir))}: {error.strerror or error}"
        raise InvalidInputError(msg)

    result = []
    for dirpath, dirnames, filenames in os.walk(local_dir, onerror=unreadable):
        for name in dirnames:
            _refuse_link(Path(dirpath) / name, local_dir)
        for name in filenames:
            absolute = Path(dirpath) / name
            _refuse_link(absolute, local_dir)
            relative = absolute.relative_to(local_dir).as_posix()
            if not absolute.is_file():
                msg = f"{shown(str(local_dir))} contains {shown(relative)}, which is not a regular file or folder"
                raise InvalidInputError(msg)
            if not relative.isprintable() or _undecodable(relative):
                # the path goes into the manifest (JSON text) and into object names (UTF-8 on GCS)
                msg = f"{shown(str(local_dir))} contains {shown(relative)}, whose name is not printable UTF-8 text"
                raise InvalidInputError(msg)
            result.append((relative, absolute))
    result.sort()
    return result


def _refuse_link(path: Path, folder: Path) -> None:
    if path.is_symlink():
        msg = (
            f"{shown(str(folder))} contains a symbolic link, {shown(path.relative_to(folder).as_posix())} -> "
            f"{shown(os.readlink(path))}; links are not registered (they could bring in files from elsewhere): "
            "copy what it points to into the folder (e.g. cp -rL)"
        )
        raise InvalidInputError(msg)


def _undecodable(name: str) -> bool:
    """True if `name` holds bytes the file system could not decode (Python keeps them as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
