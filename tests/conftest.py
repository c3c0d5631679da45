"""Shared fixtures: a GCS emulator for the session, a fresh bucket per test, and both storage backends."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `from support.gcs_emulator import ...`

from support.gcs_emulator import GCSEmulator

from registry_core.storage import StorageBackend, open_storage

_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSEmulator]:
    """Run fake-gcs-server for the whole session and point STORAGE_EMULATOR_HOST (inherited by subprocesses) at it."""
    emulator = GCSEmulator(log_dir=tmp_path_factory.mktemp("gcs-emulator"))
    emulator.start()
    previous = os.environ.get(_EMULATOR_ENV)
    os.environ[_EMULATOR_ENV] = emulator.url
    try:
        yield emulator
    finally:
        if previous is None:
            os.environ.pop(_EMULATOR_ENV, None)
        else:
            os.environ[_EMULATOR_ENV] = previous
        emulator.stop()


@pytest.fixture
def gcs_bucket(gcs_emulator: GCSEmulator) -> str:
    """Return the name of a new, empty bucket in the emulator."""
    return gcs_emulator.create_bucket()


@pytest.fixture(params=["local", "gcs"])
def storage_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a registry root URI on each backend in turn: a local folder, then ``gs://<fresh bucket>/registry``."""
    if request.param == "local":
        return str(tmp_path / "registry")
    bucket = request.getfixturevalue("gcs_bucket")  # only GCS runs start the emulator
    return f"gs://{bucket}/registry"


@pytest.fixture
def storage(storage_root: str) -> StorageBackend:
    """Return the storage backend for `storage_root`."""
    return open_storage(storage_root)
