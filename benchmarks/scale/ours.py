"""Our registry in the scale benchmark (local folder or GCS on the emulator): grown and measured through the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.scale.operations import (
    CLI_GET,
    FRESH,
    IN_PROCESS,
    LIST,
    PROCESS,
    PROMOTE,
    READS,
    REGISTER,
    REGISTER_1MB,
    RESOLVE_LABEL,
    RESOLVE_STAGE,
    WARM,
    read_op,
)
from benchmarks.scale.samples import Sample, Window, frozen_heap, repeated, timed, uncounted
from benchmarks.scale.workload import APPROVER, MODEL_NAME, OPERATOR, PRODUCTION, REGISTRANT, version_fields
from benchmarks.settings import REPO_ROOT
from registry_core import ModelRegistry, ModelStage, RegistryConfig

_PROBE = "benchmarks.scale.probe"
_PROBE_TIMEOUT = 600


@dataclass(frozen=True)
class RoundFolders:
    """The artifact folders a round registers (the same bytes for every system).

    Attributes:
        tiny: A 4 KB folder, registered as version number `tiny_index` (its metadata: version_fields).
        one_mb: A ~1 MB folder of 5 files, registered as version number `one_mb_index`.
    """

    tiny: Path
    tiny_index: int
    one_mb: Path
    one_mb_index: int


@dataclass(frozen=True)
class Expected:
    """What the reads must return: a read that returns anything else fails the benchmark.

    Attributes:
        production: Label of the production version.
        label: The label resolved by label.
        count: How many versions a listing returns.
    """

    production: str
    label: str
    count: int


def register(registry: ModelRegistry, folder: Path, index: int) -> str:
    """Register `folder` as version number `index` with its metadata; return the label it got."""
    fields = version_fields(index)
    metadata = registry.register_model(
        MODEL_NAME, folder, metrics=fields["metrics"], params=fields["params"], tags=fields["tags"],
        lineage=fields["lineage"], description=fields["description"], registered_by=REGISTRANT,
    )  # fmt: skip
    return metadata.version


def read_calls(registry: Callable[[], ModelRegistry], expected: Expected) -> dict[str, Callable[[], object]]:
    """Return the reads (RESOLVE_STAGE, RESOLVE_LABEL, LIST) on the registry `registry()` gives, each checking itself.

    A listing touches every version's stage and metrics, so a layout that loads them lazily pays for them here.
    """

    def resolve_stage() -> None:
        found = registry().get_model_metadata(MODEL_NAME, stage=ModelStage.PRODUCTION)
        _expect(found.version, expected.production, "production version")

    def resolve_label() -> None:
        found = registry().get_model_metadata(MODEL_NAME, version=expected.label)
        _expect(found.version, expected.label, "version by label")

    def list_all() -> None:
        listed = registry().list_versions(MODEL_NAME)
        _expect(len(listed), expected.count, "number of versions listed")
        in_production = sum(1 for m in listed if m.stage is ModelStage.PRODUCTION and m.metrics.accuracy is not None)
        _expect(in_production, 1, "versions listed in production")

    return {RESOLVE_STAGE: resolve_stage, RESOLVE_LABEL: resolve_label, LIST: list_all}


def _expect(found: object, wanted: object, what: str) -> None:
    if found != wanted:
        msg = f"{what}: got {found!r}, expected {wanted!r}"
        raise RuntimeError(msg)


class OursSystem:
    """One registry root with the one model, plus a registry object kept warm across calls.

    Args:
        name: "ours_local" or "ours_gcs".
        root: The registry root (a folder, or ``gs://bucket/prefix`` on the emulator).
        emulator_url: The emulator's URL for a gs:// root (requests and bytes are counted on the client's session).
        reads: At most this many calls of each in-process read per round...
        read_seconds: ...and no more once they took this long.
    """

    def __init__(self, name: str, root: str, emulator_url: str | None, reads: int, read_seconds: float) -> None:
        self.name = name
        self.root = root
        self.emulator_url = emulator_url
        self.reads, self.read_seconds = reads, read_seconds
        self.window: Window = uncounted
        self._client: Any = None
        if emulator_url is not None:
            from benchmarks.gcs import traffic_client

            self._client, counter = traffic_client(emulator_url)
            self.window = counter.window
        self.registry = self.new_registry()
        self.count = 0
        self.production: str | None = None

    def new_registry(self) -> ModelRegistry:
        """Return a new registry object on the root (a fresh reader; on GCS it shares the counted client)."""
        if self._client is None:
            return ModelRegistry(RegistryConfig(root=self.root))
        from registry_core.storage.gcs import GCSStorage

        return ModelRegistry(RegistryConfig(root=self.root), storage=GCSStorage(self.root, client=self._client))

    def grow(self, indices: Iterable[int], folder: Callable[[int], Path]) -> list[tuple[int, float]]:
        """Register version number i from ``folder(i)`` for each of `indices`; return (versions before, seconds)."""
        durations = []
        for index in indices:
            start = time.perf_counter()
            register(self.registry, folder(index), index)
            durations.append((self.count, time.perf_counter() - start))
            self.count += 1
        return durations

    def metadata_bytes(self) -> int | None:
        """Bytes of everything but artifacts under a local root (None on GCS)."""
        if self._client is not None:
            return None
        root = Path(self.root)
        return sum(
            path.stat().st_size for path in root.rglob("*")
            if path.is_file() and path.relative_to(root).parts[0] not in ("artifacts", "pending")
        )  # fmt: skip

    def round(self, folders: RoundFolders, label_index: int) -> dict[str, list[Sample]]:
        """Register two versions, promote the first to production, then time every read; return the samples.

        Args:
            folders: What to register.
            label_index: The version number whose label the label reads resolve (auto-increment: "v<number>").
        """
        with frozen_heap():
            return self._round(folders, f"v{label_index}")

    def _round(self, folders: RoundFolders, label: str) -> dict[str, list[Sample]]:
        samples: dict[str, list[Sample]] = {}
        sample, tiny = timed(lambda: register(self.registry, folders.tiny, folders.tiny_index), self.window)
        samples[REGISTER] = [sample]
        sample, _ = timed(lambda: register(self.registry, folders.one_mb, folders.one_mb_index), self.window)
        samples[REGISTER_1MB] = [sample]
        self.count += 2
        samples[PROMOTE] = [self._promote(tiny)]
        expected = Expected(production=tiny, label=label, count=self.count)
        ways: dict[str, Callable[[], ModelRegistry]] = {WARM: lambda: self.registry, FRESH: self.new_registry}
        for way in IN_PROCESS:
            for read, call in read_calls(ways[way], expected).items():
                samples[read_op(read, way)] = repeated(call, self.reads, self.read_seconds, self.window)
        for read in READS:
            samples[read_op(read, PROCESS)] = [self._probe(read, expected)]
        samples[CLI_GET] = [self._cli_get(expected)]
        return samples

    def _promote(self, label: str) -> Sample:
        """Take `label` to staging (not timed), then time the move to production with an approval."""
        self.registry.promote_model(MODEL_NAME, label, ModelStage.VALIDATION, actor=REGISTRANT)
        self.registry.promote_model(MODEL_NAME, label, ModelStage.STAGING, actor=REGISTRANT)
        sample, _ = timed(
            lambda: self.registry.promote_model(MODEL_NAME, label, PRODUCTION, approved_by=APPROVER, actor=OPERATOR),
            self.window,
        )
        self.production = label
        return sample

    def _probe(self, read: str, expected: Expected) -> Sample:
        """Run one read in a new process (``benchmarks.scale.probe``) and return its sample."""
        job = {"root": self.root, "emulator_url": self.emulator_url, "read": read, "expected": expected.__dict__}
        completed = subprocess.run(
            [sys.executable, "-m", _PROBE, json.dumps(job)], capture_output=True, cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=_PROBE_TIMEOUT, check=False,
        )  # fmt: skip
        if completed.returncode != 0:
            msg = f"the {self.name} probe of {read} failed: {completed.stderr.decode(errors='replace')[-3000:]}"
            raise RuntimeError(msg)
        sample: Sample = json.loads(completed.stdout.decode().strip().splitlines()[-1])
        return sample

    def _cli_get(self, expected: Expected) -> Sample:
        """Time ``model-registry --registry ROOT --json get-model NAME --stage production`` from start to exit."""
        cli = str(Path(sys.executable).with_name("model-registry"))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        if self.emulator_url is not None:
            env["STORAGE_EMULATOR_HOST"] = self.emulator_url
        argv = [cli, "--registry", self.root, "--json", "get-model", MODEL_NAME, "--stage", PRODUCTION]
        start = time.perf_counter()
        completed = subprocess.run(argv, capture_output=True, env=env, timeout=_PROBE_TIMEOUT, check=False)
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            msg = f"{' '.join(argv)} failed: {completed.stderr.decode(errors='replace')[-2000:]}"
            raise RuntimeError(msg)
        _expect(json.loads(completed.stdout)["version"], expected.production, "production version (CLI)")
        return {"seconds": seconds}
