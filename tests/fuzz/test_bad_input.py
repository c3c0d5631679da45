"""Generated junk thrown at the public API and the CLI: typed RegistryErrors only, nothing written outside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from registry_core import ModelRegistry, RegistryConfig, RegistryError
from registry_core.arguments import NAME_PATTERN
from registry_core.cli import main

junk_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a\\b",
            "x" * 200,
            "Model",
            "m\u0430del",
            "m\u200bx",
            "v1/../../x",
            "v0",
            "v-1",
            "1.2",
            "v1.2.3.4",
            "production\n",
            "\x00",
            "CON",
            "a" * 63,
            "v01",
        ]
    ),
)
junk_any = st.one_of(
    junk_text,
    st.none(),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(folder: Path) -> set[str]:
    """Return every path under `folder` except inside the registry root (which may grow)."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == folder:
            dirnames[:] = [d for d in dirnames if d != "registry"]
        found.update(str((Path(dirpath) / name).relative_to(folder)) for name in dirnames + filenames)
    return found


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A folder holding the registry root and one model folder; nothing else may appear in it."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00\x01" * 100)
    return tmp_path


@pytest.fixture
def registry(sandbox: Path, storage_root: str) -> ModelRegistry:
    local_root = storage_root if not storage_root.startswith("gs://") else str(sandbox / "registry")
    root = storage_root if storage_root.startswith("gs://") else local_root
    registry = ModelRegistry(RegistryConfig(root=root))
    registry.register_model("good", sandbox / "model", registered_by="alice")
    return registry


@FUZZ
@given(name=junk_any, version=junk_any, stage=junk_any, actor=junk_any)
def test_junk_never_escapes_as_anything_but_a_registry_error(
    registry: ModelRegistry, sandbox: Path, name: object, version: object, stage: object, actor: object
) -> None:
    before = snapshot(sandbox)
    calls = [
        lambda: registry.get_model_metadata(name, version=version),  # type: ignore[arg-type]
        lambda: registry.get_model_metadata("good", version=version, stage=stage),  # type: ignore[arg-type]
        lambda: registry.list_versions(name),  # type: ignore[arg-type]
        lambda: registry.promote_model(name, version, stage, approved_by=actor),  # type: ignore[arg-type]
        lambda: registry.promote_model("good", version, stage, approved_by=actor),  # type: ignore[arg-type]
        lambda: registry.approve("good", version, stage, actor),  # type: ignore[arg-type]
        lambda: registry.compare_models(name, [version, version]),  # type: ignore[arg-type, list-item]
        lambda: registry.rollback(name, version),  # type: ignore[arg-type]
        lambda: registry.register_model(
            name,
            sandbox / "model",
            version=version,
            tags=[actor],  # type: ignore[arg-type, list-item]
            metrics={"m": version},
            params={"p": stage},
        ),  # type: ignore[dict-item]
        # junk paths stay inside the sandbox: a junk "." would register the working directory
        lambda: registry.register_model("good", f"{sandbox}/absent/{name}", description=stage),  # type: ignore[arg-type]
    ]
    messages = []
    for call in calls:
        try:
            call()
        except RegistryError as exc:
            messages.append(str(exc))
    assert all("\n" not in message.strip() for message in messages)
    after = snapshot(sandbox)
    assert after == before


@FUZZ
@given(name=junk_text)
def test_only_valid_names_reach_the_storage(registry: ModelRegistry, sandbox: Path, name: str) -> None:
    try:
        registry.register_model(name, sandbox / "model", registered_by="alice")
    except RegistryError:
        assert not NAME_PATTERN.fullmatch(name)
    else:
        assert NAME_PATTERN.fullmatch(name)
        assert name in registry.list_models()


cli_words = st.one_of(
    junk_text,
    st.sampled_from(
        [
            "list-models",
            "list-versions",
            "get-model",
            "promote",
            "approve",
            "compare",
            "rollback",
            "register",
            "history",
            "check",
            "deploy",
            "archive",
            "--json",
            "--version",
            "--stage",
            "--approved-by",
            "--registry",
            "-m",
            "--metric",
            "--gc",
            "good",
            "v1",
            "production",
            "model",
            "staging",
            "--help",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(cli_words, max_size=7))
def test_cli_answers_junk_with_an_exit_code_never_a_traceback(
    sandbox: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # `ui` and `serve` given valid arguments run a server until stopped: a long-running service, not junk.
    assume(not {"ui", "serve"} & set(argv))
    os.environ["MODEL_REGISTRY_ROOT"] = str(sandbox / "registry")
    os.environ["MODEL_REGISTRY_USER"] = "alice"
    cwd = os.getcwd()
    os.chdir(sandbox)  # relative paths in the junk resolve inside the sandbox
    before = snapshot(sandbox)
    try:
        code = main(argv)
    finally:
        os.chdir(cwd)
        os.environ.pop("MODEL_REGISTRY_ROOT", None)
        os.environ.pop("MODEL_REGISTRY_USER", None)
    _, err = capsys.readouterr()
    assert isinstance(code, int)
    if code != 0 and err:
        assert err.startswith("error: ") or err.startswith("aborted"), err
        assert err.count("\n") == 1, err
    after = snapshot(sandbox)
    assert after == before
