"""What a local run shows: one line per task as it finishes (name, status, time); the full log goes to a file.

kfp's local runner prints every task's streamed output, its executor JSON and its own log records on stdout. While a
run lasts, `RunLog` sends all of it to a log file (and, verbose, to the terminal too) and reads kfp's log records
(a filter on the root logger, where kfp logs) to print the task lines on the real stdout.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

LOG_NAME = "run-local.log"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = re.compile(r"^Executing task '(?P<task>[^']+)'")
_FINISHED = re.compile(r"^Task '(?P<task>[^']+)' finished with status (?P<status>[A-Z]+)")
_CACHED = re.compile(r"^Task (?P<task>\S+) cache hit")
_RETRYING = re.compile(
    r"^Task (?P<task>\S+) failed \(attempt (?P<attempt>\d+)/(?P<attempts>\d+)\)\. Retrying in (?P<delay>[0-9.]+)s"
)
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b")
_SKIPPED = re.compile(r"^Skipping (?:conditional )?task (?P<task>\S+?):? (?P<why>.*)$")


class _Tee:
    """A text stream writing to the log file and, when verbose, to the terminal as well."""

    def __init__(self, log: IO[str], terminal: IO[str] | None) -> None:
        self.log = log
        self.terminal = terminal

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.terminal is not None:
            self.terminal.write(text)
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        if self.terminal is not None:
            self.terminal.flush()

    def isatty(self) -> bool:
        return False


class RunLog:
    """Capture a local run's output into a log file and print one line per finished task.

    Args:
        pipeline_root: The local runner's pipeline root; the run gets a folder in it, named after the pipeline.
        pipeline_name: The pipeline's name (the prefix of its run folders).
        tasks: The pipeline's task names, for the width of the name column.
        groups: Condition groups -> the tasks inside them, so that a skipped group reports its tasks.
        verbose: Stream the full log to the terminal as well.
    """

    def __init__(
        self,
        pipeline_root: Path,
        pipeline_name: str,
        *,
        tasks: Iterable[str] = (),
        groups: dict[str, list[str]] | None = None,
        verbose: bool = False,
    ) -> None:
        self.pipeline_root = pipeline_root
        self.pipeline_name = pipeline_name
        self.groups = groups or {}
        self.verbose = verbose
        self.width = max((len(t) for t in tasks), default=20)
        self.path = pipeline_root / f".run-local-{uuid.uuid4().hex[:12]}.log"
        self.lines: list[str] = []  # the task lines printed, for callers and tests
        self._started: dict[str, float] = {}
        self._offsets: dict[str, int] = {}
        self._announced = False
        self._before: set[str] = set()
        self._file: IO[str] | None = None
        self._saved: tuple[Any, Any] | None = None
        self._level = logging.WARNING

    def __enter__(self) -> Self:
        self.pipeline_root.mkdir(parents=True, exist_ok=True)
        self._before = {p.name for p in self.pipeline_root.iterdir()}
        self._file = self.path.open("w", encoding="utf-8", buffering=1)
        self._saved = (sys.stdout, sys.stderr)
        tee = _Tee(self._file, sys.stdout if self.verbose else None)
        sys.stdout = sys.stderr = tee  # type: ignore[assignment]
        root = logging.getLogger()
        root.addFilter(self._watch)
        # kfp logs cache hits and retries at INFO outside its own logging context: let them reach the filter
        self._level = root.level
        if root.level > logging.INFO:
            root.setLevel(logging.INFO)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        root = logging.getLogger()
        root.removeFilter(self._watch)
        root.setLevel(self._level)
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
        if self._file is not None:
            self._file.close()
        self._place_log()
        if not self._announced:
            self._print(f"log: {self.path}")
            self._announced = True

    # -- reading kfp's records --------------------------------------------------------------------------------

    def _watch(self, record: logging.LogRecord) -> bool:
        try:
            self._on(_ANSI.sub("", record.getMessage()), record.created)
        except Exception:  # noqa: BLE001 - showing progress must never break the run
            logging.getLogger(__name__).debug("cannot show progress", exc_info=True)
        return True

    def _on(self, message: str, at: float) -> None:
        if match := _STARTED.match(message):
            self._started[match["task"]] = at
            if self._file is not None:
                self._file.flush()
                self._offsets[match["task"]] = self._file.tell()
        elif match := _FINISHED.match(message):
            task, status = match["task"], match["status"]
            seconds = at - self._started.pop(task, at)
            self._task_line(task, status, f"{seconds:6.1f} s")
            if status != "SUCCESS":
                self._show_error(task)
        elif match := _CACHED.match(message):
            self._task_line(match["task"], "CACHED", "")
        elif match := _RETRYING.match(message):
            attempt, attempts = int(match["attempt"]) + 1, int(match["attempts"])
            delay = float(match["delay"])
            self._print(f"  {match['task']:<{self.width}}  retrying (attempt {attempt} of {attempts}) in {delay:g} s")
        elif match := _SKIPPED.match(message):
            why = "upstream failed" if "upstream" in match["why"] else "condition not met"
            for task in self.groups.get(match["task"], [match["task"]]):
                self._task_line(task, "SKIPPED", f"  ({why})")

    def _task_line(self, task: str, status: str, detail: str) -> None:
        self._place_log()
        if not self._announced:
            self._print(f"log: {self.path}")
            self._announced = True
        line = f"  {task:<{self.width}}  {status:<8}{detail}".rstrip()
        self.lines.append(line)
        self._print(line)

    def _show_error(self, task: str) -> None:
        """Print the exception the failed task ended with, if it wrote one (a killed task writes none)."""
        if self._file is None:
            return
        self._file.flush()
        with self.path.open(encoding="utf-8", errors="replace") as log:
            log.seek(self._offsets.get(task, 0))
            written = [line.strip() for line in log.read().splitlines()]
        last = [line for line in written if _EXCEPTION.match(line)]
        if last:
            self._print(f"  {'':<{self.width}}  {last[-1][:300]}")

    def _print(self, line: str) -> None:
        terminal = self._saved[0] if self._saved is not None else sys.stdout
        terminal.write(line + "\n")
        terminal.flush()

    def _place_log(self) -> None:
        """Move the log into the run's folder once it exists (the file stays open across the rename)."""
        if self.path.name == LOG_NAME:
            return
        new = [
            p for p in self.pipeline_root.iterdir()
            if p.is_dir() and p.name not in self._before and p.name.startswith(self.pipeline_name)
        ]  # fmt: skip
        if len(new) == 1:  # more than one: other runs share the pipeline root; keep the log where it is
            target = new[0] / LOG_NAME
            self.path.rename(target)
            self.path = target
