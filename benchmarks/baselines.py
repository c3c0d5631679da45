"""What the registry is compared with besides MLflow: copying and hashing the big folder, a bare interpreter."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.measurements import Measurement

_UPLOAD_THREADS = 8  # as many as the GCS backend's upload_dir uses
Command = tuple[list[str], dict[str, str]]  # argv, extra environment


def copy_and_hash(folder: Path, destination: Path) -> Measurement:
    """Time ``cp -r folder destination`` followed by ``sha256sum`` of every file of the copy (then removed).

    What the registry does to a local folder by hand: store a copy and know the digests of what was stored. One
    ``sha256sum`` process, as typed (``cp -r a b && find b -type f -exec sha256sum {} +``).
    """
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(folder), str(destination)], check=True)
    copied = sorted(str(path) for path in destination.rglob("*") if path.is_file())
    subprocess.run(["sha256sum", *copied], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    shutil.rmtree(destination)
    return Measurement(seconds)


def raw_upload(folder: Path, emulator: Any) -> Measurement:
    """Time plain blob uploads of every file of `folder` (in parallel threads) to a new bucket, counting requests."""
    from benchmarks.gcs import emulator_module

    helper = emulator_module()
    counter = helper.RequestCounter()
    client = helper.make_client(emulator.url, counter.session)
    bucket = client.bucket(emulator.create_bucket())
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    bucket.exists()  # connect first, as the registry's client did
    before = counter.count
    start = time.perf_counter()
    with ThreadPoolExecutor(min(_UPLOAD_THREADS, len(files))) as pool:
        uploads = [
            pool.submit(bucket.blob(f"raw/{path.relative_to(folder).as_posix()}").upload_from_filename, str(path))
            for path in files
        ]
        for upload in uploads:
            upload.result()
    seconds = time.perf_counter() - start
    for path in files:  # free the emulator's memory
        bucket.blob(f"raw/{path.relative_to(folder).as_posix()}").delete()
    return Measurement(seconds, float(counter.count - before))


def cold_starts(commands: dict[str, Command], runs: int) -> dict[str, float]:
    """Run each command `runs` times, interleaved, and return each one's median wall time (new process each run).

    Args:
        commands: name -> (argv, extra environment).
        runs: Runs per command.
    """
    durations: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
            durations[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in durations.items()}


def cli_cold_start_commands(local_root: str, gcs_root: str, emulator_url: str) -> dict[str, Command]:
    """Return the cold-start commands: the CLI on each backend and a bare interpreter."""
    cli = str(Path(sys.executable).with_name("model-registry"))
    return {
        "cli_local": ([cli, "list-models"], {"MODEL_REGISTRY_ROOT": local_root}),
        "cli_gcs": ([cli, "--registry", gcs_root, "list-models"], {"STORAGE_EMULATOR_HOST": emulator_url}),
        "bare": ([sys.executable, "-c", "pass"], {}),
    }
