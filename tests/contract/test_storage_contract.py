"""The storage contract: every backend (local folder and GCS emulator) must pass the same tests."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from support.gcs_emulator import GCSEmulator, LossySession, RequestCounter, make_client

from registry_core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RegistryRootNotFoundError,
)
from registry_core.storage import StorageBackend, open_storage
from registry_core.storage.gcs import GCSStorage

THREADS = 8
T = TypeVar("T")


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run `target(i)` in `count` threads that start together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]


# -- reads and writes ---------------------------------------------------------------------------------------------


def test_read_missing_key_raises_not_found(storage: StorageBackend) -> None:
    with pytest.raises(NotFoundError):
        storage.read("models/none.json")
    with pytest.raises(NotFoundError):
        storage.read_with_generation("models/none.json")
    assert not storage.exists("models/none.json")


def test_write_read_round_trip(storage: StorageBackend) -> None:
    payload = bytes(range(256)) * 3
    storage.write("a/b/c.bin", payload)
    assert storage.read("a/b/c.bin") == payload
    storage.write("a/b/c.bin", b"")
    data, generation = storage.read_with_generation("a/b/c.bin")
    assert data == b""
    assert isinstance(generation, str)
    assert generation
    assert storage.exists("a/b/c.bin")


def test_create_refuses_existing_key_and_keeps_old_bytes(storage: StorageBackend) -> None:
    generation = storage.create("m/v1.json", b"first")
    assert isinstance(generation, str)
    assert generation
    assert storage.read_with_generation("m/v1.json") == (b"first", generation)
    with pytest.raises(ConflictError):
        storage.create("m/v1.json", b"second")
    assert storage.read("m/v1.json") == b"first"


def test_compare_and_swap_with_right_and_stale_generation(storage: StorageBackend) -> None:
    base = storage.create("state.json", b"0")
    winner = storage.compare_and_swap("state.json", b"1", base)
    assert winner != base
    assert storage.read_with_generation("state.json") == (b"1", winner)
    with pytest.raises(ConflictError):
        storage.compare_and_swap("state.json", b"stale", base)
    assert storage.read_with_generation("state.json") == (b"1", winner)


def test_compare_and_swap_on_deleted_key_conflicts(storage: StorageBackend) -> None:
    generation = storage.create("gone.json", b"x")
    storage.delete("gone.json")
    with pytest.raises((ConflictError, NotFoundError)):
        storage.compare_and_swap("gone.json", b"y", generation)


def test_generation_changes_whenever_the_bytes_change(storage: StorageBackend) -> None:
    seen = {storage.create("g.json", b"v0")}
    for i in range(1, 4):
        storage.write("g.json", f"v{i}".encode())
        seen.add(storage.read_with_generation("g.json")[1])
    _data, current = storage.read_with_generation("g.json")
    seen.add(storage.compare_and_swap("g.json", b"v4", current))
    assert len(seen) == 5


# -- listing and deleting -----------------------------------------------------------------------------------------


def test_list_is_recursive_sorted_and_stays_in_its_folder(storage: StorageBackend) -> None:
    for key in ["a/z.txt", "a/b/c.txt", "a/b/a.txt", "a/m/n/o.txt", "ab/x.txt", "a.txt", "b/y.txt"]:
        storage.write(key, key.encode())
    expected = ["a/b/a.txt", "a/b/c.txt", "a/m/n/o.txt", "a/z.txt"]
    assert storage.list("a") == expected
    assert storage.list("a/") == expected
    assert storage.list("a/b") == ["a/b/a.txt", "a/b/c.txt"]
    assert storage.list("ab") == ["ab/x.txt"]
    assert storage.list("nothing/here") == []
    assert storage.list("") == sorted([*expected, "ab/x.txt", "a.txt", "b/y.txt"])


def test_delete_and_delete_prefix(storage: StorageBackend) -> None:
    for key in ["d/1", "d/e/2", "d/e/f/3", "dd/4", "keep/5"]:
        storage.write(key, b"x")
    storage.delete("d/1")
    storage.delete("d/1")  # a missing key is not an error
    storage.delete("never/there")
    assert not storage.exists("d/1")
    assert storage.list("d") == ["d/e/2", "d/e/f/3"]
    storage.delete_prefix("d")
    assert storage.list("d") == []
    assert storage.list("") == ["dd/4", "keep/5"]
    storage.delete_prefix("d")  # deleting an empty folder again is fine


# -- folders ------------------------------------------------------------------------------------------------------


def test_upload_dir_download_dir_round_trip(storage: StorageBackend, tmp_path: Path) -> None:
    source = tmp_path / "model"
    files = {
        "saved_model.pb": os.urandom(3000),
        "variables/variables.index": b"index",
        "variables/variables.data-00000-of-00001": os.urandom(70_000),
        "assets/deep/vocab.txt": b"a\nb\n",
        "empty.bin": b"",
    }
    for rel, data in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)

    stored = storage.upload_dir(source, "artifacts/m/abc123")

    assert sorted(f.path for f in stored) == sorted(files)
    for item in stored:
        assert item.size == len(files[item.path])
        assert item.sha256 == hashlib.sha256(files[item.path]).hexdigest()
    assert storage.list("artifacts/m/abc123") == sorted(f"artifacts/m/abc123/{rel}" for rel in files)
    assert storage.read("artifacts/m/abc123/variables/variables.index") == b"index"

    target = tmp_path / "download" / "here"
    storage.download_dir("artifacts/m/abc123", target)
    downloaded = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert downloaded == files


def test_upload_and_download_report_a_running_total_that_ends_at_the_size(
    storage: StorageBackend, tmp_path: Path
) -> None:
    source = tmp_path / "model"
    sizes = {"weights.bin": 3 << 20, "variables/part.bin": 1_500_000, "small.txt": 10, "empty.bin": 0}
    for rel, size in sizes.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(os.urandom(size))
    uploaded: list[int] = []
    downloaded: list[int] = []

    storage.upload_dir(source, "artifacts/m/progress", progress=uploaded.append)
    storage.download_dir("artifacts/m/progress", tmp_path / "out", progress=downloaded.append)

    for totals in (uploaded, downloaded):
        assert totals == sorted(totals)
        assert totals[-1] == sum(sizes.values())
        assert len(totals) >= 3  # at least one report per non-empty file, not only the end


def test_download_dir_of_missing_folder_raises_not_found(storage: StorageBackend, tmp_path: Path) -> None:
    storage.write("other/x", b"x")
    with pytest.raises(NotFoundError):
        storage.download_dir("missing/folder", tmp_path / "out")


# -- invalid keys -------------------------------------------------------------------------------------------------

INVALID_KEYS = ["../x", "", "a//b", "a/./b", "a/../b", "/abs", "a\\b", "nul\0"]


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused(storage: StorageBackend, key: str, tmp_path: Path) -> None:
    calls: list[Callable[[], object]] = [
        lambda: storage.read(key),
        lambda: storage.read_with_generation(key),
        lambda: storage.write(key, b"x"),
        lambda: storage.create(key, b"x"),
        lambda: storage.compare_and_swap(key, b"x", "1"),
        lambda: storage.delete(key),
        lambda: storage.uri_for(key),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError):
            call()
    if key:  # "" as a folder means the root, which list() allows
        with pytest.raises(InvalidInputError):
            storage.list(key)
    assert storage.list("") == []


# -- concurrency --------------------------------------------------------------------------------------------------


def test_racing_creates_have_exactly_one_winner(storage_root: str) -> None:
    backends = [open_storage(storage_root) for _ in range(THREADS)]  # one per thread, like separate processes
    winners: list[int] = []
    losers: list[int] = []

    def attempt(i: int) -> None:
        try:
            backends[i].create("models/m/versions/v1.json", f"writer {i}".encode())
        except ConflictError:
            losers.append(i)
        else:
            winners.append(i)

    run_threads(THREADS, attempt)
    assert len(winners) == 1, winners
    assert len(losers) == THREADS - 1
    assert backends[0].read("models/m/versions/v1.json") == f"writer {winners[0]}".encode()


def test_racing_compare_and_swap_increments_lose_no_update(storage_root: str) -> None:
    increments_each = 4
    backends = [open_storage(storage_root) for _ in range(THREADS)]
    backends[0].create("counter", b"0")
    successes = [0] * THREADS

    def increment(i: int) -> None:
        store = backends[i]
        while successes[i] < increments_each:
            data, generation = store.read_with_generation("counter")
            try:
                store.compare_and_swap("counter", str(int(data) + 1).encode(), generation)
            except ConflictError:
                continue  # someone else swapped first: re-read and try again
            successes[i] += 1

    run_threads(THREADS, increment)
    assert int(backends[0].read("counter")) == sum(successes) == THREADS * increments_each


# -- GCS only -----------------------------------------------------------------------------------------------------


@pytest.fixture
def counted(gcs_emulator: GCSEmulator, gcs_bucket: str) -> tuple[GCSStorage, RequestCounter]:
    counter = RequestCounter()
    return GCSStorage(f"gs://{gcs_bucket}/reg", client=make_client(gcs_emulator.url, counter.session)), counter


def test_gcs_request_counts(counted: tuple[GCSStorage, RequestCounter]) -> None:
    storage, counter = counted
    cost: dict[str, int] = {}

    def measure(name: str, call: Callable[[], T]) -> T:
        counter.reset()
        result = call()
        cost[name] = counter.count
        return result

    generation = measure("create", lambda: storage.create("m/state.json", b"{}"))
    data, generation = measure("read_with_generation", lambda: storage.read_with_generation("m/state.json"))
    assert data == b"{}"
    measure("compare_and_swap", lambda: storage.compare_and_swap("m/state.json", b"{1}", generation))
    measure("read", lambda: storage.read("m/state.json"))
    measure("write", lambda: storage.write("m/other.json", b"x"))
    measure("list", lambda: storage.list("m"))
    measure("root_exists", storage.root_exists)
    measure("stale compare_and_swap", lambda: _expect_conflict(storage, "m/state.json", generation))
    assert cost == {
        "create": 1,
        "read_with_generation": 1,
        "compare_and_swap": 1,
        "read": 1,
        "write": 1,
        "list": 1,
        "root_exists": 1,
        "stale compare_and_swap": 2,  # the refused upload, then the check that the winner is not our own write
    }, counter.methods


def _expect_conflict(storage: GCSStorage, key: str, generation: str) -> None:
    with pytest.raises(ConflictError):
        storage.compare_and_swap(key, b"stale", generation)


def test_gcs_generation_comes_from_the_download_response(counted: tuple[GCSStorage, RequestCounter]) -> None:
    storage, _counter = counted
    created = storage.create("k", b"v")
    assert storage.read_with_generation("k") == (b"v", created)
    assert created.isdigit()


def test_gcs_retried_create_and_swap_whose_response_was_lost_succeed(
    gcs_emulator: GCSEmulator, gcs_bucket: str
) -> None:
    session = LossySession()
    storage = GCSStorage(f"gs://{gcs_bucket}", client=make_client(gcs_emulator.url, session))

    # The first upload lands but its response is lost; the SDK retries and gets 412 against our own write.
    session.lose("POST", "/upload/")
    generation = storage.create("doc", b"mine")
    assert session.lost == 1
    assert storage.read_with_generation("doc") == (b"mine", generation)

    session.lose("POST", "/upload/")
    swapped = storage.compare_and_swap("doc", b"next", generation)
    assert session.lost == 2
    assert storage.read_with_generation("doc") == (b"next", swapped)


def test_gcs_retried_swap_that_lost_to_a_rival_still_conflicts(gcs_emulator: GCSEmulator, gcs_bucket: str) -> None:
    session = LossySession()
    storage = GCSStorage(f"gs://{gcs_bucket}", client=make_client(gcs_emulator.url, session))
    base = storage.create("doc", b"1")
    rival = GCSStorage(f"gs://{gcs_bucket}", client=make_client(gcs_emulator.url))
    rival.compare_and_swap("doc", b"2", base)

    # Same bytes as the rival wrote: only the write id can tell that the stored "2" is not ours.
    session.lose("POST", "/upload/")
    with pytest.raises(ConflictError):
        storage.compare_and_swap("doc", b"2", base)
    assert session.lost == 1
    with pytest.raises(ConflictError):
        storage.create("doc", b"2")


def test_gcs_missing_bucket(gcs_emulator: GCSEmulator) -> None:
    storage = open_storage("gs://no-such-bucket-for-registry/reg")
    assert isinstance(storage, GCSStorage)
    assert storage.root_exists() is False
    with pytest.raises(NotFoundError):
        storage.read("x")
    with pytest.raises(RegistryRootNotFoundError):
        storage.write("x", b"x")
    with pytest.raises(RegistryRootNotFoundError):
        storage.create("x", b"x")
    with pytest.raises(RegistryRootNotFoundError):
        storage.list("")
    storage.delete("x")  # nothing to delete is not an error


def test_gcs_root_exists_and_uris(gcs_bucket: str) -> None:
    storage = open_storage(f"gs://{gcs_bucket}/some/prefix/")
    assert storage.uri == f"gs://{gcs_bucket}/some/prefix"
    assert storage.root_exists() is True
    assert storage.uri_for("m/v1.json") == f"gs://{gcs_bucket}/some/prefix/m/v1.json"
    storage.write("m/v1.json", b"x")
    assert open_storage(f"gs://{gcs_bucket}").list("") == ["some/prefix/m/v1.json"]
    assert open_storage(f"gs://{gcs_bucket}/some").list("prefix") == ["prefix/m/v1.json"]


@pytest.mark.parametrize("uri", ["gs://", "gs://UPPER", "gs://b/../x", "gs://bucket/a//b", "gs://x"])
def test_gcs_invalid_uris(uri: str) -> None:
    with pytest.raises(InvalidInputError):
        GCSStorage(uri)


def test_local_root_uris(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "reg"))
    assert storage.root_exists() is False
    storage.write("a", b"x")
    assert storage.root_exists() is True
    assert storage.uri_for("a").startswith("file://")
