"""What POSIX needs for a local write to survive an OS crash: fsync the file, then the folders whose entries changed.

A file's bytes are durable once the file is fsynced, but its name is an entry of its folder, durable only once the
folder is fsynced after the entry was made (os.replace, os.link, os.unlink, mkdir); a new folder's own name is an
entry of its parent. Journaling filesystems (ext4, XFS) commit directory changes in order, so on them the fsync of
the last folder changed also covers a folder another process made a moment before; POSIX promises only what each
fsync names, and that is what the local backend fsyncs.

Uploads are flushed in the background (`PendingFlushes`): every durable write of the process waits for them before
it becomes visible, so a version is never published before its artifacts are durable, and their fsyncs overlap
with building and writing the document that publishes them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, wait
from pathlib import Path

from registry_core.errors import StorageError
from registry_core.storage.transfer import shared_pool

_FLUSH_THREADS = 16  # fsyncs wait for the disk, not the CPU; in parallel the filesystem commits them together


def fsync_file(path: Path) -> None:
    """Make the bytes of the file at `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(path: Path) -> None:
    """Make the entries of the folder at `path` durable (names made, replaced or removed in it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folders(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return the folders made, outermost first.

    A folder that appears while this runs (another process made it) counts as made here too, so that its entry is
    fsynced before our write is acknowledged: the other process may not have got to its own fsync yet.

    Raises:
        FileNotFoundError: a folder on the way was removed while this ran (the caller may try again).
    """
    missing = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not path.is_dir():
                raise
    return list(reversed(missing))


def fsync_entries_of(made: Iterable[Path]) -> None:
    """Make durable the entries of the folders `made`, i.e. fsync each one's parent (each parent once)."""
    for parent in sorted({path.parent for path in made}):
        fsync_folder(parent)


class PendingFlushes:
    """The fsyncs of uploads in flight, which every durable write of the process waits for before it is visible.

    Process-wide, not per backend object: an upload through one `LocalStorage` and the write that publishes it
    through another (two registries on one root) are still ordered. A flush that failed makes every later wait fail
    until the folder it belongs to is forgotten (deleted): publishing anything after it could publish a version
    whose artifacts may not survive a power loss.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Path, Future[None]]] = []

    def start(self, folder: Path, paths: Iterable[Path], *, folders: Iterable[Path] = ()) -> list[Future[None]]:
        """Start fsyncing the files `paths` and the folders `folders` in the background, as part of `folder`."""
        pool = shared_pool("flush", _FLUSH_THREADS)
        futures = [pool.submit(fsync_file, path) for path in paths]
        futures += [pool.submit(fsync_folder, path) for path in folders]
        with self._lock:
            self._pending += [(folder, future) for future in futures]
        return futures

    def wait(self) -> None:
        """Return once every flush started before this call is done.

        Raises:
            StorageError: a flush failed (until its folder is forgotten).
        """
        with self._lock:
            pending = list(self._pending)
        if not pending:
            return
        wait([future for _folder, future in pending])
        failed = [(folder, future.exception()) for folder, future in pending if future.exception() is not None]
        with self._lock:
            done = {id(future) for _folder, future in pending if future.exception() is None}
            self._pending = [item for item in self._pending if id(item[1]) not in done]
        if failed:
            folder, error = failed[0]
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            msg = f"cannot make {folder} durable: {reason}"
            raise StorageError(msg) from error

    def forget(self, folder: Path) -> None:
        """Drop the flushes of `folder` and of everything under it (which is being deleted), once they are done."""
        with self._lock:
            mine = [future for path, future in self._pending if path.is_relative_to(folder)]
        wait(mine)
        with self._lock:
            self._pending = [(path, future) for path, future in self._pending if not path.is_relative_to(folder)]


    def reset_in_child(self) -> None:
        """Forget every flush after a fork: the child inherits the list, not the threads (the parent finishes them)."""
        self._lock = threading.Lock()
        self._pending = []


pending_flushes = PendingFlushes()
os.register_at_fork(after_in_child=pending_flushes.reset_in_child)
