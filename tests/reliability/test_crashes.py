"""Guarantee 2 (all or nothing) and 3 (atomic state) under SIGKILL, on every backend.

A worker process registers a version from a folder large enough that the upload takes a moment; the test kills it
at randomised moments spread over the whole registration (upload, document write, marker cleanup) and checks
that what is left is consistent: versions are whole or absent, check(gc=True) removes every leftover, and the
registry keeps working. The same for a worker killed while it promotes versions to production.
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
    ModelNotFoundError,
    ModelRegistry,
    ModelStage,
    RegistryConfig,
)
from registry_core.layout import MODELS
from registry_core.loading import CACHE_ENV, artifact_key
from registry_core.store import parse_record
from registry_core.versioning import version_key

WORKERS = Path(__file__).with_name("workers.py")
PROCESS_TIMEOUT = 60.0

FILES = 40
FILE_SIZE = 256 * 1024
KILL_TRIALS = 8
PROMOTE_TRIALS = 6
LEFTOVER_KINDS = {"leftover_upload", "stale_marker", "temp_file"}


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


def _assert_all_versions_whole(registry: ModelRegistry, model: str) -> list[str]:
    try:
        versions = registry.list_versions(model)
    except ModelNotFoundError:  # the first registration was killed before it committed
        return []
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
    first = registry.check(gc=True)
    assert all(p.kind in LEFTOVER_KINDS for p in first.problems), first.problems
    assert set(first.removed) == {p.key for p in first.problems}
    second = registry.check()
    assert second.ok, second.problems
    assert not [p for p in second.problems if p.kind in LEFTOVER_KINDS], second.problems
    try:
        referenced = {artifact_key(registry.storage, m) for m in registry.list_versions(model)}
    except ModelNotFoundError:
        referenced = set()
    assert _upload_folders(registry, model) == referenced
    return sorted({p.kind for p in first.problems})


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
    """The model document parses; at most one version is in production; history, stages and approvals agree.

    Returns how many promotions to production the history records.
    """
    record = parse_record(registry.storage.read(MODELS.key(model)), MODELS.key(model))
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


def _visible_versions(registry: ModelRegistry, model: str) -> list[Any]:
    try:
        return registry.list_versions(model)
    except ModelNotFoundError:
        return []


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
    log = []
    leftovers: list[list[str]] = []  # kinds that gc removed after each round
    kills = 0
    for round_index in range(ROUNDS):
        before = {m.version for m in _visible_versions(registry, reg_model)}
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
                for metadata in _visible_versions(registry, reg_model):
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
        versions = {m.version: m for m in _visible_versions(registry, reg_model)}
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
            artifact_key(registry.storage, m) for m in registry.list_versions(promo_model)
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
