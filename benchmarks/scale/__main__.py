"""``python -m benchmarks.scale``: grow one model size after size, measure each, print the tables, write the JSON."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

from benchmarks.artifacts import write_big_folder, write_small_folder
from benchmarks.scale.big import compare_big
from benchmarks.scale.mlflow_system import MLflowSystem
from benchmarks.scale.ours import OursSystem, RoundFolders
from benchmarks.scale.report import ScaleResults, SizeResult, render, write_json
from benchmarks.scale.samples import Sample
from benchmarks.scale.settings import ScaleSettings
from benchmarks.scale.workload import write_tiny_folder

_GROW_BATCH = 1_000  # folders written to disk at a time while growing


class System(Protocol):
    """Our registry on one backend, or MLflow."""

    name: str

    def grow(self, indices: range, folder: Callable[[int], Path]) -> list[tuple[int, float]]:
        """Register the versions numbered `indices`; return (versions before, seconds) of each registration."""

    def round(self, folders: RoundFolders, label_index: int) -> dict[str, list[Sample]]:
        """Measure one round."""

    def metadata_bytes(self) -> int | None:
        """Bytes of metadata on disk."""


def _step(message: str) -> None:
    print(f"[bench-scale] {message}", file=sys.stderr, flush=True)


def growth_fit(history: list[tuple[int, float]]) -> tuple[float, float]:
    """Fit seconds = a + b·versions to (versions before, seconds) of past registrations by least squares; return (a, b).

    b ≥ 0 (a registration is never assumed to get cheaper), so the fit follows a layout whose registrations cost the
    same at any size as well as one whose cost grows with the size.
    """
    if not history:
        return 0.0, 0.0
    xs, ys = [float(n) for n, _ in history], [s for _, s in history]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = max(0.0, sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread) if spread else 0.0
    return max(0.0, mean_y - slope * mean_x), slope


def grow_estimate(history: list[tuple[int, float]], start: int, end: int) -> float:
    """Seconds to grow from `start` to `end` versions, extrapolated from past registrations (growth_fit)."""
    intercept, slope = growth_fit(history)
    return (end - start) * intercept + slope * (end * end - start * start) / 2


def _check_sizes(settings: ScaleSettings) -> None:
    for smaller, larger in zip(settings.sizes, settings.sizes[1:], strict=False):
        if larger < smaller + 2 * settings.rounds:
            msg = f"sizes {smaller} and {larger} are too close: each of {settings.rounds} rounds adds 2 versions"
            raise ValueError(msg)


def _folders(root: Path, indices: range) -> Iterator[tuple[range, Callable[[int], Path]]]:
    """Write the growth folders of `indices` in batches; yield each batch and its folder lookup, then remove it."""
    for first in range(indices.start, indices.stop, _GROW_BATCH):
        batch = range(first, min(first + _GROW_BATCH, indices.stop))
        folder = root / f"grow-{first}"
        for index in batch:
            write_tiny_folder(folder / str(index), index)
        yield batch, lambda index, folder=folder: folder / str(index)  # type: ignore[misc]
        shutil.rmtree(folder)


def _open_systems(settings: ScaleSettings, scratch: Path, stack: ExitStack) -> tuple[list[System], str]:
    systems: list[System] = []
    mlflow_version = ""
    if "ours_local" in settings.systems:
        systems.append(OursSystem("ours_local", str(scratch / "local" / "registry"), None, settings.reads,
                                  settings.read_seconds))  # fmt: skip
    if "ours_gcs" in settings.systems:
        from benchmarks.gcs import start_emulator

        emulator = start_emulator()
        stack.callback(emulator.stop)
        _step(f"GCS emulator at {emulator.url}")
        root = f"gs://{emulator.create_bucket()}/registry"
        systems.append(OursSystem("ours_gcs", root, emulator.url, settings.reads, settings.read_seconds))
    if "mlflow" in settings.systems:
        mlflow = MLflowSystem(settings.mlflow_python, scratch / "mlflow", settings.reads, settings.read_seconds)
        stack.callback(mlflow.close)
        mlflow_version = mlflow.version
        systems.append(mlflow)
    return systems, mlflow_version


def run(settings: ScaleSettings, scratch: Path) -> ScaleResults:
    """Grow and measure every size, then the big registration.

    A system whose growth to the next size would take longer than ``max_grow_minutes`` (extrapolated) stops there;
    the others go on, and the report names what was skipped.
    """
    results = ScaleResults(settings)
    history: dict[str, list[tuple[int, float]]] = {}
    count = 0
    with ExitStack() as stack:
        systems, results.mlflow_version = _open_systems(settings, scratch, stack)
        for size in settings.sizes:
            estimates = {s.name: grow_estimate(history.get(s.name, []), count, size) for s in systems}
            for system in [s for s in systems if estimates[s.name] > settings.max_grow_minutes * 60]:
                minutes = estimates[system.name] / 60
                results.skipped.append({"size": size, "system": system.name, "estimate_minutes": minutes})
                _step(f"{system.name} stops before {size:,} versions: growing there would take about {minutes:.0f} min")
                systems.remove(system)
            if not systems:
                break
            _step(f"growing to {size:,} versions (estimated {sum(estimates[s.name] for s in systems):.0f} s)")
            result = SizeResult(size)
            for batch, folder in _folders(scratch / "grow", range(count + 1, size + 1)):
                for system in systems:
                    durations = system.grow(batch, folder)
                    history.setdefault(system.name, []).extend(durations)
                    result.grow_seconds[system.name] = result.grow_seconds.get(system.name, 0.0) + sum(
                        seconds for _, seconds in durations
                    )
            count = size
            result.metadata_bytes = {s.name: s.metadata_bytes() for s in systems}
            _step(f"{size:,} versions: grown ({', '.join(f'{k} {v:.0f} s' for k, v in result.grow_seconds.items())})")
            for round_ in range(settings.rounds):
                folders = RoundFolders(
                    write_tiny_folder(scratch / "round" / "tiny", count + 1), count + 1,
                    write_small_folder(scratch / "round" / "one-mb", count + 2), count + 2,
                )  # fmt: skip
                for system in systems if round_ % 2 == 0 else reversed(systems):
                    os.sync()
                    for operation, samples in system.round(folders, size // 2).items():
                        result.samples.setdefault(system.name, {}).setdefault(operation, []).extend(samples)
                shutil.rmtree(scratch / "round")
                count += 2
            results.sizes.append(result)
            _step(f"{size:,} versions: measured")
    results.growth = {name: growth_fit(samples) for name, samples in history.items()}
    if settings.big_mb:
        _step(f"a {settings.big_mb} MB registration against cp -r + sha256sum ({settings.big_rounds} rounds)")
        big = write_big_folder(scratch / "big", settings.big_mb)
        results.big = compare_big(big, scratch, settings.big_rounds)
        shutil.rmtree(big)
    return results


def main() -> None:
    """Run in a temporary folder (removed at the end), print the report, write the JSON results."""
    settings = ScaleSettings.from_environment()
    _check_sizes(settings)
    started, load_before = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="registry-bench-scale-") as scratch:
        results = run(settings, Path(scratch))
    results.elapsed_seconds = time.monotonic() - started
    results.load = (load_before, os.getloadavg()[0])
    print(render(results))
    write_json(results, settings.results_file)
    _step(f"done in {results.elapsed_seconds:.0f} s; results in {settings.results_file}")


if __name__ == "__main__":
    main()
