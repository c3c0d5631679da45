"""Guarantee 2 (all or nothing) and 3 (atomic state) under SIGKILL, on every backend.

A worker process registers a version from a folder large enough that the upload takes a moment; the test kills it
at randomised moments spread over the whole registration (upload, version file, head write, marker cleanup) and
checks that what is left is consistent: versions are whole or absent, check(gc=True) removes every leftover, and the
registry keeps working. The same for a worker killed while it promotes versions to production. Then the steps of the
per-version layout one by one: a worker dies (SIGKILL from its own storage calls, so the moment is exact) after its
version file is created and before the head's compare-and-swap, halfway through the state files and after the index
chunk of an eviction, after sealing a history segment, after the head write; nothing half-made is visible, nothing
acknowledged is lost, the next writer proceeds and check(gc=True) removes the rest.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from registry_core import (
    HistoryAction,
    ModelMetadata,
    ModelNotFoundError,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
    VersionNotFoundError,
)
from registry_core.layout import label_of_version_key, versions_folder
from registry_core.loading import CACHE_ENV, artifact_key
from registry_core.model_store import HOT_HIGH, HOT_LOW, SEAL_SIZE, TAIL_HIGH
from registry_core.store import ModelRecord
from registry_core.versioning import version_key

WORKERS = Path(__file__).with_name("workers.py")
PROCESS_TIMEOUT = 60.0

FILES = 40
FILE_SIZE = 256 * 1024
KILL_TRIALS = 8
PROMOTE_TRIALS = 6
LEFTOVER_KINDS = {"leftover_upload", "stale_marker", "temp_file", "orphan_version_file"}


@pytest.fixture(autouse=True)
def _private_download_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Remote artifacts are downloaded once per digest into the cache; keep this test's downloads to itself.
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "download-cache"))


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """FILES random files of FILE_SIZE bytes (10 MiB in all), shared by every trial through hard links."""
    folder = tmp_path_factory.mktemp("big")
    files = []
    for index in range(FILES):
        path = folder / f"shard-{index:03d}.bin"
        path.write_bytes(os.urandom(FILE_SIZE))
        files.append(path)
    return files


def _artifact_folder(root: Path, tag: str, big_files: list[Path]) -> Path:
    """A fresh folder with the big files (hard-linked) plus one small file that makes its digest unique."""
    folder = root / f"artifact-{tag}"
    (folder / "variables").mkdir(parents=True)
    for path in big_files:
        os.link(path, folder / "variables" / path.name)
    (folder / "saved_model.json").write_text(json.dumps({"tag": tag}))
    return folder


def _start(command: str, args: dict[str, Any]) -> subprocess.Popen[str]:
    """Start a worker and wait until it is ready to begin (imports done, client connected)."""
    process = subprocess.Popen(  # noqa: S603 - our own worker script
        [sys.executable, str(WORKERS), command, json.dumps(args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if json.loads(line or "{}").get("ready") is not True:
        _, err = process.communicate(timeout=PROCESS_TIMEOUT)
        pytest.fail(f"worker did not start: {line!r} {err[-3000:]}")
    return process


def _finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    assert process.returncode == 0, f"worker failed ({process.returncode}): {err[-3000:]}"
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _kill_after(process: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL `process` `delay` seconds from now; return True if it had already finished by then.

    The process is reaped before returning: check() treats a zombie's leftovers as those of a live writer.
    """
    time.sleep(delay)
    finished = process.poll() is not None
    if not finished:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=PROCESS_TIMEOUT)
    return finished or process.returncode == 0


def _delays(typical: float, trials: int, rng: random.Random) -> list[float]:
    """One random delay in each of `trials` equal slices of [0, 1.4 * typical]: spread over the whole operation."""
    span = 1.4 * typical
    delays = [span * (i + rng.random()) / trials for i in range(trials)]
    delays[0] = 0.0  # right at the start, before the marker is even written
    return delays


def _full_versions(registry: ModelRegistry, model: str) -> list[ModelMetadata]:
    """Every visible version in full (the listing, then each version read as a fresh reader would)."""
    try:
        return [registry.get_model_metadata(model, row.version) for row in registry.list_versions(model)]
    except ModelNotFoundError:  # the first registration was killed before it committed
        return []


