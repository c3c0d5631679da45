"""The two servers as processes: started as users start them, their URL read from what they print, then stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from benchmarks.settings import REPO_ROOT

_START_TIMEOUT = 120.0  # importing TensorFlow and loading the model, on a busy machine
_STOP_TIMEOUT = 15.0
_URL = re.compile(r" on (http://\S+)")


def ours_command(registry_root: str, endpoint: str) -> list[str]:
    """``model-registry --registry ROOT serve ENDPOINT --port 0``, with this interpreter's console script."""
    script = Path(sys.executable).with_name("model-registry")
    entry = [str(script)] if script.is_file() else [sys.executable, "-m", "registry_core"]
    return [*entry, "--registry", registry_root, "serve", endpoint, "--port", "0"]


def floor_command(saved_model: Path) -> list[str]:
    """``python -m benchmarks.serve.floor SAVED_MODEL``."""
    return [sys.executable, "-m", "benchmarks.serve.floor", str(saved_model)]


class ServerProcess:
    """A server subprocess on a free port of 127.0.0.1 that prints ``... on URL`` once it accepts requests.

    Args:
        name: What the benchmark calls it (in messages).
        command: The command line.
        log: File for its stderr (shown when it fails).
    """

    def __init__(self, name: str, command: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        self._stderr = log.open("wb")
        env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(  # noqa: S603 - our own commands
            command, stdout=subprocess.PIPE, stderr=self._stderr, cwd=REPO_ROOT, env=env
        )
        self.url = ""

    def wait_ready(self) -> str:
        """Wait for the announcement and return the server's base URL.

        Raises:
            RuntimeError: the server exited or said nothing in time.
        """
        stdout = self.process.stdout
        assert stdout is not None  # noqa: S101 - opened with PIPE
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(_START_TIMEOUT)
        found = _URL.search(lines[0].decode(errors="replace")) if lines else None
        if found is None:
            self.stop()
            msg = f"{self.name} did not start: {lines[0] if lines else b''!r}\n{self.log_tail()}"
            raise RuntimeError(msg)
        self.url = found.group(1)
        return self.url

    def log_tail(self) -> str:
        """The end of the server's stderr."""
        self._stderr.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()
