"""Local filesystem backend: atomic replace with os.replace, exclusive create with os.link, CAS under flock."""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
    hash_file,
    walk_files,
)

# The backend's own files beside the keys (layout.py lists them in its map): lock files of compare-and-swap, and
# temporary files named after the process writing them, so that check can tell an abandoned one from one in progress.
_LOCK_DIR = ".locks"
_TMP_MARK = ".regtmp-"
_COPY_THREADS = 4
# delete() prunes the folders it empties, so a folder another process is writing into can vanish between its mkdir
# and its open (pending/<model>/ when two registrations start and end at once): the write makes it again.
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

    def _ensure_parent(self, path: Path) -> None:
        if not self.root.is_dir():
            if not self._create_root:
                msg = f"registry root {self.root} does not exist"
                raise RegistryRootNotFoundError(msg)
            with _os_errors(f"cannot create registry root {self.root}"):
                self.root.mkdir(parents=True, exist_ok=True)
        with _os_errors(f"cannot create {path.parent}"):
            for attempt in range(_FOLDER_RACE_RETRIES):
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    return
                except (FileExistsError, FileNotFoundError):
                    # A concurrent delete() removed a folder on the way while mkdir was making it.
                    if attempt == _FOLDER_RACE_RETRIES - 1:
                        raise

    def _open_new(self, path: Path, temp: Path) -> BinaryIO:
        """Create `temp` next to `path` for writing, making (and, after a concurrent prune, remaking) the folder."""
        for attempt in range(_FOLDER_RACE_RETRIES):
            self._ensure_parent(path)
            try:
                return open(temp, "xb")  # noqa: SIM115 - the caller closes it
            except FileNotFoundError:
                if attempt == _FOLDER_RACE_RETRIES - 1:
                    raise
        raise AssertionError  # not reached: the last attempt returns or raises

    def _write_temp(self, path: Path, data: bytes, *, durable: bool = True) -> Path:
        temp = path.with_name(f"{path.name}{_TMP_MARK}{self_token()}-{uuid.uuid4().hex[:12]}")
        with _os_errors(f"cannot write {path}"), self._open_new(path, temp) as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
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
        """Atomically replace the bytes at `key` (fsynced first unless `durable` is False)."""
        path = self._path(key)
        temp = self._write_temp(path, data, durable=durable)
        with _os_errors(f"cannot write {path}"):
            os.replace(temp, path)

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
        return _generation(data)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock_path = self.root / _LOCK_DIR / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".lock")
        self._ensure_parent(lock_path)
        with _os_errors(f"cannot lock {key}"):
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

    def delete(self, key: str) -> None:
        """Delete `key` and prune emptied folders; a missing key is not an error."""
        path = self._path(key)
        with _os_errors(f"cannot delete {path}"):
            path.unlink(missing_ok=True)
        parent = path.parent
        while parent != self.root and parent.is_relative_to(self.root):
            try:
                parent.rmdir()
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    break
                raise
            parent = parent.parent

    def delete_prefix(self, prefix: str) -> None:
        """Delete the folder `prefix` and everything in it."""
        path = self._path(prefix.rstrip("/"))
        with _os_errors(f"cannot delete {path}"):
            shutil.rmtree(path, ignore_errors=False) if path.is_dir() else path.unlink(missing_ok=True)

    def upload_dir(self, local_dir: Path, prefix: str) -> builtins.list[StoredFile]:
        """Copy `local_dir` under `prefix` (kernel copy, then fsync) and hash each file in parallel."""
        files = walk_files(Path(local_dir))
        target = self._path(prefix.rstrip("/"))

        def copy_one(item: tuple[str, Path]) -> StoredFile:
            rel, source = item
            destination = target.joinpath(*rel.split("/"))
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            size, sha = hash_file(destination)  # hash what was stored, not what we meant to store
            with open(destination, "rb") as handle:
                os.fsync(handle.fileno())
            return StoredFile(rel, size, sha)

        self._ensure_parent(target / "x")
        with _os_errors(f"cannot copy {local_dir} to {target}"), ThreadPoolExecutor(_COPY_THREADS) as pool:
            return list(pool.map(copy_one, files))

    def download_dir(self, prefix: str, local_dir: Path) -> None:
        """Copy the folder `prefix` into `local_dir`."""
        source = self._path(prefix.rstrip("/"))
        with _os_errors(f"{prefix} in {self.root}"):
            shutil.copytree(source, local_dir, dirs_exist_ok=True)

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