def _assert_all_versions_whole(registry: ModelRegistry, model: str) -> list[str]:
    versions = _full_versions(registry, model)
    for metadata in versions:
        folder = registry.artifact_path(model, metadata.version)  # raises ArtifactIntegrityError if partial
        assert len(metadata.artifact_manifest) == FILES + 1, f"{metadata.version} has a partial manifest"
        assert (folder / "saved_model.json").is_file()
    return [m.version for m in versions]


def _upload_folders(registry: ModelRegistry, model: str) -> set[str]:
    """Every artifact folder of `model` in storage, including empty local folders that no listing shows."""
    prefix = f"artifacts/{model}"
    local = registry.storage.local_path(prefix)
    if local is not None:
        return {f"{prefix}/{child.name}" for child in local.iterdir()} if local.is_dir() else set()
    return {"/".join(key.split("/")[:3]) for key in registry.storage.list(prefix)}


def _assert_gc_cleans_up(registry: ModelRegistry, model: str) -> list[str]:
    """check(gc=True) removes every leftover; afterwards only the folders of registered versions remain."""
    return _assert_gc_cleans_up_all(registry, [model])[model]


def _assert_gc_cleans_up_all(registry: ModelRegistry, models: list[str]) -> dict[str, list[str]]:
    """One check(gc=True) removes every leftover of every model; return the kinds it removed, by model."""
    first = registry.check(gc=True)
    assert all(p.kind in LEFTOVER_KINDS for p in first.problems), first.problems
    assert set(first.removed) == {p.key for p in first.problems}
    second = registry.check()
    assert second.ok, second.problems
    assert not [p for p in second.problems if p.kind in LEFTOVER_KINDS], second.problems
    kinds = {}
    for model in models:
        versions = _full_versions(registry, model)
        assert _upload_folders(registry, model) == {artifact_key(registry.storage, m) for m in versions}
        # Every version file left is a visible version's (a state file is one's too).
        visible = {m.version for m in versions}
        listed = registry.storage.list(versions_folder(model))
        files = {found[1] for key in listed if (found := label_of_version_key(key))}
        assert files <= visible, f"version files of no version: {sorted(files - visible)}"
        kinds[model] = sorted({p.kind for p in first.problems if f"/{model}/" in p.key})
    return kinds


def test_killed_registration_leaves_a_whole_version_or_none(
    storage_root: str, tmp_path: Path, big_files: list[Path]
) -> None:
    model = "crash-reg"
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    rng = random.Random(os.urandom(8))

    def worker_args(tag: str) -> dict[str, Any]:
        folder = _artifact_folder(tmp_path, tag, big_files)
        return {"root": storage_root, "model": model, "folder": str(folder), "user": "trainer"}

    # Measure how long one registration takes here, once, from the "ready" signal to the end.
    timing = _finish(_start("crash-register", worker_args("timing")))
    typical = timing["seconds"]
    known = _assert_all_versions_whole(registry, model)
    assert known == ["v1"]

    log = []
    for trial, delay in enumerate(_delays(typical, KILL_TRIALS, rng)):
        process = _start("crash-register", worker_args(f"trial-{trial}"))
        finished = _kill_after(process, delay)
        versions = _assert_all_versions_whole(registry, model)
        # At most the one version this worker registered appeared; nothing that was there went missing.
        assert set(known) <= set(versions), (known, versions)
        assert len(versions) - len(known) <= 1, (known, versions)
        if finished:
            assert len(versions) == len(known) + 1
        cleaned = _assert_gc_cleans_up(registry, model)
        log.append((round(delay, 3), len(versions) > len(known), cleaned))
        # The registry is still usable: a retry of the interrupted registration succeeds and is whole.
        retried = registry.register_model(model, tmp_path / f"artifact-trial-{trial}", registered_by="trainer")
        known = _assert_all_versions_whole(registry, model)
        assert retried.version == known[-1]
        assert registry.check().ok

    history = registry.history(model)
    assert len([e for e in history if e.action is HistoryAction.REGISTERED]) == len(known)
    # Delay 0 always lands before the commit; the rest spread over upload, commit and cleanup (see the log).
    print(f"registration takes {typical:.3f}s; (delay, committed, leftovers) per kill: {log}")
    assert any(not committed for _, committed, _ in log), log


