"""Worker processes for the reliability tests: run as ``python workers.py <command> <json-args>``.

Each command builds its own ModelRegistry from a root URI (a local folder or ``gs://...``; the GCS emulator is
found through the inherited STORAGE_EMULATOR_HOST), so every worker is a separate client of the store, exactly
like separate pipeline tasks or CLI invocations. Results are printed as one JSON line on stdout.

Commands:
    register  Wait for a start file (a barrier shared by all workers), register some versions, print them.
    promote   Wait for a start file, promote one version to production, print the outcome.
    crash-register  Print READY, then register one version (the test kills the process at some point).
    crash-promote   Print READY, then keep cycling the given versions through production.
    crash-register-loop  Print READY, then register fresh versions one after another, printing each as it commits,
                    until killed (or `count` are done).
    crash-at        Print READY, then register a version, promote one or commit several notes at once, through a
                    storage that SIGKILLs this process at a chosen write (before or after it); print the outcome
                    if the kill never came.
    marker-churn    Wait for a start file, then write and delete keys in one folder; count the failures.
    fault-register  Wait for a start file, register folders in threads through the fault-injecting proxy, print
                    each outcome (ok, a RegistryError, or anything else as "unexpected").
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _registry(root: str) -> Any:
    from registry_core import ModelRegistry, RegistryConfig

    registry = ModelRegistry(RegistryConfig(root=root))
    # Open the connection (and, on GCS, the HTTP session) before the start signal, so that the timed part
    # is the registry operation and not the first TLS/TCP handshake.
    registry.storage.root_exists()
    return registry


def _wait_for(start_file: str, ready_file: str, timeout: float = 60.0) -> None:
    Path(ready_file).write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not os.path.exists(start_file):
        if time.monotonic() > deadline:
            sys.exit("start file never appeared")
        time.sleep(0.002)


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def register(args: dict[str, Any]) -> None:
    registry = _registry(args["root"])
    _wait_for(args["start_file"], args["ready_file"])
    results = []
    for folder in args["folders"]:
        metadata = registry.register_model(args["model"], folder, registered_by=args["user"])
        results.append({"version": metadata.version, "digest": metadata.artifact_digest, "folder": folder})
    _emit({"ok": True, "results": results})


def promote(args: dict[str, Any]) -> None:
    from registry_core import RegistryError

    registry = _registry(args["root"])
    _wait_for(args["start_file"], args["ready_file"])
    try:
        metadata = registry.promote_model(
            args["model"], args["version"], "production", actor=args["user"], reason=f"race {args['version']}"
        )
    except RegistryError as exc:
        _emit({"ok": False, "error": type(exc).__name__, "message": str(exc)})
        return
    _emit({"ok": True, "version": metadata.version, "stage": metadata.stage.value})


def crash_register(args: dict[str, Any]) -> None:
    registry = _registry(args["root"])
    _emit({"ready": True})
    started = time.monotonic()
    metadata = registry.register_model(args["model"], args["folder"], registered_by=args["user"])
    _emit({"ok": True, "version": metadata.version, "seconds": time.monotonic() - started})


def crash_promote(args: dict[str, Any]) -> None:
    """Cycle the given versions through production for `steps` writes (or until killed).

    Each step is one registry write: archived -> development -> validation -> staging, an approval by a reviewer,
    then production (which archives the previous holder). It starts from whatever state a killed predecessor left.
    """
    from registry_core import ModelStage

    registry = _registry(args["root"])
    model, actor = args["model"], args["user"]
    _emit({"ready": True})
    started = time.monotonic()
    steps = 0
    next_stage = {
        ModelStage.ARCHIVED: ModelStage.DEVELOPMENT,
        ModelStage.DEVELOPMENT: ModelStage.VALIDATION,
        ModelStage.VALIDATION: ModelStage.STAGING,
    }
    while steps < args["steps"]:
        for label in args["versions"]:
            approved = False
            while steps < args["steps"]:
                stage = registry.get_model_metadata(model, label).stage
                if stage is ModelStage.PRODUCTION:
                    break
                if stage in next_stage:
                    registry.promote_model(model, label, next_stage[stage], actor=actor)
                elif not approved:
                    registry.approve(model, label, ModelStage.PRODUCTION, approver="reviewer")
                    approved = True
                else:
                    registry.promote_model(model, label, ModelStage.PRODUCTION, actor=actor)
                steps += 1
    _emit({"ok": True, "steps": steps, "seconds": time.monotonic() - started})


def crash_register_loop(args: dict[str, Any]) -> None:
    """Register versions one after another from fresh folders (hard links to the shared files plus a unique file).

    Each committed registration is acknowledged on stdout right away, so the test knows which versions a caller
    was told about before the kill; at most the one in flight when it was killed may be committed without one.
    """
    registry = _registry(args["root"])
    shared = [Path(p) for p in args["files"]]
    work = Path(args["work_dir"])
    _emit({"ready": True})
    for index in range(args.get("count", 1_000_000)):
        folder = work / f"v-{os.getpid()}-{index}"
        folder.mkdir(parents=True)
        for path in shared:
            os.link(path, folder / path.name)
        (folder / "saved_model.json").write_text(json.dumps({"pid": os.getpid(), "index": index}))
        metadata = registry.register_model(args["model"], folder, registered_by=args["user"])
        _emit({"version": metadata.version, "digest": metadata.artifact_digest, "uri": metadata.artifact_uri})


class KillSwitch:
    """A storage backend that SIGKILLs its own process at the `nth` write of `ops` to a key under `prefix`.

    Every other call goes to the real backend unchanged: the kill lands at a known step of the layout's protocol
    (e.g. after the version file is created and before the head's compare-and-swap), like a power cut there.

    Args:
        inner: The real backend.
        ops: Which writes count: "create", "compare_and_swap", "write", "delete".
        prefix: Only keys starting with this count.
        nth: The counted write at which to die (1 = the first).
        when: "before" the write is sent, or "after" it returned.
    """

    def __init__(self, inner: Any, ops: list[str], prefix: str, nth: int, when: str) -> None:
        self.inner, self.ops, self.prefix, self.nth, self.when = inner, set(ops), prefix, nth, when
        self.seen = 0
        self.lock = threading.Lock()  # an eviction writes its state files from several threads

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _counted(self, op: str, key: str, call: Any) -> Any:
        mine = 0
        if op in self.ops and key.startswith(self.prefix):
            with self.lock:
                self.seen += 1
                mine = self.seen
        if mine == self.nth and self.when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = call()
        if mine == self.nth and self.when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def create(self, key: str, data: bytes) -> Any:
        return self._counted("create", key, lambda: self.inner.create(key, data))

    def compare_and_swap(self, key: str, data: bytes, generation: str) -> Any:
        return self._counted("compare_and_swap", key, lambda: self.inner.compare_and_swap(key, data, generation))

    def write(self, key: str, data: bytes, *, durable: bool = True) -> Any:
        return self._counted("write", key, lambda: self.inner.write(key, data, durable=durable))

    def delete(self, key: str, *, durable: bool = True) -> Any:
        return self._counted("delete", key, lambda: self.inner.delete(key, durable=durable))


def crash_at(args: dict[str, Any]) -> None:
    """Do one thing (`action`) through a KillSwitch (`kill`); print its outcome if the kill never came.

    Actions: "register" (`folder`), "promote" (`version` to `stage`, approved by a reviewer where needed), "notes"
    (`count` annotations of `version` committed as one change, so that one write adds `count` history entries).
    """
    from registry_core import ModelRegistry, RegistryConfig
    from registry_core.lifecycle import changes
    from registry_core.storage import open_storage

    kill = args["kill"]
    storage = KillSwitch(open_storage(args["root"]), kill["ops"], kill["prefix"], kill.get("nth", 1), kill["when"])
    registry = ModelRegistry(RegistryConfig(root=args["root"]), storage=storage)
    registry.storage.root_exists()
    model = args["model"]
    _emit({"ready": True})
    if args["action"] == "register":
        metadata = registry.register_model(model, args["folder"], registered_by=args["user"])
        _emit({"ok": True, "version": metadata.version, "digest": metadata.artifact_digest})
    elif args["action"] == "promote":
        approver = "reviewer" if args["stage"] == "production" else None
        label, stage = args["version"], args["stage"]
        metadata = registry.promote_model(model, label, stage, approved_by=approver, actor=args["user"])
        _emit({"ok": True, "version": metadata.version, "stage": metadata.stage.value})
    else:

        def notes(record: Any, count: int) -> Any:
            for index in range(count):
                record = changes.annotate(record, args["version"], {"note": str(index)}, actor=args["user"])
            return record

        registry.commit(model, lambda record: notes(changes.registered(record, model), args["count"]))
        _emit({"ok": True})


def fault_register(args: dict[str, Any]) -> None:
    """Register `folders` in `threads` threads through the fault-injecting proxy; report each outcome.

    A RegistryError is an allowed outcome (reported with its type and message); anything else is reported as
    "unexpected" with its traceback, for the test to fail on.
    """
    import traceback
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: support.fault_proxy, support.gcs_emulator
    from support.fault_proxy import shorten_gcs_retries
    from support.gcs_emulator import make_client

    from registry_core import ModelRegistry, RegistryConfig, RegistryError
    from registry_core.storage.gcs import GCSStorage

    shorten_gcs_retries(**args["retry"])
    storage = GCSStorage(args["root"], client=make_client(args["proxy"]))
    registry = ModelRegistry(RegistryConfig(root=args["root"]), storage=storage)
    _wait_for(args["start_file"], args["ready_file"])

    def one(folder: str) -> dict[str, Any]:
        try:
            metadata = registry.register_model(args["model"], folder, registered_by=args["user"])
        except RegistryError as exc:
            return {"folder": folder, "ok": False, "error": type(exc).__name__, "message": str(exc)}
        except Exception:  # noqa: BLE001 - reported to the test, which fails on it
            return {"folder": folder, "ok": False, "unexpected": traceback.format_exc()}
        return {
            "folder": folder, "ok": True, "version": metadata.version, "digest": metadata.artifact_digest,
            "uri": metadata.artifact_uri,
        }  # fmt: skip

    with ThreadPoolExecutor(args["threads"]) as pool:
        results = list(pool.map(one, args["folders"]))
    _emit({"ok": True, "results": results})


def marker_churn(args: dict[str, Any]) -> None:
    """Write and delete small keys in one folder, as registrations do with their markers; count failures."""
    import uuid

    from registry_core import RegistryError
    from registry_core.storage import open_storage

    storage = open_storage(args["root"])
    _wait_for(args["start_file"], args["ready_file"])
    failures: list[str] = []
    for _ in range(args["count"]):
        key = f"pending/{args['model']}/{uuid.uuid4().hex}.json"
        try:
            storage.write(key, b"{}")
            storage.delete(key)
        except RegistryError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
    _emit({"ok": True, "failures": failures[:5], "failed": len(failures)})


COMMANDS = {
    "register": register,
    "promote": promote,
    "crash-register": crash_register,
    "crash-promote": crash_promote,
    "crash-register-loop": crash_register_loop,
    "crash-at": crash_at,
    "fault-register": fault_register,
    "marker-churn": marker_churn,
}


if __name__ == "__main__":
    COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
