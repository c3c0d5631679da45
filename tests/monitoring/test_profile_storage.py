"""Profiles stored as statistics.pb and schema.pbtxt, on a local folder and on GCS (emulator)."""

from __future__ import annotations

import pytest
from monitoring_support import sample_rows
from tensorflow_metadata.proto.v0 import statistics_pb2

from registry_core.errors import CorruptRecordError, NotFoundError
from registry_core.monitoring.profile import profile_rows
from registry_core.monitoring.stored import load_profile, parse_profile, profile_files, save_profile
from registry_core.storage import open_storage


def test_a_saved_profile_loads_back_equal(storage_root: str) -> None:
    profile = profile_rows(sample_rows(100, seed=1), name="train")
    save_profile(profile, f"{storage_root}/profile")
    loaded = load_profile(f"{storage_root}/profile")
    assert loaded.statistics == profile.statistics
    assert loaded.schema == profile.schema
    stored = open_storage(f"{storage_root}/profile")
    assert b'name: "shape"' in stored.read("schema.pbtxt")
    assert statistics_pb2.DatasetFeatureStatisticsList.FromString(stored.read("statistics.pb")) == profile.statistics


def test_the_files_are_the_same_bytes_for_the_same_data() -> None:
    assert profile_files(profile_rows(sample_rows(50, seed=3))) == profile_files(profile_rows(sample_rows(50, seed=3)))


def test_a_missing_profile_is_not_found(tmp_path) -> None:
    with pytest.raises(NotFoundError):
        load_profile(tmp_path / "nothing")


def test_a_damaged_profile_is_reported_as_corrupt() -> None:
    with pytest.raises(CorruptRecordError, match="damaged"):
        parse_profile(b"\xff\xff", b"feature {")