def _assert_consistent_document(registry: ModelRegistry, model: str) -> int:
    """The model reads whole; at most one version is in production; history, stages and approvals agree.

    Returns how many promotions to production the history records.
    """
    record = _whole_record(registry, model)
    production = [m.version for m in record.versions if m.stage is ModelStage.PRODUCTION]
    assert len(production) <= 1, production
    for metadata in record.versions:
        # Each stage change and approval landed in the same write as its history entry.
        changes = [
            e for e in record.history if e.action is HistoryAction.STAGE_CHANGED and e.version == metadata.version
        ]
        assert [(e.from_stage, e.to_stage) for e in changes] == [
            (c.from_stage, c.to_stage) for c in metadata.stage_history
        ], metadata.version
        approvals = [e for e in record.history if e.action is HistoryAction.APPROVED and e.version == metadata.version]
        assert len(approvals) == len(metadata.approvals), metadata.version
        expected = metadata.stage_history[-1].to_stage if metadata.stage_history else ModelStage.DEVELOPMENT
        assert metadata.stage is expected, metadata.version
    promoted = [
        e.version
        for e in record.history
        if e.action is HistoryAction.STAGE_CHANGED and e.to_stage is ModelStage.PRODUCTION
    ]
    if production:
        assert promoted[-1] == production[0]
    return len(promoted)


def _whole_record(registry: ModelRegistry, model: str) -> ModelRecord:
    """The model with every version in full and its whole history, as a fresh reader finds it."""
    fresh = ModelRegistry(RegistryConfig(root=registry.storage.uri), storage=registry.storage)
    record = fresh.store.full_record(model)
    assert len({e.id for e in record.history}) == len(record.history), "a history entry is there twice"
    return record


def test_killed_promotion_leaves_the_old_or_the_new_document(storage_root: str, tmp_path: Path) -> None:
    model = "crash-promote"
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    rng = random.Random(os.urandom(8))
    labels = []
    for index in range(2):
        (tmp_path / f"model-{index}.txt").write_text(f"candidate {index}")
        labels.append(registry.register_model(model, tmp_path / f"model-{index}.txt", registered_by="trainer").version)

    def worker_args(steps: int) -> dict[str, Any]:
        return {"root": storage_root, "model": model, "versions": labels, "user": "operator", "steps": steps}

    # One full cycle: each version goes to production once (5 writes each, 10 in all).
    timing = _finish(_start("crash-promote", worker_args(10)))
    assert _assert_consistent_document(registry, model) == 2

    outcomes = []
    for delay in _delays(timing["seconds"], PROMOTE_TRIALS, rng):
        before = _assert_consistent_document(registry, model)
        process = _start("crash-promote", worker_args(10_000))
        finished = _kill_after(process, delay)
        assert not finished, "the promotion loop ended before the kill"
        after = _assert_consistent_document(registry, model)
        outcomes.append((round(delay, 3), after - before, _assert_gc_cleans_up(registry, model)))
    # Nothing is stuck (no lock held by a dead writer): the registry still changes stages normally.
    _finish(_start("crash-promote", worker_args(10)))
    assert _assert_consistent_document(registry, model) >= 4
    assert registry.check().ok
    print(f"a promotion cycle takes {timing['seconds']:.3f}s; (delay, promotions, leftovers) per kill: {outcomes}")


# -- many kills at random points: 3 looping registrants and 1 promoter per round, 8 rounds per backend -----------

ROUNDS = 8
REGISTRANTS_PER_ROUND = 3
PROMOTERS_PER_ROUND = 1
MAX_KILL_DELAY = 1.2  # seconds after "ready"; a small registration takes a few tens of milliseconds, so the kills
# land at every phase of one (marker, upload, document write, marker cleanup), several registrations in
LOOP_FILES = 6
LOOP_FILE_SIZE = 48 * 1024


