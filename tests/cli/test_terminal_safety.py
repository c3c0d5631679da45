"""Text from other people (descriptions, params, tags, reasons, names in errors) never reaches the terminal raw.

An escape sequence in a description could clear the screen, rewrite earlier lines or write the clipboard (OSC 52)
of whoever runs `get-model`; the CLI shows such characters escaped, as text, and keeps the JSON output exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLEAR = "\x1b[2J\x1b[H"
CLIPBOARD = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
BIDI = "\u202e"
BIN = Path(sys.executable).parent / "model-registry"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MODEL_REGISTRY_ROOT": str(tmp_path / "registry"), "MODEL_REGISTRY_USER": "alice"}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, encoding="utf-8", env=env, timeout=60, check=False
    )


def test_escape_sequences_in_stored_text_are_shown_escaped(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").write_text("w")
    registered = run(
        tmp_path, "register", "churn", str(tmp_path / "model"), "--description", f"hi{CLEAR}there{BIDI}",
        "-p", f"note=x{CLIPBOARD}",
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert run(tmp_path, "promote", "churn", "v1", "validation", "--reason", f"ok{CLEAR}").returncode == 0

    for args in (("get-model", "churn"), ("list-versions", "churn"), ("history", "churn")):
        shown = run(tmp_path, *args)
        assert shown.returncode == 0, shown.stderr
        for raw in ("\x1b", "\x07", BIDI):
            assert raw not in shown.stdout
    assert "hi\\x1b[2J\\x1b[Hthere" in run(tmp_path, "get-model", "churn").stdout

    exact = json.loads(run(tmp_path, "--json", "get-model", "churn").stdout)
    assert exact["description"] == f"hi{CLEAR}there{BIDI}"  # JSON keeps the data; json escapes it itself


def test_escape_sequences_in_an_error_are_shown_escaped(tmp_path: Path) -> None:
    failed = run(tmp_path, "get-model", f"churn{CLEAR}")
    assert failed.returncode == 2
    assert "\x1b" not in failed.stderr
    assert "\\x1b[2J" in failed.stderr
    assert failed.stderr.count("\n") == 1
