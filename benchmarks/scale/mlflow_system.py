"""MLflow in the scale benchmark: a long-lived worker in MLflow's virtual environment, driven command by command."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from benchmarks.scale.operations import PROCESS, READS, read_op
from benchmarks.scale.ours import RoundFolders
from benchmarks.scale.samples import Sample
from benchmarks.settings import REPO_ROOT

_WORKER = "benchmarks.scale.mlflow_worker"
_PROBE_TIMEOUT = 600
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PYTHONWARNINGS": "ignore"}


class MLflowSystem:
    """MLflow's model registry on a new sqlite store in `tracking_dir`.

    Args:
        python: The interpreter of MLflow's virtual environment.
        tracking_dir: Folder of the store (created).
        reads: At most this many calls of each in-process read per round...
        read_seconds: ...and no more once they took this long.
    """

    name = "mlflow"

    def __init__(self, python: str, tracking_dir: Path, reads: int, read_seconds: float) -> None:
        if not Path(python).exists():
            msg = f"MLflow's interpreter {python} is missing: `make bench-scale` creates benchmarks/.mlflow-venv"
            raise RuntimeError(msg)
        tracking_dir.mkdir(parents=True, exist_ok=True)
        self.python, self.tracking_dir = python, tracking_dir
        self.env = {**os.environ, **QUIET, "PYTHONPATH": str(REPO_ROOT)}
        self.log_path = tracking_dir / "worker.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the worker's lifetime, closed in close()
        job = {"tracking_dir": str(tracking_dir), "reads": reads, "read_seconds": read_seconds}
        self.process = subprocess.Popen(
            [python, "-m", _WORKER, "serve", json.dumps(job)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, cwd=REPO_ROOT, env=self.env,
        )  # fmt: skip
        self.version = str(self._answer()["mlflow_version"])
        self.count = 0

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[bytes] = self.process.stdin  # type: ignore[assignment]  # Popen was given stdin=PIPE
        stdin.write(json.dumps(command).encode() + b"\n")
        stdin.flush()
        return self._answer()

    def _answer(self) -> dict[str, Any]:
        stdout: IO[bytes] = self.process.stdout  # type: ignore[assignment]  # Popen was given stdout=PIPE
        line = stdout.readline()
        if not line:
            msg = f"the MLflow worker exited ({self.process.wait()}): {self._log_tail()}"
            raise RuntimeError(msg)
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            msg = f"the MLflow worker failed: {answer['error'][-3000:]}"
            raise RuntimeError(msg)
        return answer

    def _log_tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def grow(self, indices: Iterable[int], folder: Callable[[int], Path]) -> list[tuple[int, float]]:
        """Register version number i from ``folder(i)`` for each of `indices`; return (versions before, seconds)."""
        folders = [[index, str(folder(index))] for index in indices]
        durations = [(int(n), float(s)) for n, s in self._ask({"command": "grow", "folders": folders})["durations"]]
        self.count += len(folders)
        return durations

    def metadata_bytes(self) -> int:
        """Size of the sqlite database."""
        return int(self._ask({"command": "size"})["bytes"])

    def round(self, folders: RoundFolders, label_index: int) -> dict[str, list[Sample]]:
        """Measure a round in the worker, then each read once more in a new process of MLflow's environment."""
        answer = self._ask({
            "command": "round", "tiny": str(folders.tiny), "tiny_index": folders.tiny_index,
            "one_mb": str(folders.one_mb), "one_mb_index": folders.one_mb_index, "label_index": label_index,
        })  # fmt: skip
        self.count += 2
        samples: dict[str, list[Sample]] = answer["samples"]
        for read in READS:
            samples[read_op(read, PROCESS)] = [self._probe(read, answer["expected"])]
        return samples

    def _probe(self, read: str, expected: dict[str, Any]) -> Sample:
        job = {"tracking_dir": str(self.tracking_dir), "read": read, "expected": expected}
        completed = subprocess.run(
            [self.python, "-m", _WORKER, "probe", json.dumps(job)], capture_output=True, cwd=REPO_ROOT,
            env=self.env, timeout=_PROBE_TIMEOUT, check=False,
        )  # fmt: skip
        if completed.returncode != 0:
            msg = f"the MLflow probe of {read} failed: {completed.stderr.decode(errors='replace')[-3000:]}"
            raise RuntimeError(msg)
        sample: Sample = json.loads(completed.stdout.decode().strip().splitlines()[-1])
        return sample

    def close(self) -> None:
        """Let the worker finish (stdin closed), then close its log."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