def _start_all(jobs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, subprocess.Popen[str]]]:
    """Start every worker at once (imports overlap), then wait until each one is ready."""
    processes = [
        (
            command,
            subprocess.Popen(  # noqa: S603 - our own worker script
                [sys.executable, str(WORKERS), command, json.dumps(args)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=os.environ.copy(),
            ),
        )
        for command, args in jobs
    ]
    for _, process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        if json.loads(line or "{}").get("ready") is not True:
            for _, other in processes:
                other.kill()
            _, err = process.communicate(timeout=PROCESS_TIMEOUT)
            pytest.fail(f"worker did not start: {line!r} {err[-3000:]}")
    return processes


def _whole_in_storage(registry: ModelRegistry, metadata: Any, seen: dict[str, set[str]]) -> None:
    """The version's artifact folder holds every file of its manifest (cheap: one listing, no download)."""
    key = artifact_key(registry.storage, metadata)
    if key not in seen:
        seen[key] = set(registry.storage.list(key))
    expected = {f"{key}/{entry.path}" for entry in metadata.artifact_manifest}
    assert expected <= seen[key], f"{metadata.version} is visible without all of its artifacts"


def _visible_versions(registry: ModelRegistry, model: str, known: dict[str, ModelMetadata]) -> list[ModelMetadata]:
    """Every visible version: the listing, and each version not read before (what a registration fixed never
    changes, so a version of `known` is not read again: the readers keep up with the registrants)."""
    try:
        listed = registry.list_versions(model)
    except ModelNotFoundError:
        return []
    for row in listed:
        if row.version not in known:
            known[row.version] = registry.get_model_metadata(model, row.version)
    return [known[row.version] for row in listed]


def test_thirty_random_kills_of_registering_and_promoting_workers(storage_root: str, tmp_path: Path) -> None:
    """ROUNDS x (3 registrants + 1 promoter) = 32 kills per backend, with readers watching while they happen."""
    reg_model, promo_model = "crash-many-reg", "crash-many-promote"
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    rng = random.Random(os.urandom(8))
    shared = tmp_path / "shared"
    shared.mkdir()
    files = []
    for index in range(LOOP_FILES):
        path = shared / f"part-{index}.bin"
        path.write_bytes(os.urandom(LOOP_FILE_SIZE))
        files.append(str(path))
    labels = []
    for index in range(2):
        (tmp_path / f"candidate-{index}.txt").write_text(f"candidate {index}")
        labels.append(
            registry.register_model(promo_model, tmp_path / f"candidate-{index}.txt", registered_by="trainer").version
        )

    acknowledged: dict[str, tuple[str, str]] = {}  # version -> (digest, artifact uri) that a worker was told
    whole: dict[str, set[str]] = {}  # artifact folder -> its keys, once seen complete (folders never change)
    known: dict[str, ModelMetadata] = {}  # version -> its metadata, once read (its registered facts never change)
    log = []
    leftovers: list[list[str]] = []  # kinds that gc removed after each round
    kills = 0
    for round_index in range(ROUNDS):
        before = {m.version for m in _visible_versions(registry, reg_model, known)}
        jobs: list[tuple[str, dict[str, Any]]] = [
            (
                "crash-register-loop",
                {
                    "root": storage_root,
                    "model": reg_model,
                    "files": files,
                    "user": f"trainer-{round_index}-{i}",
                    "work_dir": str(tmp_path / "work" / f"{round_index}-{i}"),
                },
            )  # fmt: skip
            for i in range(REGISTRANTS_PER_ROUND)
        ]
        jobs += [
            (
                "crash-promote",
                {"root": storage_root, "model": promo_model, "versions": labels, "user": "operator", "steps": 10_000},
            )
            for _ in range(PROMOTERS_PER_ROUND)
        ]
        processes = _start_all(jobs)
        started = time.monotonic()
        deadlines = sorted(
            ((rng.uniform(0, MAX_KILL_DELAY), index) for index in range(len(processes))), key=lambda d: d[0]
        )
        outputs: dict[int, str] = {}
        for delay, index in deadlines:
            # Until this worker's moment comes, read the registry as any client would: whatever is visible is whole.
            while time.monotonic() - started < delay:
                for metadata in _visible_versions(registry, reg_model, known):
                    _whole_in_storage(registry, metadata, whole)
                _assert_consistent_document(registry, promo_model)
            command, process = processes[index]
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
            process.wait(timeout=PROCESS_TIMEOUT)  # reaped: a zombie would look like a live writer
            # Read through the buffered pipes (communicate() would skip what readline() already buffered).
            assert process.stdout is not None
            assert process.stderr is not None
            out, err = process.stdout.read(), process.stderr.read()
            process.stdout.close()
            process.stderr.close()
            assert process.returncode in (0, -signal.SIGKILL), f"{command} failed ({process.returncode}): {err[-2000:]}"
            outputs[index] = out
            log.append((command.removeprefix("crash-"), round(delay, 2)))

        # What the killed registrants were told is there, exactly; at most one unacknowledged version per registrant.
        acked_now = 0
        for index, out in outputs.items():
            if processes[index][0] != "crash-register-loop":
                continue
            for line in out.strip().splitlines():  # the "ready" line was read at the start
                ack = json.loads(line)
                acknowledged[ack["version"]] = (ack["digest"], ack["uri"])
                acked_now += 1
        versions = {m.version: m for m in _visible_versions(registry, reg_model, known)}
        for label, (digest, uri) in acknowledged.items():
            assert label in versions, f"acknowledged {label} was lost"
            assert (versions[label].artifact_digest, versions[label].artifact_uri) == (digest, uri)
        new = set(versions) - before
        assert acked_now <= len(new) <= acked_now + REGISTRANTS_PER_ROUND, (acked_now, sorted(new))
        assert len({m.artifact_uri for m in versions.values()}) == len(versions), "two versions share an upload"
        for label in sorted(new, key=version_key)[-2:]:  # the newest ones, verified byte for byte
            assert (registry.artifact_path(reg_model, label) / "saved_model.json").is_file()
        registered = [e for e in registry.history(reg_model) if e.action is HistoryAction.REGISTERED]
        assert sorted(e.version for e in registered) == sorted(versions)
        _assert_consistent_document(registry, promo_model)

        # gc removes every leftover of both models, then a retry of the interrupted work succeeds.
        leftovers.append(_assert_gc_cleans_up(registry, reg_model))
        assert _upload_folders(registry, promo_model) == {
            artifact_key(registry.storage, m) for m in _full_versions(registry, promo_model)
        }
        retry_folder = tmp_path / "retries" / str(round_index)
        retry_folder.mkdir(parents=True)
        (retry_folder / "saved_model.json").write_text(json.dumps({"retry": round_index}))
        retried = registry.register_model(reg_model, retry_folder, registered_by="trainer")
        assert registry.get_model_metadata(reg_model).version == retried.version
        assert (registry.artifact_path(reg_model, retried.version) / "saved_model.json").is_file()
        acknowledged[retried.version] = (retried.artifact_digest, retried.artifact_uri)
        assert registry.check().ok

    # Nobody is stuck behind a dead writer: the promotion cycle still completes.
    _finish(_start("crash-promote", {"root": storage_root, "model": promo_model, "versions": labels,
                                     "user": "operator", "steps": 10}))  # fmt: skip
    assert _assert_consistent_document(registry, promo_model) >= 2
    assert registry.check().ok
    assert kills >= 30, f"only {kills} workers were still running when their kill came: {log}"
    # Some kills landed between the marker and the commit (a registrant is killed mid-registration, not between two).
    assert any("stale_marker" in kinds for kinds in leftovers), leftovers
    print(f"{kills} kills; {len(acknowledged)} acknowledged versions; leftovers per round {leftovers}; {log}")


# -- the steps of the per-version layout, one kill each ------------------------------------------------------------

# Where a registration dies: (which storage writes count, under which prefix, at which one, before or after it).
# The model has a full working set and a full tail, so the registration that dies both moves versions out of the
# working set (state files, then an index chunk) and seals history (a segment), all before its head write.
REGISTRATION_KILLS = {
    "after the version file, before the head write": (["create"], "versions/", 1, "after"),
    "halfway through the state files of an eviction": (["create", "compare_and_swap"], "versions/", 11, "after"),
    "after the index chunk of an eviction": (["create", "compare_and_swap"], "index/", 1, "after"),
    "after sealing a history segment": (["create"], "history/", 1, "after"),
    "after the head write, before the marker is removed": (["compare_and_swap"], "heads/", 1, "after"),
}
GROWN = HOT_HIGH  # versions registered first: the working set is full and so is the head's history
assert GROWN == TAIL_HIGH, "one registration past GROWN must both evict and seal"


def _tiny(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "saved_model.json").write_text(json.dumps({"tag": text}))
    (folder / "weights.bin").write_bytes(os.urandom(64))
    return folder


def _grow(registry: ModelRegistry, model: str, count: int, root: Path) -> None:
    for index in range(count):
        registry.register_model(model, _tiny(root / model / f"grown-{index}", f"{model} {index}"), registered_by="t")


def _died(process: subprocess.Popen[str]) -> dict[str, Any] | None:
    """Wait for a crash-at worker; return its outcome if it finished, None if its kill came."""
    out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    if process.returncode == -signal.SIGKILL:
        return None
    assert process.returncode == 0, f"worker failed ({process.returncode}): {err[-3000:]}"
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _snapshot(registry: ModelRegistry, model: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every visible version in full and the history's entry ids, as a fresh reader finds them."""
    record = _whole_record(registry, model)
    return [m.model_dump() for m in record.versions], [e.id for e in record.history]


def test_a_registration_killed_at_each_step_of_the_layout(storage_root: str, tmp_path: Path) -> None:
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    models = {point: f"kill-{index}" for index, point in enumerate(REGISTRATION_KILLS)}
    for model in models.values():
        _grow(registry, model, GROWN, tmp_path)
    before = {model: _snapshot(registry, model) for model in models.values()}
    head = registry.store.head(models["after sealing a history segment"])
    assert head is not None
    assert (len(head.hot), len(head.tail), head.segments, head.frozen_upto) == (HOT_HIGH, TAIL_HIGH, 0, 0)

    jobs = [
        (
            "crash-at",
            {
                "root": storage_root,
                "model": models[point],
                "user": "trainer",
                "action": "register",
                "folder": str(_tiny(tmp_path / "killed" / models[point], f"killed at {point}")),
                "kill": {"ops": ops, "prefix": prefix, "nth": nth, "when": when},
            },
        )  # fmt: skip
        for point, (ops, prefix, nth, when) in REGISTRATION_KILLS.items()
    ]
    for (_, process), point in zip(_start_all(jobs), REGISTRATION_KILLS, strict=True):
        assert _died(process) is None, f"the worker to be killed {point} finished"

    for point, model in models.items():
        versions, history = before[model]
        committed = point.startswith("after the head write")
        now_versions, now_history = _snapshot(registry, model)
        # Nothing half-made is visible: the killed version is there whole (its head write landed) or not at all,
        # and every version that was there reads exactly as before (those an eviction was moving out included).
        assert now_versions[:GROWN] == versions, point
        assert now_history[: len(history)] == history, point
        assert len(now_versions) == GROWN + committed, point
        if not committed:
            with pytest.raises(VersionNotFoundError):
                registry.get_model_metadata(model, f"v{GROWN + 1}")
        newest = now_versions[-1]["version"]
        assert (registry.artifact_path(model, newest) / "saved_model.json").is_file()

        # The next writer proceeds (before anyone runs gc): its registration evicts and seals as the killed one would.
        nxt = registry.register_model(model, _tiny(tmp_path / "next" / model, f"next of {point}"), registered_by="t")
        head = registry.store.head(model)
        assert head is not None
        assert (head.segments, head.frozen_upto) == (1, HOT_HIGH + 1 - HOT_LOW), point
        after_versions, after_history = _snapshot(registry, model)
        assert after_versions[: len(now_versions)] == now_versions, point
        assert [v["version"] for v in after_versions][-1] == nxt.version
        assert after_history[: len(now_history)] == now_history
        assert len(after_history) == len(now_history) + 1
        assert len(registry.history(model)) == len(after_history)

    # check(gc=True) removes what the killed writers left (markers, uploads, version files of no version).
    kinds = {
        point: found
        for point, found in zip(models, _assert_gc_cleans_up_all(registry, [*models.values()]).values(), strict=True)
    }
    assert kinds["after the version file, before the head write"] == [
        "leftover_upload",
        "orphan_version_file",
        "stale_marker",
    ], kinds
    assert kinds["after the head write, before the marker is removed"] == ["stale_marker"], kinds
    for model in models.values():  # and registering goes on
        registry.register_model(model, _tiny(tmp_path / "after-gc" / model, "after gc"), registered_by="t")
    assert registry.check().ok
    print(f"leftovers removed by gc per kill point: {kinds}")


def test_a_write_adding_many_entries_to_a_short_tail_leaves_no_segment_a_later_writer_contradicts(
    storage_root: str, tmp_path: Path
) -> None:
    """One change adds 12 entries to a tail of 29 and its writer dies right after sealing, if it seals anything.

    A segment holding entries that never committed would differ from the one the next writers seal, and every later
    write of the model would fail: the writer may only seal entries the head already held.
    """
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    model = "many-entries"
    _grow(registry, model, 1, tmp_path)
    while len(registry.store.head(model).tail) < SEAL_SIZE - 1:  # type: ignore[union-attr]
        registry.annotate(model, "v1", {"pad": "x"}, actor="t")
    before = [e.id for e in registry.history(model)]
    process = _start("crash-at", {
        "root": storage_root, "model": model, "user": "t", "action": "notes", "version": "v1", "count": 12,
        "kill": {"ops": ["create"], "prefix": "history/", "nth": 1, "when": "after"},
    })  # fmt: skip
    outcome = _died(process)
    added = 12 if outcome is not None else 0
    for index in range(TAIL_HIGH):  # enough single writes to seal the tail, twice over
        registry.annotate(model, "v1", {"after": str(index)}, actor="t")
    history = [e.id for e in _whole_record(registry, model).history]
    assert history[: len(before)] == before
    assert len(history) == len(before) + added + TAIL_HIGH
    assert registry.store.head(model).segments >= 1  # type: ignore[union-attr]
    assert registry.check().ok


def test_an_older_version_promoted_by_a_writer_killed_in_its_eviction(storage_root: str, tmp_path: Path) -> None:
    """Promoting a version that left the working set brings it back; the eviction that follows is killed midway."""
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    model = "kill-promote"
    _grow(registry, model, HOT_HIGH + 1 + (HOT_HIGH - HOT_LOW), tmp_path)  # evicted once, working set full again
    head = registry.store.head(model)
    assert head is not None
    assert len(head.hot) == HOT_HIGH
    assert "v1" not in head.hot
    versions, history = _snapshot(registry, model)
    process = _start("crash-at", {
        "root": storage_root, "model": model, "user": "operator", "action": "promote", "version": "v1",
        "stage": "validation", "kill": {"ops": ["create", "compare_and_swap"], "prefix": "index/", "nth": 1,
                                        "when": "after"},
    })  # fmt: skip
    assert _died(process) is None
    assert _snapshot(registry, model) == (versions, history)
    assert registry.get_model_metadata(model, "v1").stage is ModelStage.DEVELOPMENT
    # The next writer does the same promotion; the version files, state files and index agree afterwards.
    promoted = registry.promote_model(model, "v1", ModelStage.VALIDATION, actor="operator")
    assert promoted.stage is ModelStage.VALIDATION
    after_versions, after_history = _snapshot(registry, model)
    assert [v["stage"] for v in after_versions][1:] == [v["stage"] for v in versions][1:]
    assert after_history[:-1] == history
    assert {row.version: row.stage for row in registry.list_versions(model)}["v1"] is ModelStage.VALIDATION
    _assert_gc_cleans_up(registry, model)
    assert registry.check().ok


def test_a_label_taken_again_after_gc_reads_as_the_new_version(storage_root: str, tmp_path: Path) -> None:
    """gc removes the version file of a killed registration; its label goes to the next one.

    A long-lived registry object (a notebook, the web UI) that had read the dead file, e.g. in check, must then read
    the version that holds the label, not remember the dead file's artifacts.
    """
    registry = ModelRegistry(RegistryConfig(root=storage_root))
    model = "label-again"
    _grow(registry, model, 1, tmp_path)
    process = _start("crash-at", {
        "root": storage_root, "model": model, "user": "t", "action": "register",
        "folder": str(_tiny(tmp_path / "dead", "dead")),
        "kill": {"ops": ["create"], "prefix": "versions/", "nth": 1, "when": "after"},
    })  # fmt: skip
    assert _died(process) is None
    assert "orphan_version_file" in _assert_gc_cleans_up(registry, model)
    other = ModelRegistry(RegistryConfig(root=storage_root))
    taken = other.register_model(model, _tiny(tmp_path / "next", "next"), registered_by="t")
    assert taken.version == "v2"
    found = registry.get_model_metadata(model, "v2")
    assert (found.artifact_uri, found.artifact_digest) == (taken.artifact_uri, taken.artifact_digest)
    assert (registry.artifact_path(model, "v2") / "saved_model.json").is_file()
