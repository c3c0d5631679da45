"""``python -m benchmarks``: run the workload on every system, print the tables, write results/latest.json."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.artifacts import write_workload
from benchmarks.baselines import cli_cold_start_commands, cold_starts
from benchmarks.gcs import start_emulator
from benchmarks.mlflow_system import bench_mlflow
from benchmarks.ours import bench_gcs, bench_local
from benchmarks.report import BenchResults, render, write_json
from benchmarks.settings import RESULTS_PATH, Settings


def _step(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main() -> None:
    """Run everything in one temporary folder (removed at the end) and report."""
    settings = Settings.from_environment()
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as scratch:
        root = Path(scratch)
        _step(f"writing the artifact folders ({settings.versions} × 1 MB, one {settings.big_mb} MB)")
        workload = write_workload(root / "input", settings.versions, settings.processes, settings.per_process,
                                  settings.big_mb)  # fmt: skip
        _step("MLflow (its own virtual environment)")
        mlflow_version, mlflow = bench_mlflow(workload, settings, root / "mlflow")
        _step("our registry, local backend")
        local_root = root / "local" / "registry"
        local = bench_local(workload, settings, local_root)
        emulator = start_emulator()
        try:
            _step(f"our registry, GCS backend (fake-gcs-server at {emulator.url})")
            gcs = bench_gcs(workload, settings, emulator)
            _step("CLI cold starts")
            gcs_root = f"gs://{emulator.create_bucket()}/registry"
            cold = cold_starts(cli_cold_start_commands(str(local_root), gcs_root, emulator.url), settings.cold_runs)
        finally:
            emulator.stop()
    results = BenchResults(
        settings=settings,
        mlflow_version=mlflow_version,
        systems={"ours_local": local, "ours_gcs": gcs, "mlflow": mlflow},
        cold_starts=cold,
        elapsed_seconds=time.monotonic() - started,
        load=(load_before, os.getloadavg()[0]),
    )
    print(render(results))
    write_json(results, RESULTS_PATH)
    _step(f"done in {results.elapsed_seconds:.0f} s; results in {RESULTS_PATH}")


if __name__ == "__main__":
    main()
