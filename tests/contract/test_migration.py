"""`model-registry migrate` on a registry written by the one-document layout (tests/testdata/legacy-registry).

The registry was written by the release before the per-version layout (see tests/testdata/make_legacy_registry.py):
it is read as it is until migrated, `migrate` converts it so that every read answers exactly as before, running it
again changes nothing, an interrupted migration completes when run again, and a model's first change migrates it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from registry_core import CorruptRecordError, ModelRegistry, ModelStage, RegistryConfig
from registry_core.errors import ConflictError, ModelNotFoundError, RegistryError
from registry_core.lifecycle import promotion
from registry_core.lifecycle.approvals import ApprovalPolicy
from registry_core.model_store import SEAL_SIZE
from registry_core.storage import StorageBackend, open_storage
from registry_core.store import MetadataStore
from registry_core.versioning import version_key

LEGACY = Path(__file__).parents[1] / "testdata" / "legacy-registry"
BIN = Path(sys.executable).parent / "model-registry"
MODELS = ["churn", "fraud", "ranker"]
STAGES = list(ModelStage)
S = ModelStage


def raw(name: str) -> dict[str, Any]:
    """A model's old document as plain JSON, read without this library."""
    return json.loads((LEGACY / "models" / f"{name}.json").read_text())


def upload_legacy(root: str) -> StorageBackend:
    """Put the legacy registry at `root` through the storage backend (a local folder or a GCS prefix)."""
    storage = open_storage(root)
    for path in sorted(LEGACY.rglob("*")):
        if path.is_file():
            storage.write(path.relative_to(LEGACY).as_posix(), path.read_bytes(), durable=False)
    return storage


@pytest.fixture
def legacy_root(storage_root: str) -> str:
    upload_legacy(storage_root)
    return storage_root


def open_registry(root: str, storage: StorageBackend | None = None) -> ModelRegistry:
    """A new registry object (no parse cached from an earlier read), as a new process has."""
    return ModelRegistry(RegistryConfig(root=root), storage=storage)


def contents(storage: StorageBackend) -> dict[str, str]:
    """Every key of the registry with a digest of its bytes."""
    return {key: hashlib.sha256(storage.read(key)).hexdigest() for key in storage.list("")}


