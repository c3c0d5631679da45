"""`model-registry pipeline run-local` through `registry_core.cli.main`: what it prints, and one-line errors.

Two runs share one registry in a folder that does not exist yet (module-scoped, in order): the first ends in
STAGING; an operator then releases it with `model-registry promote`, so the second run, approved, is compared with
it as champion. Small data, one epoch: a run takes about ten seconds.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.train_and_register import PIPELINE_NAME  # noqa: E402
from registry_core import ModelRegistry  # noqa: E402
from registry_core.cli import main  # noqa: E402
from registry_core.metadata import ModelStage  # noqa: E402

NAME = "eyewear"
SMALL = ("--model-name", NAME, "--num-train", "500", "--epochs", "1", "--threshold", "accuracy=0.05")

# kfp.local says that display names and resource limits mean nothing to it: true, and not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner:UserWarning")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


def cli(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Runs:
    root: Path
    first: Result
    release: Result
    second: Result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("cli")
    root = base / "new" / "registry"  # not there yet: the first registration creates it
    first = cli(
        "--registry", str(root), "pipeline", "run-local", *SMALL, "--registered-by", "alice",
        "--pipeline-root", str(base / "runs-1"),
    )  # fmt: skip
    release = cli("--registry", str(root), "promote", NAME, "v1", "production", "--approved-by", "bob")
    second = cli(
        "--registry", str(root), "pipeline", "run-local", *SMALL, "--registered-by", "alice", "--approved-by", "bob",
        "--max-regression", "0.5", "--pipeline-root", str(base / "runs-2"), "--verbose",
    )  # fmt: skip
    return Runs(root, first, release, second)


def test_run_local_into_a_new_registry_folder_succeeds_and_creates_it(runs: Runs) -> None:
    assert runs.first.code == 0, runs.first.err
    assert runs.root.is_dir()
    assert [m.version for m in ModelRegistry.from_uri(str(runs.root)).list_versions(NAME)] == ["v1", "v2"]


def test_run_local_prints_the_version_and_its_stage(runs: Runs) -> None:
    assert f"registered {NAME} v1 -> stage: staging" in runs.first.out.splitlines()


def test_run_local_prints_the_validation_outcome(runs: Runs) -> None:
    (line,) = [line for line in runs.first.out.splitlines() if line.startswith("validation:")]
    assert line.startswith("validation: passed: accuracy")
    assert line.endswith("no champion in production")


def test_run_local_prints_where_the_registry_and_the_run_are(runs: Runs) -> None:
    lines = runs.first.out.splitlines()
    assert f"registry:   {runs.root.as_uri()}" in lines
    (run,) = [line for line in lines if line.startswith("run:")]
    assert run.split()[1].startswith(PIPELINE_NAME)
    (artifacts,) = [line for line in lines if line.startswith("artifacts:")]
    assert runs.root.as_uri() in artifacts


def test_run_local_without_a_champion_prints_the_metrics_and_no_production(runs: Runs) -> None:
    lines = runs.first.out.splitlines()
    header = lines.index(next(line for line in lines if line.split() == ["metric", "v1"]))
    metrics = {line.split()[0] for line in lines[header + 2 :] if line.strip() and not line.startswith("production")}
    assert {"accuracy", "holdout_accuracy", "loss"} <= metrics
    assert "production: none" in lines


def test_run_local_approved_by_someone_releases_the_version_to_production(runs: Runs) -> None:
    assert runs.release.code == 0, runs.release.err
    assert runs.second.code == 0, runs.second.err
    lines = runs.second.out.splitlines()
    assert f"registered {NAME} v2 -> stage: production" in lines
    assert "production: v2" in lines
    stages = {m.version: m.stage for m in ModelRegistry.from_uri(str(runs.root)).list_versions(NAME)}
    assert stages == {"v1": ModelStage.ARCHIVED, "v2": ModelStage.PRODUCTION}


def test_run_local_with_a_champion_prints_the_comparison_table(runs: Runs) -> None:
    lines = runs.second.out.splitlines()
    title = lines.index("champion v1 vs v2 (* = best):")
    assert lines[title + 1].split() == ["metric", "v1", "v2"]
    rows = {line.split()[0]: line for line in lines[title + 3 :] if line.strip() and ":" not in line}
    assert {"accuracy", "holdout_accuracy", "loss"} <= set(rows)
    assert "*" in rows["holdout_accuracy"]
    (validation,) = [line for line in lines if line.startswith("validation:")]
    assert "vs champion v1" in validation


TASKS = ["generate-data", "train-model", "register-model", "validate-model", "promote-model"]


def test_run_local_prints_one_line_per_task_with_its_status_and_time(runs: Runs) -> None:
    lines = runs.first.out.splitlines()
    task_lines = [line.split() for line in lines if line.startswith("  ") and line.split()[0] in TASKS]
    assert [words[0] for words in task_lines] == TASKS
    for words in task_lines:
        assert words[1] == "SUCCESS"
        assert float(words[2]) >= 0
        assert words[3] == "s"


def test_run_local_keeps_kfp_s_output_out_of_the_terminal_and_in_the_run_s_log_file(runs: Runs) -> None:
    out = runs.first.out
    assert "Executing task" not in out
    assert "executor_input" not in out
    assert "WARNING" not in out
    assert len(out.splitlines()) < 40  # the task lines and the summary, not hundreds of log lines
    (line,) = [line for line in out.splitlines() if line.startswith("log: ")]
    log = Path(line.removeprefix("log: "))
    assert log.name == "run-local.log"
    assert log.parent.parent == runs.root.parent.parent / "runs-1"
    assert log.parent.name.startswith(PIPELINE_NAME)
    text = log.read_text()
    assert "Executing task" in text
    assert "executor_input" in text
    assert "registered eyewear v1" in text  # what the register task printed


def test_run_local_verbose_streams_the_full_log_as_well(runs: Runs) -> None:
    out = runs.second.out
    assert "Executing task" in out
    assert "executor_input" in out
    assert any(line.startswith("log: ") for line in out.splitlines())
    assert f"registered {NAME} v2 -> stage: production" in out.splitlines()


def test_run_local_with_a_threshold_that_is_not_a_number_is_a_one_line_error(tmp_path: Path) -> None:
    result = cli(
        "--registry", str(tmp_path / "registry"), "pipeline", "run-local", "--threshold", "accuracy=abc",
        "--pipeline-root", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.code == 2
    assert result.err.splitlines() == ["error: threshold 'accuracy' must be a number, got 'abc'"]
    assert result.out == ""
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_run_local_with_a_threshold_without_a_bound_is_a_one_line_error(tmp_path: Path) -> None:
    result = cli("--registry", str(tmp_path / "registry"), "pipeline", "run-local", "--threshold", "accuracy")
    assert result.code == 2
    assert result.err.splitlines() == ["error: invalid threshold 'accuracy': expected NAME=VALUE"]


def test_run_local_with_epochs_that_are_not_a_number_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = cli("--registry", str(tmp_path / "registry"), "pipeline", "run-local", "--epochs", "abc")
    assert result.code == 2
    (line,) = result.err.splitlines()
    assert line.startswith("error: ")
    assert "'--epochs'" in line
    assert line.endswith("(see --help)")


def test_run_local_into_a_missing_bucket_is_a_one_line_error_before_running(
    gcs_emulator: object, tmp_path: Path
) -> None:
    result = cli(
        "--registry", "gs://no-such-bucket/registry", "pipeline", "run-local", "--pipeline-root", str(tmp_path / "runs")
    )  # fmt: skip
    assert result.code == 3
    assert result.err.splitlines() == ["error: registry root gs://no-such-bucket/registry does not exist"]
    assert not (tmp_path / "runs").exists()


def test_run_local_whose_task_fails_is_a_one_line_error_naming_the_task(tmp_path: Path) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    result = cli(
        "--registry", str(tmp_path / "registry"), "pipeline", "run-local", "--data-source-uri", str(empty),
        "--pipeline-root", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.code == 1
    assert result.errors() == [
        f"error: Pipeline '{PIPELINE_NAME}' finished with status FAILURE. Inner task failed: 'generate-data'."
    ]
    assert "Traceback" not in result.err
    assert not (tmp_path / "registry").exists()  # nothing was registered
    # the failed task's line, then the exception it ended with, then where the whole log is
    lines = result.out.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.split()[:2] == ["generate-data", "FAILURE"])
    assert lines[failed + 1].strip().startswith("ValueError: no train-")
    (log,) = [line.removeprefix("log: ") for line in lines if line.startswith("log: ")]
    assert Path(log).is_file()
    assert "Traceback" in Path(log).read_text()
