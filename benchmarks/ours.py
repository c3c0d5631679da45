"""The workload on our registry: sequential registrations, promotions, resolves, listings, P×K concurrent
registrations and one big model, on a local folder or on GCS (the emulator, requests counted).
"""  # noqa: D205

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.artifacts import Workload
from benchmarks.baselines import copy_and_hash, raw_upload
from benchmarks.concurrency import run_released
from benchmarks.measurements import (
    BIG,
    CONCURRENT,
    LIST,
    PROMOTE,
    RAW_BIG,
    REGISTER,
    RESOLVE,
    Counter,
    Measurement,
    measure,
)
from benchmarks.settings import MODEL_NAME, Settings
from registry_core import ModelRegistry, ModelStage, RegistryConfig

REGISTRANT = "trainer"  # registers every version
APPROVER = "reviewer"  # approves production (four-eyes: not the registrant)
OPERATOR = "operator"  # promotes


def bench_local(workload: Workload, settings: Settings, root: Path) -> dict[str, Measurement]:
    """Run the workload on a new local registry at `root`; the big folder's baseline is ``cp -r`` + ``sha256sum``."""
    registry = ModelRegistry(RegistryConfig(root=str(root)))
    results = run_workload(registry, None, workload, settings, str(root), emulator_url=None)
    results[BIG], results[RAW_BIG] = compare_big(
        _register(registry, workload.big), lambda: copy_and_hash(workload.big, root.parent / "raw-copy"), None,
        settings.big_rounds,
    )  # fmt: skip
    return results


def bench_gcs(workload: Workload, settings: Settings, emulator: Any) -> dict[str, Measurement]:
    """Run the workload on a new bucket of the emulator, counting the HTTP requests of each operation."""
    from benchmarks.gcs import counting_storage

    uri = f"gs://{emulator.create_bucket()}/registry"
    storage, counter = counting_storage(emulator.url, uri)
    registry = ModelRegistry(RegistryConfig(root=uri), storage=storage)
    results = run_workload(registry, counter, workload, settings, uri, emulator_url=emulator.url)
    results[BIG], results[RAW_BIG] = compare_big(
        _register(registry, workload.big), lambda: raw_upload(workload.big, emulator), counter, settings.big_rounds
    )
    return results


def run_workload(
    registry: ModelRegistry,
    counter: Counter | None,
    workload: Workload,
    settings: Settings,
    root_uri: str,
    emulator_url: str | None,
) -> dict[str, Measurement]:
    """Run every operation of the workload on `registry` and return what each one measured."""
    registry.storage.root_exists()  # open the connection before anything is timed
    results = {REGISTER: measure((_register(registry, f) for f in workload.sequential), counter)}
    promoted = [metadata.version for metadata in registry.list_versions(MODEL_NAME)][-settings.promotions :]
    results[PROMOTE] = measure((_promote_to_production(registry, label) for label in promoted), counter)
    production = registry.get_model_metadata(MODEL_NAME, stage=ModelStage.PRODUCTION)
    if production.version != promoted[-1]:
        msg = f"production is {production.version}, expected {promoted[-1]}"
        raise RuntimeError(msg)
    resolve = lambda: registry.get_model_metadata(MODEL_NAME, stage=ModelStage.PRODUCTION)  # noqa: E731
    results[RESOLVE] = measure((resolve for _ in range(settings.resolves)), counter)
    results[LIST] = measure((lambda: _list_all(registry, settings.versions) for _ in range(settings.lists)), counter)
    results[CONCURRENT] = register_concurrently(root_uri, workload.concurrent, emulator_url)
    return results


def compare_big(
    register: Callable[[], object], baseline: Callable[[], Measurement], counter: Counter | None, rounds: int
) -> tuple[Measurement, Measurement]:
    """Time the big registration and its baseline in alternating order, `rounds` times each; keep the fastest.

    Dirty pages of earlier work are written out (``sync``) before each timed step, so neither pays for the other.
    """
    ours: list[Measurement] = []
    raw: list[Measurement] = []
    for round_ in range(rounds):
        steps: list[Callable[[], None]] = [
            lambda: ours.append(measure([register], counter)),
            lambda: raw.append(baseline()),
        ]
        for step in steps if round_ % 2 == 0 else reversed(steps):
            os.sync()
            step()
    return min(ours, key=lambda m: m.seconds), min(raw, key=lambda m: m.seconds)


def _register(registry: ModelRegistry, folder: Path) -> Callable[[], object]:
    return lambda: registry.register_model(MODEL_NAME, folder, registered_by=REGISTRANT)


def _promote_to_production(registry: ModelRegistry, label: str) -> Callable[[], object]:
    """Return the timed step (STAGING → PRODUCTION with an approval) after the untimed steps before it."""
    registry.promote_model(MODEL_NAME, label, ModelStage.VALIDATION, actor=REGISTRANT)
    registry.promote_model(MODEL_NAME, label, ModelStage.STAGING, actor=REGISTRANT)
    return lambda: registry.promote_model(
        MODEL_NAME, label, ModelStage.PRODUCTION, approved_by=APPROVER, actor=OPERATOR
    )


def _list_all(registry: ModelRegistry, expected: int) -> None:
    listed = registry.list_versions(MODEL_NAME)
    if len(listed) != expected:
        msg = f"listed {len(listed)} versions, expected {expected}"
        raise RuntimeError(msg)


def register_concurrently(root_uri: str, folders: list[list[Path]], emulator_url: str | None) -> Measurement:
    """Register each folder list in its own ``ours_worker`` process, all released at once.

    Returns the wall time from the release to the last registration's end, and the mean requests per registration.
    """
    jobs = [{"root": root_uri, "emulator_url": emulator_url, "folders": [str(f) for f in batch]} for batch in folders]
    released, reports = run_released(sys.executable, "benchmarks.ours_worker", jobs)
    labels = [label for report in reports for label in report["versions"]]
    if len(set(labels)) != len(labels) or len(labels) != sum(len(batch) for batch in folders):
        msg = f"concurrent registrations gave {len(labels)} labels, {len(set(labels))} distinct"
        raise RuntimeError(msg)
    requests = [report["requests"] for report in reports]
    mean_requests = sum(requests) / len(labels) if None not in requests else None
    return Measurement(max(report["finished"] for report in reports) - released, mean_requests, len(labels))
