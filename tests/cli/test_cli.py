"""The model-registry CLI: commands on a real registry, one-line errors with exit codes, fast start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry_core.cli import main


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    registry = tmp_path / "registry"
    monkeypatch.setenv("MODEL_REGISTRY_ROOT", str(registry))
    monkeypatch.setenv("MODEL_REGISTRY_USER", "alice")
    return registry


def artifacts(tmp_path: Path, content: str) -> Path:
    folder = tmp_path / f"model-{abs(hash(content))}"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_text(content)
    (folder / "variables" / "data").write_text(content * 3)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def register(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, *extra: str) -> dict:
    code, out, err = run(capsys, "--json", "register", "churn", str(artifacts(tmp_path, content)), *extra)
    assert code == 0, err
    return json.loads(out)


def test_register_then_list_shows_the_version(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = register(
        capsys,
        tmp_path,
        "a",
        "-m",
        "accuracy=0.9",
        "-p",
        "epochs=5",
        "-t",
        "baseline",
        "--training-data",
        "gs://d/train",
        "--description",
        "first",
    )
    assert meta["version"] == "v1"
    assert meta["metrics"]["accuracy"] == 0.9
    assert meta["params"] == {"epochs": 5}
    assert meta["framework"] == "tensorflow"
    assert meta["lineage"]["training_data_uris"] == ["gs://d/train"]
    code, out, _ = run(capsys, "list-models")
    assert (code, out.split()) == (0, ["churn"])
    code, out, _ = run(capsys, "list-versions", "churn")
    assert code == 0
    assert "v1" in out
    assert "development" in out
    assert "accuracy=0.9" in out


def test_promote_approve_compare_rollback_history_flow(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(capsys, tmp_path, "a", "-m", "accuracy=0.8", "-m", "loss=0.5")
    register(capsys, tmp_path, "b", "-m", "accuracy=0.9", "-m", "loss=0.4")
    for version in ("v1", "v2"):
        assert run(capsys, "promote", "churn", version, "validation")[0] == 0
        assert run(capsys, "promote", "churn", version, "staging")[0] == 0
    assert run(capsys, "promote", "churn", "v1", "production", "--approved-by", "bob")[0] == 0
    assert run(capsys, "approve", "churn", "v2", "production", "--approver", "carol")[0] == 0
    code, out, _ = run(capsys, "promote", "churn", "v2", "production", "--reason", "better")
    assert code == 0
    assert "production" in out

    code, out, _ = run(capsys, "--json", "compare", "churn", "v1", "v2")
    assert code == 0
    assert json.loads(out)["best"] == {"accuracy": "v2", "loss": "v2"}
    code, out, _ = run(capsys, "compare", "churn", "v1", "v2")
    assert "0.9 *" in out

    code, out, _ = run(capsys, "rollback", "churn", "--reason", "latency regression")
    assert code == 0
    assert "v1" in out
    code, out, _ = run(capsys, "--json", "get-model", "churn", "--stage", "production")
    assert json.loads(out)["version"] == "v1"
    code, out, _ = run(capsys, "--json", "history", "churn")
    actions = [entry["action"] for entry in json.loads(out)]
    assert actions.count("registered") == 2
    assert actions[-1] == "rolled_back"


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["list-versions", "../etc"], 2, "invalid model name"),
        (["list-versions", "nosuch"], 3, "not registered"),
        (["get-model", "churn", "--version", "v9"], 3, "no version v9"),
        (["get-model", "churn", "--version", "1.x"], 2, "invalid version"),
        (["promote", "churn", "v1", "prod"], 2, "unknown stage"),
        (["promote", "churn", "v1", "production"], 5, "cannot move"),
        (["promote", "churn", "v1", "validation", "--approved-by", ""], 2, "invalid approver"),
        (["approve", "churn", "v1", "production", "--approver", "alice"], 5, "four-eyes"),
        (["compare", "churn", "v1"], 2, "at least two"),
        (["register", "churn", "/does/not/exist"], 2, "does not exist"),
        (["register", "churn", ".", "-m", "accuracy"], 2, "NAME=VALUE"),
        (["rollback", "churn"], 5, "no earlier production"),
        pytest.param(
            ["deploy", "churn", "--version", "v1", "--endpoint-name", "e"],
            9,
            "cannot load the SavedModel",
            marks=pytest.mark.needs_tensorflow,
        ),
        (["deploy", "churn", "--version", "v1", "--endpoint-name", "e", "--traffic-percent", "0"], 2, "1 to 100"),
        (["deploy", "churn", "--endpoint-name", "e", "--canary-percent", "10"], 2, "needs --health-check"),
        (["predict", "nowhere", "--json", "missing.json"], 2, "cannot read"),
        (["endpoints", "describe", "nowhere"], 3, "does not exist"),
        (["--registry", "s3://bucket", "list-models"], 2, "unsupported"),
        (["no-such-command"], 2, "No such command"),
        (["promote", "churn"], 2, "Missing argument"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_non_zero(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, fragment: str
) -> None:
    register(capsys, tmp_path, "a")
    got, out, err = run(capsys, *argv)
    assert got == code
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert fragment in err
    assert "Traceback" not in out + err


def test_missing_explicit_root_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--registry", str(tmp_path / "absent"), "list-models")
    assert code == 3
    assert "does not exist" in err


def test_check_reports_and_gc_removes_a_leftover_upload(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(capsys, tmp_path, "a")
    leftover = root / "artifacts" / "churn" / "20200101T000000-deadbeef0000"
    leftover.mkdir(parents=True)
    (leftover / "saved_model.pb").write_text("half")
    code, out, _ = run(capsys, "check")
    assert code == 1
    assert "leftover_upload" in out
    code, out, _ = run(capsys, "check", "--gc")
    assert code == 0
    assert "(removed)" in out
    assert not leftover.exists()
    assert run(capsys, "check")[0] == 0


def _cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry_core", *argv], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_cli_starts_fast_and_imports_nothing_heavy(root: Path) -> None:
    env = dict(os.environ)
    _cli("list-models", env=env)  # warm the bytecode cache
    started = time.perf_counter()
    result = _cli("list-models", env=env)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 1.0, f"list-models took {elapsed:.2f}s"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from registry_core.cli import main; main(['list-models']); "
            "print(sorted(m for m in ('tensorflow', 'kfp', 'google.cloud.storage', 'google.cloud.aiplatform') "
            "if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert probe.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in (
        "list-models",
        "list-versions",
        "get-model",
        "register",
        "promote",
        "approve",
        "compare",
        "rollback",
        "deploy",
        "history",
        "check",
    ):
        assert command in out


def test_request_then_approve_promotes_and_reject_declines(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(capsys, tmp_path, "a")
    register(capsys, tmp_path, "b")
    for version in ("v1", "v2"):
        for stage in ("validation", "staging"):
            assert run(capsys, "promote", "churn", version, stage)[0] == 0
    code, out, _ = run(capsys, "request-promotion", "churn", "v1", "production", "--comment", "ready")
    assert code == 0
    assert "waiting for approval" in out
    assert run(capsys, "request-promotion", "churn", "v2", "production")[0] == 0
    code, out, _ = run(capsys, "pending")
    assert "v1" in out
    assert "v2" in out
    assert "ready" in out

    code, out, _ = run(capsys, "approve", "churn", "v1", "production", "--approver", "bob")
    assert code == 0
    assert "now in production" in out
    code, out, _ = run(capsys, "reject", "churn", "v2", "production", "--approver", "bob", "--comment", "slow")
    assert code == 0
    assert "rejected" in out
    code, out, _ = run(capsys, "--json", "pending")
    assert json.loads(out) == []
