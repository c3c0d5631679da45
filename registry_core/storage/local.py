"""Local filesystem backend: atomic replace with os.replace, exclusive create with os.link, CAS under flock.

Durable across an OS crash once a write returns (see `durability`): the file is fsynced before it gets its name, its
folder after; uploads are fsynced in the background and every durable write waits for them before it is visible.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path
from typing import BinaryIO

from registry_core.errors import (
    ConflictError,
    NotFoundError,
    RegistryRootNotFoundError,
    StorageError,
)
from registry_core.processes import self_token, token_is_running
from registry_core.storage.base import (
    StorageBackend,
    StoredFile,
    check_key,
    walk_files,
)
from registry_core.storage.copying import copy_file
from registry_core.storage.durability import fsync_entries_of, fsync_folder, make_folders, pending_flushes
from registry_core.storage.transfer import Progress, ProgressCounter, shared_pool

# The backend's own files beside the keys (layout.py lists them in its map): lock files of compare-and-swap, and
# temporary files named after the process writing them, so that check can tell an abandoned one from one in progress.
_LOCK_DIR = ".locks"
_TMP_MARK = ".regtmp-"
_COPY_THREADS = 4  # hashing takes the CPU (2 cores here), reading and writing wait for the disk
# delete_prefix() removes whole folders, so a folder another process is writing into can vanish between its mkdir
# and its open: the write makes it again.
_FOLDER_RACE_RETRIES = 20


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Translate OSError into StorageError (FileNotFoundError into NotFoundError)."""
    try:
        yield
    except FileNotFoundError as exc:
        msg = f"{what} does not exist"
        raise NotFoundError(msg) from exc
    except OSError as exc:
        msg = f"{what}: {exc.strerror or exc}"
        raise StorageError(msg) from exc


def _generation(data: bytes) -> str:
    # Content-derived, so it needs no side file; equal bytes mean an equally valid basis for a CAS.
    return hashlib.sha256(data).hexdigest()[:32]


