"""``python -m benchmarks.storm`` (``make bench-concurrency``): issue 12's 32 processes × 20 registrations at once.

Every process registers its folders into one model as fast as it can, all released together by a start file, on the
local backend and on GCS (the emulator). Afterwards the registry must hold every version each process was told it
registered, under distinct labels, with its REGISTERED history entry, and `check` must find nothing wrong. Prints one
row per backend and exits non-zero if anything was lost. Too long for the test suite (minutes on the emulator);
`tests/reliability/test_concurrency.py` races 8 processes there.

Settings (environment): STORM_PROCESSES (32), STORM_PER_PROCESS (20), STORM_BACKENDS ("local,gcs").
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.concurrency import run_released
from benchmarks.gcs import counting_storage, start_emulator
from benchmarks.settings import MODEL_NAME
from registry_core import HistoryAction, ModelRegistry, RegistryConfig

COLUMNS = ("backend", "processes × registrations", "wall (release to last)", "registrations/s", "lost", "check")


def _folders(root: Path, processes: int, per_process: int) -> list[list[str]]:
    """A tiny folder (two files, 4 KB, unique bytes) per registration, grouped by process."""
    groups = []
    for process in range(processes):
        group = []
        for index in range(per_process):
            folder = root / f"p{process}" / f"v{index}"
            folder.mkdir(parents=True)
            (folder / "saved_model.pb").write_bytes(f"{process}:{index}:".encode() + os.urandom(3000))
            (folder / "variables.data").write_bytes(os.urandom(1096))
            group.append(str(folder))
        groups.append(group)
    return groups


def storm(root_uri: str, folders: list[list[str]], emulator_url: str | None) -> dict[str, Any]:
    """Release one process per folder group on `root_uri`; return what was measured and found."""
    jobs = [{"root": root_uri, "emulator_url": emulator_url, "folders": group} for group in folders]
    env = {"STORAGE_EMULATOR_HOST": emulator_url} if emulator_url else None
    released, reports = run_released(sys.executable, "benchmarks.ours_worker", jobs, env=env)
    wall = max(report["finished"] for report in reports) - released
    told = [label for report in reports for label in report["versions"]]
    storage = counting_storage(emulator_url, root_uri)[0] if emulator_url else None
    registry = ModelRegistry(RegistryConfig(root=root_uri), storage=storage)
    visible = {row.version for row in registry.list_versions(MODEL_NAME)}
    registered = [e.version for e in registry.history(MODEL_NAME) if e.action is HistoryAction.REGISTERED]
    lost = sorted(set(told) - visible) + sorted(set(told) - set(registered))
    expected = sum(len(group) for group in folders)
    problems = []
    if len(set(told)) != len(told):
        problems.append(f"{len(told) - len(set(told))} labels handed out twice")
    if len(told) != expected or len(visible) != expected or len(registered) != expected:
        problems.append(f"{expected} registered, {len(told)} acknowledged, {len(visible)} visible, "
                        f"{len(registered)} in history")  # fmt: skip
    report = registry.check()
    problems += [f"{p.kind} {p.key}: {p.message}" for p in report.problems]
    return {"wall": wall, "count": expected, "lost": lost, "problems": problems, "check": report.ok}


def main() -> None:
    """Run the storm on each backend and print one row each."""
    processes = int(os.environ.get("STORM_PROCESSES", "32"))
    per_process = int(os.environ.get("STORM_PER_PROCESS", "20"))
    backends = os.environ.get("STORM_BACKENDS", "local,gcs").split(",")
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="registry-storm-") as scratch:
        folders = _folders(Path(scratch) / "input", processes, per_process)
        for backend in backends:
            print(f"[storm] {backend}: {processes} processes × {per_process} registrations", file=sys.stderr)
            started = time.monotonic()
            if backend == "gcs":
                emulator = start_emulator()
                try:
                    found = storm(f"gs://{emulator.create_bucket()}/registry", folders, emulator.url)
                finally:
                    emulator.stop()
            else:
                found = storm(str(Path(scratch) / backend / "registry"), folders, None)
            print(f"[storm] {backend} took {time.monotonic() - started:.0f} s in all", file=sys.stderr)
            failed = failed or bool(found["lost"] or found["problems"])
            for problem in found["problems"][:20]:
                print(f"[storm] {backend}: {problem}", file=sys.stderr)
            rows.append([
                backend, f"{processes} × {per_process}", f"{found['wall']:.1f} s",
                f"{found['count'] / found['wall']:.1f}", str(len(found["lost"])), "ok" if found["check"] else "FAILED",
            ])  # fmt: skip
    widths = [max(len(str(cell)) for cell in column) for column in zip(COLUMNS, *rows, strict=True)]
    lines = ["| " + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"
             for line in (COLUMNS, *rows)]  # fmt: skip
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    print("\n".join(lines), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
