"""Bad input at scale (issue 5): thousands of generated inputs, typed RegistryErrors only, nothing written outside.

* The public API: 1,000 examples, each calling every entry point with junk (and with junk next to valid names,
  so that the checks behind the first one are reached too).
* The CLI: 1,000 generated argument lists, each led by a subcommand.
* Corrupt records: garbage, truncations, byte flips and structural mutations of a valid model (its head
  heads/<name>.json or a version file versions/<name>/<label>.json) and endpoint record (endpoints/<name>.json), read
  back through every read path: 1,000 examples each on the local backend, 200 each in the bucket.

The registry and its files are made once per test function, not per example; the 1,000-example runs use the
local backend (the GCS emulator costs a request per read, and the contract tests cover both backends).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from registry_core import ModelRegistry, ModelStage, RegistryConfig, RegistryError
from registry_core.cli import main
from registry_core.deploy.records import DeployedModel, EndpointEvent, EndpointRecord
from registry_core.layout import ENDPOINTS, HEADS, version_key
from registry_core.loading import CACHE_ENV

pytestmark = pytest.mark.timeout(600)

SCALE = settings(
    max_examples=1_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
BUCKET_SCALE = settings(SCALE, max_examples=200)

TRAVERSALS = ["../x", "../../escape", "/abs/path", "a/../../b", "..", ".", "a\\..\\b", "~/x", "%2e%2e/x", "\x00"]
junk_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "good",
            "Good",
            "g\u043eod",
            "good\n",
            "two\nlines",
            "x\u2028y",
            "good/../x",
            "x" * 300,
            "v1",
            "v0",
            "v-1",
            "v01",
            "1",
            "1.0.0",
            "v1.2.3.4",
            "vv1",
            "production",
            "Production",
            "staging",
            "archived",
            "none",
            "latest",
            "reviewer",
            "trainer",
            "\u200b",
            "CON",
            "a" * 64,
            *TRAVERSALS,
        ]
    ),  # fmt: skip
)
junk_any = st.one_of(
    junk_text,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(max_size=10),
    st.lists(junk_text, max_size=3),
    st.dictionaries(junk_text, st.one_of(junk_text, st.floats(), st.integers()), max_size=3),
    st.sampled_from([ModelStage.PRODUCTION, ModelStage.STAGING, Path("/"), Path("..")]),
)


def files_under(folder: Path, skip: set[Path]) -> set[str]:
    """Every path under `folder` (folders included), except inside the folders of `skip`."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if Path(dirpath) / d not in skip]
        found.update(str((Path(dirpath) / name).relative_to(folder)) for name in dirnames + filenames)
    return found


