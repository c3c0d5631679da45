"""Whether a process that left something behind still runs (pid plus start time, so reused pids don't fool us)."""

from __future__ import annotations

import os


def process_start(pid: int) -> str:
    """Return the kernel's start time of `pid`, or "" if unknown (no /proc, or no such process)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def is_running(pid: int, start: str) -> bool:
    """Return True if process `pid` exists and started at `start` (as given by process_start)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return process_start(pid) == start


_own: tuple[int, str] = (-1, "")  # (pid, start) of this process, read once: it cannot change while we run


def own_process() -> tuple[int, str]:
    """Return the calling process's pid and start time (as process_start gives it), read from /proc only once."""
    global _own
    pid, start = _own
    if pid != os.getpid() or not start:  # a forked child has a pid (and start) of its own
        pid = os.getpid()
        start = process_start(pid)
        _own = (pid, start)
    return pid, start


def self_token() -> str:
    """Return "<pid>_<start>" naming the calling process, for names of temporary files."""
    pid, start = own_process()
    return f"{pid}_{start}"


def token_is_running(token: str) -> bool:
    """Return True if the process named by a self_token() result is still running."""
    pid, _, start = token.partition("_")
    return pid.isdigit() and is_running(int(pid), start)
