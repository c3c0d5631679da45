"""Long transfers show a progress bar on stderr when it is a terminal, and nothing else changes.

The CLI runs as users type it, with its stderr on a pseudo-terminal (``pty.openpty()``) or on a pipe; stdout is
always a pipe, as when output is redirected, so the normal output can be compared exactly.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "model-registry"
BAR = "━"  # what rich draws a bar with
SIZE = 3 << 20
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def lines(shown: str) -> list[str]:
    """The lines a terminal ends up showing, escape sequences (colours, cursor) left out."""
    return [line for line in _CONTROL.sub("\n", shown).splitlines() if line.strip()]


def run(*args: str, terminal: bool, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI; return its exit code, stdout and what reached stderr (the terminal's output, or the pipe's)."""
    environment = os.environ | {"MODEL_REGISTRY_USER": "alice", "TERM": "xterm-256color", "COLUMNS": "100"}
    environment |= env or {}
    if not terminal:
        done = subprocess.run(  # noqa: S603 - our console script
            [str(BIN), *args], capture_output=True, text=True, env=environment, timeout=120, check=False
        )
        return done.returncode, done.stdout, done.stderr
    controller, terminal_fd = pty.openpty()
    with subprocess.Popen(  # noqa: S603 - our console script
        [str(BIN), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal_fd, env=environment
    ) as process:
        os.close(terminal_fd)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the process closed its end of the terminal
                break
            if not chunk:
                break
            shown += chunk
        stdout = process.stdout.read() if process.stdout else b""
        code = process.wait(timeout=120)
    os.close(controller)
    return code, stdout.decode(), shown.decode(errors="replace")


def _model(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "variables.data").write_bytes(os.urandom(SIZE))
    (folder / "saved_model.pb").write_bytes(b"graph")
    return folder


def test_a_registration_draws_a_bar_on_a_terminal_and_prints_the_same_output(tmp_path: Path) -> None:
    code, stdout, shown = run("--registry", str(tmp_path / "registry"), "register", "churn", str(_model(tmp_path)),
                              terminal=True)  # fmt: skip

    assert code == 0, shown
    assert stdout.startswith("registered churn v1 (2 files, sha256:")
    assert "uploading churn" in shown
    assert BAR in shown
    assert "3.1/3.1 MB" in shown  # the whole artifact, counted to the end
    assert "registered" not in shown


def test_no_bar_when_stderr_is_a_pipe_or_with_json(tmp_path: Path) -> None:
    folder = _model(tmp_path)
    registry = str(tmp_path / "registry")

    code, stdout, stderr = run("--registry", registry, "register", "churn", str(folder), terminal=False)
    assert (code, stderr) == (0, "")
    assert stdout.startswith("registered churn v1 (2 files, sha256:")

    (folder / "saved_model.pb").write_bytes(b"another graph")
    code, stdout, shown = run("--json", "--registry", registry, "register", "churn", str(folder), terminal=True)
    assert (code, shown) == (0, "")
    assert json.loads(stdout)["version"] == "v2"


def test_an_input_error_on_a_terminal_is_one_line_without_a_bar(tmp_path: Path) -> None:
    code, stdout, shown = run("--registry", str(tmp_path / "registry"), "register", "churn", str(tmp_path / "none"),
                              terminal=True)  # fmt: skip

    assert code != 0
    assert stdout == ""
    assert shown.startswith("error: ")
    assert shown.count("\n") == 1
    assert BAR not in shown


def test_deploying_from_gcs_draws_a_download_bar(tmp_path: Path, gcs_bucket: str) -> None:
    registry = f"gs://{gcs_bucket}/registry"
    assert run("--registry", registry, "register", "churn", str(_model(tmp_path)), terminal=False)[0] == 0
    cache = {"MODEL_REGISTRY_CACHE": str(tmp_path / "cache")}

    # A target that does not exist fails right after the download (without loading TensorFlow to check the model):
    # the bar is what this is about.
    deploy = ("--registry", registry, "deploy", "churn", "--endpoint-name", "shop", "--target", "nowhere")
    code, stdout, shown = run(*deploy, terminal=True, env=cache)
    assert code != 0
    assert stdout == ""
    assert "downloading churn" in shown
    assert BAR in shown
    assert "3.1/3.1 MB" in shown
    assert lines(shown)[-1].startswith("error: ")

    code, _stdout, stderr = run(*deploy, terminal=False, env={"MODEL_REGISTRY_CACHE": str(tmp_path / "other-cache")})
    assert code != 0
    assert stderr.startswith("error: ")
    assert stderr.count("\n") == 1