def one_line(exc: RegistryError) -> None:
    message = str(exc).strip()
    assert message, repr(exc)
    assert "\n" not in message, repr(message)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path/work is the working directory (relative junk paths land there); tmp_path/registry the root."""
    work = tmp_path / "work"
    (work / "model").mkdir(parents=True)
    (work / "model" / "weights.bin").write_bytes(b"\x00\x01" * 50)
    (work / "model" / "config.json").write_text('{"layers": 2}')
    monkeypatch.chdir(work)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def local_registry(sandbox: Path) -> ModelRegistry:
    registry = ModelRegistry(RegistryConfig(root=str(sandbox / "registry")))
    _populate(registry, sandbox / "work" / "model")
    return registry


def _populate(registry: ModelRegistry, folder: Path) -> None:
    """ "good": v1 in production (approved), v2 in staging with a pending request; endpoint "ep" with a 90/10 split."""
    for _ in range(2):
        registry.register_model("good", folder, registered_by="trainer", metrics={"accuracy": 0.9}, tags=["t"])
    registry.promote_model("good", "v1", ModelStage.VALIDATION, actor="trainer")
    registry.promote_model("good", "v1", ModelStage.STAGING, actor="trainer")
    registry.promote_model("good", "v1", ModelStage.PRODUCTION, approved_by="reviewer", actor="operator")
    registry.promote_model("good", "v2", ModelStage.VALIDATION, actor="trainer")
    registry.promote_model("good", "v2", ModelStage.STAGING, actor="trainer")
    registry.request_promotion("good", "v2", ModelStage.PRODUCTION, requested_by="operator")
    versions = [registry.get_model_metadata("good", label) for label in ("v1", "v2")]
    now = datetime.now(UTC)
    deployments = tuple(
        DeployedModel(
            id=f"dep-{m.version}",
            model_name="good",
            version=m.version,
            artifact_digest=m.artifact_digest,
            artifact_uri=m.artifact_uri,
            deployed_by="operator",
            deployed_at=now,
        )  # fmt: skip
        for m in versions
    )
    traffic = {"dep-v1": 90, "dep-v2": 10}
    endpoint = EndpointRecord(
        name="ep", target="local", created_at=now, deployments=deployments, traffic=traffic,
        history=(EndpointEvent(id="e1", at=now, actor="operator", action="deployed", model_name="good", version="v1",
                               traffic=traffic),),
    )  # fmt: skip
    registry.storage.write(ENDPOINTS.key("ep"), endpoint.model_dump_json().encode())


# -- the public API ---------------------------------------------------------------------------------------------


def _api_calls(
    registry: ModelRegistry, work: Path, name: Any, version: Any, stage: Any, actor: Any, extra: Any
) -> list[Callable[[], Any]]:
    r = registry
    return [
        lambda: r.list_models(),
        lambda: r.list_versions(name),
        lambda: r.get_model_metadata(name, version=version, stage=stage),
        lambda: r.get_model_metadata("good", version=version, stage=stage),
        lambda: r.history(name),
        lambda: r.compare_models(name, [version, extra]),
        lambda: r.compare_models("good", [version, "v1"], metrics=extra),
        lambda: r.compare_models("good", extra),
        lambda: r.artifact_path("good", version=version, stage=stage),
        lambda: r.load_model(name, version=version),
        lambda: r.approve("good", version, stage, actor, comment=extra),
        lambda: r.approve(name, "v2", stage, actor),
        lambda: r.request_promotion("good", version, stage, requested_by=actor, comment=extra),
        lambda: r.reject("good", version, stage, actor, comment=extra),
        lambda: r.pending_requests(name),
        lambda: r.promote_model(name, version, stage, approved_by=actor, reason=extra),
        lambda: r.promote_model("good", version, stage, approved_by=actor, actor=extra),
        lambda: r.archive_model(name, version, reason=extra, actor=actor),
        lambda: r.rollback(name, version, reason=extra, actor=actor),
        lambda: r.rollback("good", version, endpoint_name=extra),
        lambda: r.annotate("good", version, extra, actor=actor),
        lambda: r.annotate(name, "v1", {"note": "x"}, metrics=extra),
        lambda: r.register_model(
            name,
            work / "model",
            version=version,
            tags=extra,
            metrics=extra,
            params=extra,
            description=stage,
            registered_by=actor,
        ),  # fmt: skip
        lambda: r.register_model("good", f"{work}/absent/{name}", registered_by="trainer"),
        lambda: r.register_model("good", work / "model", version=version, bump=stage, lineage=extra),
        lambda: r.get_endpoint(name),
        lambda: r.list_endpoints(),
        lambda: r.set_traffic(name, extra, actor=actor),
        lambda: r.set_traffic("ep", extra, reason=stage),
        lambda: r.undeploy_model(name, version, actor=actor),
        lambda: r.check(gc=False),
    ]


@SCALE
@given(name=junk_any, version=junk_any, stage=junk_any, actor=junk_any, extra=junk_any)
def test_api_entry_points_take_1000_junk_inputs_with_typed_errors_only(
    local_registry: ModelRegistry, sandbox: Path, name: Any, version: Any, stage: Any, actor: Any, extra: Any
) -> None:
    root = sandbox / "registry"
    before = files_under(sandbox, {root, sandbox / "cache"})
    for call in _api_calls(local_registry, sandbox / "work", name, version, stage, actor, extra):
        try:
            call()
        except RegistryError as exc:
            one_line(exc)
    assert files_under(sandbox, {root, sandbox / "cache"}) == before


# -- the CLI ----------------------------------------------------------------------------------------------------

# Commands that serve, open a UI or run pipelines block or start servers; deploy loads TensorFlow. Left out here.
CLI_COMMANDS = [
    "list-models", "list-versions", "get-model", "history", "compare", "register", "promote", "approve",
    "request-promotion", "reject", "pending", "archive", "check", "rollback", "endpoints", "predict",
]  # fmt: skip
CLI_OPTIONS = [
    "--json", "--version", "-v", "--stage", "-s", "--approved-by", "--reason", "--comment", "--metric", "-m",
    "--param", "--tag", "--gc", "--deep", "--to-version", "--endpoint-name", "--metrics", "--help", "--bump",
    "--description", "--reuse-existing", "--actor", "--requested-by", "--approver", "--deployed-model-id",
]  # fmt: skip
cli_words = st.one_of(
    junk_text,
    st.sampled_from([*CLI_OPTIONS, "good", "v1", "v2", "production", "staging", "model", "ep", "describe", "list",
                     "accuracy=0.9", "a=b", "=", "nan", "-1", "1e309", "model/config.json", "major"]),
)  # fmt: skip


def _safe_word(word: str) -> bool:
    # Options the generator could invent that would move the root (--registry/-r) or run commands are kept out.
    return not word.startswith("-") or word in CLI_OPTIONS


@SCALE
@given(
    argv=st.tuples(
        st.lists(st.sampled_from(["--json"]), max_size=1),
        st.sampled_from(CLI_COMMANDS),
        st.lists(cli_words, max_size=7),
    ).map(lambda parts: [*parts[0], parts[1], *parts[2]])
)
def test_cli_takes_1000_junk_argument_lists_with_exit_codes_only(
    local_registry: ModelRegistry,
    sandbox: Path,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assume(all(_safe_word(word) for word in argv))
    monkeypatch.setenv("MODEL_REGISTRY_ROOT", str(sandbox / "registry"))
    monkeypatch.setenv("MODEL_REGISTRY_USER", "alice")
    before = files_under(sandbox, {sandbox / "registry", sandbox / "cache"})
    code = main(argv)
    _, err = capsys.readouterr()
    assert isinstance(code, int)
    if code != 0 and err:
        assert err.startswith(("error: ", "aborted", "Usage:")), err
        if err.startswith("error: "):
            assert err.count("\n") == 1, err
    assert files_under(sandbox, {sandbox / "registry", sandbox / "cache"}) == before


# -- corrupt records --------------------------------------------------------------------------------------------

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    junk_text,
)  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(junk_text, inner, max_size=3)),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path (keys and indices) into a parsed JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def corruptions(draw: st.DrawFn, valid: bytes) -> bytes:
    """A corrupt, truncated, mutated or foreign version of the valid document `valid`."""
    kind = draw(st.sampled_from(["truncate", "flip", "mutate", "mutate", "mutate", "garbage", "json", "wrap"]))
    if kind == "truncate":
        return valid[: draw(st.integers(0, len(valid) - 1))]
    if kind == "flip":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_value)).encode()
    if kind == "wrap":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b" \n", b"[", b"null", b"{}"])) + valid
    document = json.loads(valid)
    paths = list(_paths(document))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            operation = draw(st.sampled_from(["delete", "replace", "traversal", "duplicate", "number"]))
            if operation == "delete":
                del parent[last]
            elif operation == "replace":
                parent[last] = draw(json_value)
            elif operation == "traversal":
                parent[last] = draw(st.sampled_from(TRAVERSALS)) + draw(st.sampled_from(["", "/x", "/../../y"]))
            elif operation == "duplicate" and isinstance(parent, list):
                parent.append(parent[last])
            else:
                parent[last] = draw(st.sampled_from([-1, 0, 2**63, 1e308, -0.0, 101, True]))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or reshaped this path
    return json.dumps(document, allow_nan=False).encode()


def _readers(registry: ModelRegistry) -> list[Callable[[], Any]]:
    r = registry
    return [
        lambda: r.list_models(),
        lambda: r.list_versions("good"),
        lambda: r.get_model_metadata("good"),
        lambda: r.get_model_metadata("good", stage="production"),
        lambda: r.get_model_metadata("good", version="v2"),
        lambda: r.history("good"),
        lambda: r.pending_requests("good"),
        lambda: r.compare_models("good", ["v1", "v2"]),
        lambda: r.artifact_path("good", "v1"),
        lambda: r.get_endpoint("ep"),
        lambda: r.list_endpoints(),
        lambda: r.check(),
        lambda: r.check(deep=True),
    ]


CLI_READS = [["list-versions", "good"], ["history", "good"], ["endpoints", "describe", "ep"], ["check"]]


def _read_corrupt(
    registry: ModelRegistry,
    sandbox: Path,
    key: str,
    raw: bytes,
    capsys: pytest.CaptureFixture[str] | None = None,
    cli_argv: list[str] | None = None,
) -> None:
    root = sandbox / "registry"
    registry.storage.write(key, raw)
    outside = files_under(sandbox, {root, sandbox / "cache"})
    stored = set(registry.storage.list(""))
    for read in _readers(registry):
        try:
            read()
        except RegistryError as exc:
            one_line(exc)
    if capsys is not None and cli_argv is not None:  # one CLI read per example: typer takes ~15 ms per call
        capsys.readouterr()
        code = main(cli_argv)
        _, err = capsys.readouterr()
        assert isinstance(code, int)
        if err:  # check reports problems on stdout with a non-zero code; errors are one line on stderr
            assert code != 0, (cli_argv, err)
            assert err.startswith("error: "), (cli_argv, err)
            assert err.count("\n") == 1, (cli_argv, err)
    # Reading wrote nothing: not outside the root, and nothing inside it either.
    assert files_under(sandbox, {root, sandbox / "cache"}) == outside
    assert set(registry.storage.list("")) == stored


RECORDS = {  # the files of each record; an example damages one of them
    "model": (HEADS.key("good"), version_key("good", "v2")),  # what every read of a model reads: head, version file
    "endpoint": (ENDPOINTS.key("ep"),),
}


@pytest.mark.parametrize("record", sorted(RECORDS))
@SCALE
@given(data=st.data())
def test_1000_corrupt_records_on_disk_give_typed_errors_only(
    local_registry: ModelRegistry,
    sandbox: Path,
    record: str,
    data: st.DataObject,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_ROOT", str(sandbox / "registry"))
    key = data.draw(st.sampled_from(RECORDS[record]), label="file")
    valid = _only_damaged(local_registry, RECORDS[record], key)
    raw = data.draw(corruptions(valid), label="record")
    argv = data.draw(st.tuples(st.sampled_from([[], ["--json"]]), st.sampled_from(CLI_READS)), label="cli")
    _read_corrupt(local_registry, sandbox, key, raw, capsys, [*argv[0], *argv[1]])


@pytest.mark.parametrize("record", sorted(RECORDS))
@BUCKET_SCALE
@given(data=st.data())
def test_200_corrupt_records_in_the_bucket_give_typed_errors_only(
    bucket_registry: ModelRegistry, sandbox: Path, record: str, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(RECORDS[record]), label="file")
    valid = _only_damaged(bucket_registry, RECORDS[record], key)
    raw = data.draw(corruptions(valid), label="record")
    _read_corrupt(bucket_registry, sandbox, key, raw)


_VALID: dict[tuple[str, str], bytes] = {}


def _valid(registry: ModelRegistry, key: str) -> bytes:
    """The document as the fixture wrote it (read once per test function, before any corruption)."""
    cache_key = (registry.storage.uri, key)
    if cache_key not in _VALID:
        _VALID[cache_key] = registry.storage.read(key)
    return _VALID[cache_key]


def _only_damaged(registry: ModelRegistry, keys: tuple[str, ...], key: str) -> bytes:
    """Return the valid bytes of `key`, after restoring the other files of its record (an earlier example's damage)."""
    valid = {other: _valid(registry, other) for other in keys}
    for other in keys:
        if other != key and registry.storage.read(other) != valid[other]:
            registry.storage.write(other, valid[other])
    return valid[key]


@pytest.fixture
def bucket_registry(sandbox: Path, gcs_bucket: str) -> ModelRegistry:
    registry = ModelRegistry(RegistryConfig(root=f"gs://{gcs_bucket}/registry"))
    _populate(registry, sandbox / "work" / "model")
    return registry