class LocalStorage(StorageBackend):
    """Keys are files under `root`. Safe for many processes on one machine (not for NFS).

    Args:
        root: The registry folder. Created on the first write.
        create: Create `root` (and parents) on the first write; otherwise a missing root is an error.
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        text = os.fspath(root)
        if text.startswith("file://"):
            text = text[len("file://") :]
        self.root = Path(text).expanduser().absolute()
        self.uri = self.root.as_uri()
        self._create_root = create

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _make_folders(self, folder: Path) -> None:
        """Create `folder` and its missing parents, and fsync the parents whose entries changed.

        Durably even for a write that need not be durable: later durable writes into the folder rely on it (the
        first write of a new registry is the marker of its first registration).
        """
        if folder.is_dir():
            return
        if not self.root.is_dir() and not self._create_root:
            msg = f"registry root {self.root} does not exist"
            raise RegistryRootNotFoundError(msg)
        with _os_errors(f"cannot create {folder}"):
            for attempt in range(_FOLDER_RACE_RETRIES):
                try:
                    made = make_folders(folder)
                    break
                except FileNotFoundError:
                    # A concurrent delete_prefix() removed a folder on the way while we were making it.
                    if attempt == _FOLDER_RACE_RETRIES - 1:
                        raise
            fsync_entries_of(made)

    def _open_new(self, path: Path, temp: Path) -> BinaryIO:
        """Create `temp` next to `path` for writing, making (and, after a concurrent removal, remaking) the folder."""
        for attempt in range(_FOLDER_RACE_RETRIES):
            try:
                return open(temp, "xb")  # noqa: SIM115 - the caller closes it
            except FileNotFoundError:
                if attempt == _FOLDER_RACE_RETRIES - 1:
                    raise
            self._make_folders(path.parent)
        raise AssertionError  # not reached: the last attempt returns or raises

    def _write_temp(self, path: Path, data: bytes, *, durable: bool = True) -> Path:
        temp = path.with_name(f"{path.name}{_TMP_MARK}{self_token()}-{uuid.uuid4().hex[:12]}")
        with _os_errors(f"cannot write {path}"), self._open_new(path, temp) as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if durable:
            # Uploads flushed in the background must be durable before anything written after them is visible.
            try:
                pending_flushes.wait()
            except StorageError:
                temp.unlink(missing_ok=True)
                raise
        return temp

    def read(self, key: str) -> bytes:
        """Return the bytes at `key`. Raises: NotFoundError."""
        path = self._path(key)
        with _os_errors(f"{key} in {self.root}"):
            return path.read_bytes()

    def read_with_generation(self, key: str) -> tuple[bytes, str]:
        """Return the bytes at `key` and their generation. Raises: NotFoundError."""
        data = self.read(key)
        return data, _generation(data)

    def write(self, key: str, data: bytes, *, durable: bool = True) -> None:
        """Atomically replace the bytes at `key`; durable on return unless `durable` is False (then not fsynced)."""
        path = self._path(key)
        temp = self._write_temp(path, data, durable=durable)
        with _os_errors(f"cannot write {path}"):
            try:
                os.replace(temp, path)
            except OSError:
                temp.unlink(missing_ok=True)
                raise
            if durable:
                fsync_folder(path.parent)

    def create(self, key: str, data: bytes) -> str:
        """Store `data` only if `key` is absent (os.link refuses an existing target). Raises: ConflictError."""
        path = self._path(key)
        temp = self._write_temp(path, data)
        try:
            os.link(temp, path)
        except FileExistsError:
            msg = f"{key} already exists"
            raise ConflictError(msg) from None
        except OSError as exc:
            msg = f"cannot write {path}: {exc.strerror}"
            raise StorageError(msg) from exc
        finally:
            temp.unlink(missing_ok=True)
        with _os_errors(f"cannot write {path}"):
            fsync_folder(path.parent)  # one fsync for the new name and the temporary one gone
        return _generation(data)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock_path = self.root / _LOCK_DIR / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".lock")
        with _os_errors(f"cannot lock {key}"):
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                self._make_folders(lock_path.parent)
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel even if this process is killed
            yield
        finally:
            os.close(fd)

    def compare_and_swap(self, key: str, data: bytes, generation: str) -> str:
        """Replace `key` only if its bytes still have `generation`. Raises: ConflictError, NotFoundError."""
        path = self._path(key)
        temp = self._write_temp(path, data)
        try:
            with self._locked(key):
                try:
                    current = path.read_bytes()
                except FileNotFoundError:
                    msg = f"{key} was deleted since it was read"
                    raise ConflictError(msg) from None
                if _generation(current) != generation:
                    msg = f"{key} changed since it was read"
                    raise ConflictError(msg)
                with _os_errors(f"cannot write {path}"):
                    os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        with _os_errors(f"cannot write {path}"):
            fsync_folder(path.parent)  # outside the lock: the next writer need not wait for our disk
        return _generation(data)

    def list(self, prefix: str) -> list[str]:
        """Return every key under the folder `prefix`, sorted; temp files and locks are left out."""
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        keys: builtins.list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d != _LOCK_DIR]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            keys.extend(f"{rel}/{f}" if rel != "." else f for f in filenames if _TMP_MARK not in f)
        keys.sort()
        return keys

    def delete(self, key: str, *, durable: bool = True) -> None:
        """Delete `key`; a missing key is not an error. Durable on return unless `durable` is False.

        Emptied folders are kept: no listing shows them, and removing them would only make the next write into
        them (the marker of the next registration of the model in ``pending/<model>/``) create them again.
        """
        path = self._path(key)
        with _os_errors(f"cannot delete {path}"):
            try:
                path.unlink()
            except FileNotFoundError:
                return
            if durable:
                fsync_folder(path.parent)

    def delete_prefix(self, prefix: str) -> None:
        """Delete the folder `prefix` and everything in it (durable on return)."""
        path = self._path(prefix.rstrip("/"))
        pending_flushes.forget(path)
        with _os_errors(f"cannot delete {path}"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                try:
                    path.unlink()
                except FileNotFoundError:
                    return
            fsync_folder(path.parent)  # the folder's entry gone makes everything under it unreachable

    def upload_dir(
        self, local_dir: Path, prefix: str, *, progress: Progress | None = None
    ) -> builtins.list[StoredFile]:
        """Copy `local_dir` under `prefix`, hashing each file as it is copied (cloned where the filesystem can).

        Returns once the files are stored and hashed. Their fsyncs (files, folders, and the parents of new folders)
        run in the background: every durable write waits for them before it is visible, and `sync` waits for them.
        """
        files = walk_files(Path(local_dir))
        target = self._path(prefix.rstrip("/"))
        counter = ProgressCounter(progress)
        destinations = [target.joinpath(*rel.split("/")) for rel, _source in files]

        def copy_one(source: Path, destination: Path) -> tuple[int, str]:
            stored = copy_file(source, destination, counter)
            pending_flushes.start(target, [destination])  # its fsync runs while the other files are copied
            return stored

        with _os_errors(f"cannot copy {local_dir} to {target}"):
            self._make_folders(target.parent)
            made = make_folders(target)
            for folder in sorted({d.parent for d in destinations} - {target}):
                made += make_folders(folder)
            pool = shared_pool("copy", _COPY_THREADS)
            copies = [pool.submit(copy_one, *pair) for pair in zip((s for _r, s in files), destinations, strict=True)]
            wait(copies)
            for copy in copies:
                copy.result()  # the first failure, if any (delete_prefix waits for the fsyncs already started)
            # The new names: the files in their folders, the folders in theirs.
            folders = {d.parent for d in destinations} | {m.parent for m in made}
            pending_flushes.start(target, [], folders=sorted(folders))
        return [StoredFile(rel, *copy.result()) for (rel, _source), copy in zip(files, copies, strict=True)]

    def sync(self) -> None:
        """Return once every upload that returned is durable. Raises: StorageError if one cannot be."""
        pending_flushes.wait()

    def download_dir(self, prefix: str, local_dir: Path, *, progress: Progress | None = None) -> None:
        """Copy the folder `prefix` into `local_dir` (cloned where the filesystem can; not fsynced, not hashed)."""
        source = self._path(prefix.rstrip("/"))
        if not source.is_dir():
            msg = f"{prefix} in {self.root} does not exist"
            raise NotFoundError(msg)
        counter = ProgressCounter(progress)
        keys = self.list(prefix)
        base = len(source.relative_to(self.root).parts)
        pairs = [(self.root.joinpath(*k.split("/")), Path(local_dir).joinpath(*k.split("/")[base:])) for k in keys]
        with _os_errors(f"cannot copy {prefix} in {self.root} to {local_dir}"):
            for folder in sorted({destination.parent for _source, destination in pairs} | {Path(local_dir)}):
                folder.mkdir(parents=True, exist_ok=True)
            pool = shared_pool("copy", _COPY_THREADS)
            copies = [pool.submit(copy_file, src, dst, counter, digest=False) for src, dst in pairs]
            for copy in copies:
                copy.result()

    def abandoned_temp_files(self) -> builtins.list[str]:
        """Return temp files (relative to the root) whose writing process is gone."""
        found = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for filename in filenames:
                _, mark, rest = filename.partition(_TMP_MARK)
                if mark and not token_is_running(rest.rsplit("-", 1)[0]):
                    found.append((Path(dirpath) / filename).relative_to(self.root).as_posix())
        return sorted(found)

    def remove_temp_file(self, key: str) -> None:
        """Remove an abandoned temp file."""
        self._path(key).unlink(missing_ok=True)

    def uri_for(self, key: str) -> str:
        """Return the file:// URI of `key`."""
        return self._path(key).as_uri()

    def local_root(self) -> Path:
        """Return the registry folder."""
        return self.root

    def local_path(self, key: str) -> Path:
        """Return the filesystem path of `key`."""
        return self._path(key)

    def root_exists(self) -> bool:
        """Return True if the root folder exists."""
        return self.root.is_dir()