def cli(root: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as users type it."""
    return subprocess.run(  # noqa: S603 - our own console script
        [str(BIN), "--registry", root, *args], capture_output=True, text=True, timeout=120, check=False
    )


def dumped(registry: ModelRegistry, document: Any) -> Any:
    """A document as JSON, with artifact locations relative to the registry's root (as stored)."""
    return document.model_dump(mode="json", context=registry.store.context)


def resolved(registry: ModelRegistry, name: str, stage: ModelStage) -> str:
    try:
        return registry.get_model_metadata(name, stage=stage).version
    except RegistryError as exc:
        return f"{type(exc).__name__}: {exc}"


def reads(registry: ModelRegistry) -> dict[str, Any]:
    """What every read of the registry answers, as JSON: listings, each version in full, each stage, the latest
    version, the history, the stage holders and endpoint splits at every moment of the history, pending requests,
    rollback candidates, endpoints."""
    answers: dict[str, Any] = {"models": registry.list_models()}
    for name in answers["models"]:
        rows = registry.list_versions(name)
        history = registry.history(name)
        moments = [history[0].at - timedelta(seconds=1), *(entry.at for entry in history)]
        answers[name] = {
            "listing": [row.model_dump(mode="json") for row in rows],
            "versions": {row.version: dumped(registry, registry.get_model_metadata(name, row.version)) for row in rows},
            "latest": registry.get_model_metadata(name).version,
            "stages": {stage.value: resolved(registry, name, stage) for stage in STAGES},
            "history": [entry.model_dump(mode="json") for entry in history],
            "as_of": [registry.as_of(name, moment).model_dump(mode="json") for moment in moments],
            "pending": [(m.version, r.model_dump(mode="json")) for m, r in registry.pending_requests(name)],
            "rollback_candidates": registry.rollback_candidates(name),
        }
    answers["endpoints"] = [dumped(registry, record) for record in registry.list_endpoints()]
    return answers


def whole_records(registry: ModelRegistry) -> dict[str, Any]:
    """Every model with every version in full and its whole history (fewer requests than `reads`)."""
    return {name: dumped(registry, registry.store.full_record(name)) for name in registry.list_models()}


@pytest.fixture(scope="module")
def legacy_copy(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local copy of the legacy registry that no test changes (reads of the old layout write nothing)."""
    root = str(tmp_path_factory.mktemp("legacy") / "registry")
    upload_legacy(root)
    return root


@pytest.fixture(scope="module")
def expected(legacy_copy: str) -> dict[str, Any]:
    """What every read of the legacy registry answers, read once by the one-document code path."""
    return reads(open_registry(legacy_copy))


@pytest.fixture(scope="module")
def whole(legacy_copy: str) -> dict[str, Any]:
    """Every model of the legacy registry in full (`whole_records`)."""
    return whole_records(open_registry(legacy_copy))


# ------------------------------------------------------------------------------------------------ before migration


def test_the_old_layout_reads_as_the_old_release_wrote_it(legacy_root: str, expected: dict[str, Any]) -> None:
    storage = open_storage(legacy_root)
    before = contents(storage)
    registry = open_registry(legacy_root)

    assert registry.list_models() == MODELS
    for name in MODELS:
        document = raw(name)
        labels = sorted((v["version"] for v in document["versions"]), key=version_key)
        rows = registry.list_versions(name)
        assert [row.version for row in rows] == labels
        for version in document["versions"]:
            metadata = registry.get_model_metadata(name, version["version"])
            assert dumped(registry, metadata) == version
        assert [entry.model_dump(mode="json") for entry in registry.history(name)] == document["history"]
    churn = {row.version: row for row in registry.list_versions("churn")}
    assert churn["v18"].metrics.as_dict()["holdout_recall"] == 0.66  # added after registration, in the listing too
    assert churn["v1"].registered_by == "alice"
    production = registry.get_model_metadata("churn", stage="production")
    assert production.version == "v8"
    assert {a.approver for a in production.approvals} == {"bob"}
    assert production.registered_by == "alice"
    stages = {stage: resolved(registry, "churn", stage) for stage in STAGES}
    assert stages == {S.DEVELOPMENT: "v64", S.VALIDATION: "v20", S.STAGING: "v60", S.PRODUCTION: "v8",
                      S.ARCHIVED: "v30"}  # fmt: skip
    assert resolved(registry, "fraud", S.VALIDATION) == "v2.1.0"  # the highest label there, not the newest
    assert registry.get_model_metadata("fraud").version == "v2.1.1"
    assert [(m.version, r.requested_by) for m, r in registry.pending_requests("churn")] == [("v25", "carol")]
    assert registry.rollback_candidates("churn")[0] == "v3"

    history = registry.history("churn")
    rolled_back = next(e for e in history if e.action.value == "rolled_back")
    assert registry.as_of("churn", rolled_back.at).stages == {S.PRODUCTION: ["v8"]}
    assert registry.as_of("churn", history[-1].at).stages == {S.PRODUCTION: ["v8"], S.STAGING: ["v22", "v25", "v60"]}
    first_deploy, canary = [e for e in registry.get_endpoint("churn-online").history if e.action == "deployed"]
    assert registry.as_of("churn", first_deploy.at).endpoints == {"churn-online": {"v3": 100}}
    assert registry.as_of("churn", canary.at).endpoints == {"churn-online": {"v3": 80, "v8": 20}}
    assert registry.as_of("churn", history[0].at - timedelta(seconds=1)).stages == {}

    folder = registry.artifact_path("churn", "v3")  # a SavedModel, verified against its manifest
    assert (folder / "saved_model.pb").is_file()
    loaded, metadata = registry.load_model("churn", stage="staging")
    assert metadata.version == "v60"
    assert (loaded / "model.json").is_file()
    report = registry.check(deep=True)
    assert report.ok, report.problems
    assert (report.models_checked, report.versions_checked, report.endpoints_checked) == (3, 93, 1)

    assert reads(registry) == expected  # the same on either backend
    assert contents(storage) == before  # reading converts nothing
    assert storage.list("heads/") == []


# ------------------------------------------------------------------------------------------------ migration


def test_migrate_converts_every_model_and_every_read_answers_as_before(
    legacy_root: str, expected: dict[str, Any]
) -> None:
    result = cli(legacy_root, "migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"migrated {name}" for name in MODELS]

    storage = open_storage(legacy_root)
    assert storage.list("models/") == []
    assert storage.list("heads/") == [f"heads/{name}.json" for name in MODELS]
    for name in MODELS:
        document = raw(name)
        head = open_registry(legacy_root).store.head(name)
        assert head is not None
        states = {key.rsplit("/", 1)[1].removesuffix(".state.json") for key in storage.list(f"versions/{name}/")
                  if key.endswith(".state.json")}  # fmt: skip
        rows = {label for key in storage.list(f"index/{name}/") for label in json.loads(storage.read(key))["rows"]}
        labels = {v["version"] for v in document["versions"]}
        assert len(storage.list(f"versions/{name}/")) == len(labels) + len(states)
        assert states == rows  # every version outside the working set has its state file and its listing row
        assert states | head.hot.keys() == labels
        assert not states & head.hot.keys()
        assert len(storage.list(f"history/{name}/")) == len(document["history"]) // SEAL_SIZE == head.segments
        assert len(head.tail) == len(document["history"]) % SEAL_SIZE
    churn = open_registry(legacy_root).store.head("churn")
    assert churn is not None
    assert len(churn.hot) < 30 < len(raw("churn")["versions"])
    assert storage.list("history/ranker/") == []
    assert storage.list("index/ranker/") == []

    registry = open_registry(legacy_root)
    assert reads(registry) == expected
    report = registry.check(deep=True)
    assert report.ok, report.problems
    assert (report.models_checked, report.versions_checked, report.endpoints_checked) == (3, 93, 1)
    assert registry.artifact_path("churn", "v3").joinpath("saved_model.pb").is_file()


def test_migrate_again_does_nothing(legacy_root: str) -> None:
    assert cli(legacy_root, "migrate").returncode == 0
    storage = open_storage(legacy_root)
    migrated = contents(storage)

    again = cli(legacy_root, "migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "nothing to migrate"
    assert json.loads(cli(legacy_root, "--json", "migrate", "churn").stdout) == {"migrated": []}
    assert contents(storage) == migrated


def test_migrate_names_only_the_models_given(legacy_root: str, expected: dict[str, Any]) -> None:
    result = cli(legacy_root, "migrate", "fraud")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "migrated fraud"
    storage = open_storage(legacy_root)
    assert storage.list("heads/") == ["heads/fraud.json"]
    assert storage.list("models/") == ["models/churn.json", "models/ranker.json"]
    assert reads(open_registry(legacy_root)) == expected  # one model converted, two not: all read the same

    unknown = cli(legacy_root, "migrate", "no-such-model")
    assert unknown.returncode == ModelNotFoundError.exit_code
    assert unknown.stderr.strip() == "error: model 'no-such-model' is not registered"
    assert storage.list("heads/") == ["heads/fraud.json"]


# ------------------------------------------------------------------------------------------------ interruptions


class Interrupted(BaseException):
    """What stops the migrating process at a write (like Ctrl-C's KeyboardInterrupt, nothing catches it)."""


def interrupting_storage(
    root: str, writes: int = 10**9, *, before: Callable[[str], bool] = lambda key: False
) -> StorageBackend:
    """The backend of `root`, which lets `writes` writes land and then stops the process at the next one (or at
    the first write of a key that `before` accepts).

    A test double of the storage, not of the code under test: every write that lands is a real write.
    """
    backend = type(open_storage(root))

    class Interrupting(backend):  # type: ignore[valid-type, misc]
        landed: list[str]
        refused: list[str]

        def _landing(self, key: str, write: Callable[[], Any]) -> Any:
            if len(self.landed) >= writes or before(key):
                raise Interrupted(key)
            try:
                answer = write()
            except ConflictError:
                self.refused.append(key)
                raise
            self.landed.append(key)
            return answer

        def write(self, key: str, data: bytes, *, durable: bool = True) -> None:
            self._landing(key, lambda: super(Interrupting, self).write(key, data, durable=durable))

        def create(self, key: str, data: bytes) -> str:
            return self._landing(key, lambda: super(Interrupting, self).create(key, data))

        def compare_and_swap(self, key: str, data: bytes, generation: str) -> str:
            return self._landing(key, lambda: super(Interrupting, self).compare_and_swap(key, data, generation))

        def delete(self, key: str) -> None:
            self._landing(key, lambda: super(Interrupting, self).delete(key))

    storage = Interrupting(root)
    storage.landed, storage.refused = [], []
    return storage


def kind_of(key: str) -> tuple[str, ...]:
    """What a write of the migration writes: (folder, model[, "state"]), e.g. ("versions", "churn", "state")."""
    folder, model = key.split("/")[:2]
    return (folder, model.removesuffix(".json"), *(("state",) if key.endswith(".state.json") else ()))


def test_an_interrupted_migration_completes_when_run_again(
    storage_root: str, expected: dict[str, Any], whole: dict[str, Any]
) -> None:
    reference_root = f"{storage_root}-reference"
    upload_legacy(reference_root)
    recording = interrupting_storage(reference_root)
    open_registry(reference_root, recording).migrate()
    sequence = recording.landed  # every write of a migration, in order (version files, states, index, segments...)
    migrated = contents(open_storage(reference_root))

    # Stop before the first write of each kind of file of each model, before the last write, and (locally) often.
    firsts = [i for i, key in enumerate(sequence) if i == 0 or kind_of(key) != kind_of(sequence[i - 1])]
    every = len(sequence) if storage_root.startswith("gs://") else 7
    stops = sorted({*firsts, len(sequence) - 1, *range(0, len(sequence), every)})
    assert {kind_of(sequence[i])[0] for i in firsts} == {"versions", "index", "history", "heads", "models"}

    upload_legacy(storage_root)
    landed = 0
    for stop in stops:
        storage = interrupting_storage(storage_root, writes=stop - landed)
        with pytest.raises(Interrupted) as interrupted:
            open_registry(storage_root, storage).migrate()
        assert str(interrupted.value) == sequence[stop]  # a rerun goes on where the last run stopped...
        assert storage.refused == []  # ...and tries to write nothing that is there
        landed = stop
        if stop in firsts:
            assert whole_records(open_registry(storage_root)) == whole  # whatever was interrupted reads the same
        if sequence[stop].startswith("heads/"):  # every file of the model written but its head: nothing to repair
            report = open_registry(storage_root).check(gc=True)
            assert report.ok, report.problems
            assert report.removed == []
    assert open_registry(storage_root).migrate() == MODELS[-1:]

    assert contents(open_storage(storage_root)) == migrated
    assert reads(open_registry(storage_root)) == expected
    assert open_registry(storage_root).migrate() == []


def migrate_until(root: Path, kill_when: str) -> subprocess.Popen[str] | None:
    """Start `model-registry migrate` on a fresh copy of the legacy registry at `root` and SIGKILL it as soon as
    `kill_when` exists; return the killed process, or None if it finished first (a busy machine was too slow)."""
    shutil.rmtree(root, ignore_errors=True)
    upload_legacy(str(root))
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(BIN), "--registry", str(root), "migrate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not (root / kill_when).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0002)
    os.kill(process.pid, signal.SIGKILL)
    _, err = process.communicate(timeout=30)
    if process.returncode == 0:
        return None
    assert process.returncode == -signal.SIGKILL, err
    return process


@pytest.mark.parametrize("kill_when", ["versions/churn/v20.json", "heads/churn.json"])
def test_a_killed_migrate_command_completes_when_run_again(
    tmp_path: Path, kill_when: str, expected: dict[str, Any], whole: dict[str, Any]
) -> None:
    reference_root = str(tmp_path / "reference")
    upload_legacy(reference_root)
    open_registry(reference_root).migrate()
    root = tmp_path / "registry"
    assert any(migrate_until(root, kill_when) for _ in range(5)), "migrate finished before every kill"
    assert (root / kill_when).exists()
    assert (root / "models" / "fraud.json").exists()  # killed part way
    assert whole_records(open_registry(str(root))) == whole

    result = cli(str(root), "migrate")
    assert result.returncode == 0, result.stderr
    assert "migrated fraud" in result.stdout.splitlines()
    assert contents(open_storage(str(root))) == contents(open_storage(reference_root))
    assert reads(open_registry(str(root))) == expected


# ------------------------------------------------------------------------------------------------ first changes


def test_the_first_promotion_of_an_old_model_migrates_it_and_promotes(
    legacy_root: str, expected: dict[str, Any]
) -> None:
    registry = open_registry(legacy_root)
    registry.promote_model("churn", "v60", "production", approved_by="bob", actor="carol", reason="weekly")

    storage = open_storage(legacy_root)
    assert storage.list("heads/") == ["heads/churn.json"]
    assert storage.list("models/") == ["models/fraud.json", "models/ranker.json"]
    after = reads(open_registry(legacy_root))
    churn, before = after["churn"], expected["churn"]
    assert churn["stages"] == before["stages"] | {"production": "v60", "staging": "v25"}  # archived: still v30
    changed = {"v8", "v60"}
    assert {k: v for k, v in churn["versions"].items() if k not in changed} == {
        k: v for k, v in before["versions"].items() if k not in changed
    }
    assert churn["versions"]["v60"]["approvals"][-1]["approver"] == "bob"
    assert churn["versions"]["v60"]["stage_history"][:-1] == before["versions"]["v60"]["stage_history"]
    assert churn["versions"]["v8"]["stage_history"][:-1] == before["versions"]["v8"]["stage_history"]
    assert churn["history"][: len(before["history"])] == before["history"]
    added = [(e["action"], e["version"], e["to_stage"], e["actor"]) for e in churn["history"][len(before["history"]) :]]
    assert sorted(added) == [
        ("approved", "v60", "production", "bob"),
        ("stage_changed", "v60", "production", "carol"),
        ("stage_changed", "v8", "archived", "carol"),
    ]
    assert churn["rollback_candidates"][0] == "v8"
    assert {k: v for k, v in after.items() if k != "churn"} == {k: v for k, v in expected.items() if k != "churn"}
    assert registry.check().ok


def test_the_first_registration_of_an_old_model_migrates_it_and_registers(
    legacy_root: str, expected: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "new-model"
    folder.mkdir()
    (folder / "model.json").write_text('{"new": true}')
    registry = open_registry(legacy_root)
    new = registry.register_model("fraud", folder, bump="patch", registered_by="alice")
    assert new.version == "v2.1.2"

    assert open_storage(legacy_root).list("heads/") == ["heads/fraud.json"]
    fraud, before = reads(open_registry(legacy_root))["fraud"], expected["fraud"]
    assert fraud["listing"][:-1] == before["listing"]
    assert fraud["listing"][-1]["version"] == "v2.1.2"
    assert {k: v for k, v in fraud["versions"].items() if k != "v2.1.2"} == before["versions"]
    assert fraud["stages"] == before["stages"] | {"development": "v2.1.2"}
    assert fraud["latest"] == "v2.1.2"
    assert fraud["history"][:-1] == before["history"]
    assert open_registry(legacy_root).check(deep=True).ok


def test_a_migration_interrupted_then_changed_by_an_old_release_converts_the_change(
    storage_root: str, expected: dict[str, Any]
) -> None:
    """A client of the old release may still write the old document between an interrupted migration and its rerun."""
    upload_legacy(storage_root)
    sealing = interrupting_storage(storage_root, before=lambda key: key.startswith("history/"))
    with pytest.raises(Interrupted):  # stopped once churn's state files and index are written, before its head
        open_registry(storage_root, sealing).migrate(["churn"])
    storage = open_storage(storage_root)
    assert storage.list("heads/") == []
    assert storage.exists("versions/churn/v1.state.json")
    assert storage.list("index/churn/") == ["index/churn/000000.json"]

    def old_release_archives(record: Any) -> Any:  # `model-registry archive churn v1` of that release: this change
        # of the old document, written back to it
        policy = ApprovalPolicy(frozenset({S.PRODUCTION}), four_eyes=True)
        return promotion.promote(record, label="v1", target=S.ARCHIVED, actor="carol", reason="old", policy=policy)

    MetadataStore(storage).update("churn", old_release_archives)
    assert resolved(open_registry(storage_root), "churn", S.ARCHIVED) == "v30"
    assert open_registry(storage_root).get_model_metadata("churn", "v1").stage is S.ARCHIVED

    assert open_registry(storage_root).migrate() == MODELS
    registry = open_registry(storage_root)
    assert registry.get_model_metadata("churn", "v1").stage is S.ARCHIVED
    assert next(row for row in registry.list_versions("churn") if row.version == "v1").stage is S.ARCHIVED
    assert registry.check().ok
    assert reads(registry)["churn"]["versions"]["v2"] == expected["churn"]["versions"]["v2"]


def test_an_old_document_written_after_the_conversion_is_reported_and_kept(legacy_root: str) -> None:
    """A client of the earlier release that still writes `models/<name>.json` after the conversion loses nothing."""
    pristine = open_storage(legacy_root).read("models/churn.json")
    assert open_registry(legacy_root).migrate() == MODELS
    storage = open_storage(legacy_root)

    def old_release_archives(record: Any) -> Any:  # that client's `archive churn v1`, on its own document
        policy = ApprovalPolicy(frozenset({S.PRODUCTION}), four_eyes=True)
        return promotion.promote(record, label="v1", target=S.ARCHIVED, actor="carol", reason="old", policy=policy)

    storage.write("models/churn.json", pristine)
    MetadataStore(storage).update("churn", old_release_archives)
    changed = storage.read("models/churn.json")

    report = open_registry(legacy_root).check()
    assert [(p.kind, p.key) for p in report.problems] == [("invalid_record", "models/churn.json")]
    assert "holds changes its head lacks" in report.problems[0].message
    result = cli(legacy_root, "migrate")
    assert result.returncode != 0
    assert result.stderr.startswith("error: could not convert 1 model(s) (churn: model 'churn' is in both layouts")
    assert len(result.stderr.strip().splitlines()) == 1
    assert storage.read("models/churn.json") == changed  # kept


def test_what_an_interrupted_conversion_left_beside_a_head_is_removed_silently(legacy_root: str) -> None:
    storage = open_storage(legacy_root)
    pristine = storage.read("models/fraud.json")
    assert open_registry(legacy_root).migrate() == MODELS
    storage.write("models/fraud.json", pristine)  # as a conversion killed after the head, before the delete

    assert open_registry(legacy_root).check().ok
    assert open_registry(legacy_root).migrate() == ["fraud"]
    assert not storage.exists("models/fraud.json")


def test_an_old_document_of_a_newer_schema_is_refused_kept_and_does_not_hold_back_the_others(
    legacy_root: str,
) -> None:
    storage = open_storage(legacy_root)
    newer = json.loads(storage.read("models/fraud.json")) | {"schema_version": 99}
    storage.write("models/fraud.json", json.dumps(newer).encode())

    result = cli(legacy_root, "get-model", "fraud")
    assert result.returncode != 0
    assert "newer than this library (1); upgrade registry-core" in result.stderr
    with pytest.raises(CorruptRecordError, match=r"could not convert 1 model\(s\) \(fraud: .*newer.*converted: churn"):
        open_registry(legacy_root).migrate()
    assert json.loads(storage.read("models/fraud.json"))["schema_version"] == 99  # kept, not converted
    assert not storage.exists("heads/fraud.json")
    assert storage.exists("heads/churn.json")
    assert storage.exists("heads/ranker.json")
