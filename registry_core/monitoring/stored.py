"""A profile on disk or GCS: ``statistics.pb`` (binary DatasetFeatureStatisticsList) and ``schema.pbtxt`` (text)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from registry_core.errors import ArtifactIntegrityError, CorruptRecordError, NotFoundError
from registry_core.loading import artifact_key
from registry_core.metadata import ModelMetadata
from registry_core.monitoring.profile import DataProfile
from registry_core.storage import StorageBackend, open_storage

STATISTICS_FILE = "statistics.pb"
SCHEMA_FILE = "schema.pbtxt"
PROFILE_FOLDER = "data_profile"
"""Where a registered version keeps its training-data profile, inside its artifact folder."""


def profile_files(profile: DataProfile) -> dict[str, bytes]:
    """Return the files of `profile`: file name to bytes (the same bytes for the same profile)."""
    return {
        STATISTICS_FILE: profile.statistics.SerializeToString(deterministic=True),
        SCHEMA_FILE: text_format.MessageToString(profile.schema).encode(),
    }


def save_profile(profile: DataProfile, folder: str | os.PathLike[str]) -> None:
    """Write `profile` into `folder`: a local path (created if missing) or ``gs://bucket/prefix``."""
    storage = open_storage(str(folder))
    for name, data in profile_files(profile).items():
        storage.write(name, data)


def load_profile(folder: str | os.PathLike[str]) -> DataProfile:
    """Read a profile written by `save_profile` (or by TensorFlow Data Validation, with the same file names).

    Raises:
        NotFoundError: a file is missing.
        CorruptRecordError: a file does not parse.
    """
    storage = open_storage(str(folder), create=False)
    return parse_profile(storage.read(STATISTICS_FILE), storage.read(SCHEMA_FILE), where=str(folder))


def parse_profile(statistics: bytes, schema: bytes, *, where: str = "") -> DataProfile:
    """Return the profile held in the bytes of ``statistics.pb`` and ``schema.pbtxt``.

    Raises:
        CorruptRecordError: a file does not parse, or the statistics hold no data set.
    """
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    parsed = schema_pb2.Schema()
    try:
        stats.ParseFromString(statistics)
        text_format.Parse(schema.decode("utf-8"), parsed)
    except (DecodeError, text_format.ParseError, UnicodeDecodeError) as exc:
        msg = f"the data profile in {where or 'the given bytes'} is damaged: {exc}"
        raise CorruptRecordError(msg) from None
    if not stats.datasets:
        msg = f"the data profile in {where or 'the given bytes'} holds no statistics"
        raise CorruptRecordError(msg)
    return DataProfile(statistics=stats, schema=parsed)


def write_profile_folder(profile: DataProfile, folder: Path) -> Path:
    """Write `profile` into ``folder/data_profile/`` (before the folder is registered) and return that path."""
    target = folder / PROFILE_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    for name, data in profile_files(profile).items():
        (target / name).write_bytes(data)
    return target


def profile_lineage(profile: DataProfile) -> dict[str, str]:
    """Return the lineage entries that point at a version's profile and summarize it (`Lineage.extra`)."""
    summary = profile.summary()
    return {
        "data_profile": PROFILE_FOLDER,
        "data_profile_examples": str(summary["num_examples"]),
        "data_profile_features": str(summary["num_features"]),
    }


def read_version_profile(storage: StorageBackend, metadata: ModelMetadata) -> DataProfile:
    """Read the profile stored in a version's artifacts, checking each file against the version's manifest.

    Raises:
        NotFoundError: the version was registered without a profile.
        ArtifactIntegrityError: a profile file is missing or differs from the manifest.
        CorruptRecordError: a profile file does not parse.
    """
    what = f"{metadata.model_name} {metadata.version}"
    entries = {entry.path: entry for entry in metadata.artifact_manifest}
    names = (STATISTICS_FILE, SCHEMA_FILE)
    if any(f"{PROFILE_FOLDER}/{name}" not in entries for name in names):
        msg = f"{what} has no data profile (it was registered without {PROFILE_FOLDER}/{STATISTICS_FILE})"
        raise NotFoundError(msg)
    folder = artifact_key(storage, metadata)
    data: dict[str, bytes] = {}
    for name in names:
        entry = entries[f"{PROFILE_FOLDER}/{name}"]
        try:
            data[name] = storage.read(f"{folder}/{entry.path}")
        except NotFoundError:
            msg = f"artifacts of {what} do not match their manifest: missing {entry.path}"
            raise ArtifactIntegrityError(msg) from None
        if len(data[name]) != entry.size or hashlib.sha256(data[name]).hexdigest() != entry.sha256:
            msg = f"artifacts of {what} do not match their manifest: modified {entry.path}"
            raise ArtifactIntegrityError(msg)
    return parse_profile(data[STATISTICS_FILE], data[SCHEMA_FILE], where=f"{what} ({PROFILE_FOLDER}/)")
