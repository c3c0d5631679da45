"""Verified access to a version's artifacts: a local folder checked against the manifest, or a loaded model."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from registry_core import layout
from registry_core.artifacts import manifest_digest, verify_folder
from registry_core.errors import CorruptRecordError, RegistryError
from registry_core.metadata import ModelMetadata
from registry_core.storage.base import StorageBackend
from registry_core.storage.transfer import Progress
from registry_core.tensorflow_import import import_tensorflow
from registry_core.text import shown

CACHE_ENV = "MODEL_REGISTRY_CACHE"


def cache_root() -> Path:
    """Folder where remote artifacts are downloaded ($MODEL_REGISTRY_CACHE or ~/.cache/model-registry)."""
    configured = os.environ.get(CACHE_ENV)
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base if configured else base / "model-registry"


def artifact_key(storage: StorageBackend, metadata: ModelMetadata) -> str:
    """Return the storage key of the version's artifact folder. Raises: RegistryError if it is outside the root."""
    key = layout.RootRelativeLocations(storage.uri).key(metadata.artifact_uri)
    if key is None:
        msg = f"{metadata.model_name} {metadata.version} points outside this registry: {metadata.artifact_uri}"
        raise RegistryError(msg)
    return key


def verified_folder(storage: StorageBackend, metadata: ModelMetadata, *, progress: Progress | None = None) -> Path:
    """Return a local folder with the version's artifacts, verified against its manifest.

    Local registries are verified in place; remote ones are downloaded once per digest into the cache
    (atomically, so a half-finished download is never reused) and verified on every call. `progress` is called
    with the bytes downloaded so far (never when nothing has to be downloaded).

    Raises:
        ArtifactIntegrityError: a file is missing, extra or modified. CorruptRecordError: the version's artifact digest
            is not that of its manifest.
    """
    what = f"{metadata.model_name} {metadata.version}"
    if manifest_digest(metadata.artifact_manifest) != metadata.artifact_digest:
        # The digest names the files approvals were given for, and the download cache's folder: a damaged record's
        # would count approvals of other artifacts, or lead that folder out of the cache ("../..").
        msg = f"{what}: its record's artifact digest {shown(metadata.artifact_digest)} is not its manifest's"
        raise CorruptRecordError(msg)
    key = artifact_key(storage, metadata)
    local = storage.local_path(key)
    if local is None:
        local = cache_root() / metadata.artifact_digest.replace(":", "-")
        if not local.is_dir():
            local.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".download-", dir=local.parent))
            try:
                storage.download_dir(key, staging, progress=progress)
                verify_folder(staging, metadata.artifact_manifest, what=what)
                try:
                    staging.rename(local)
                except OSError:
                    pass  # another process finished the same download first: verify that one below
                else:
                    return local  # verified a moment ago as the staging folder: no need to hash it all again
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    verify_folder(local, metadata.artifact_manifest, what=what)
    return local


def load_artifacts(storage: StorageBackend, metadata: ModelMetadata, *, progress: Progress | None = None) -> Any:
    """Return the loaded TensorFlow/Keras model for SavedModel or .keras artifacts, else the verified folder.

    `progress` is called with the bytes downloaded so far (see `verified_folder`).
    """
    folder = verified_folder(storage, metadata, progress=progress)
    names = {entry.path for entry in metadata.artifact_manifest}
    keras_files = sorted(n for n in names if n.endswith(".keras") and "/" not in n)
    if "saved_model.pb" not in names and not keras_files:
        return folder
    tf = import_tensorflow("loading TensorFlow models")
    if keras_files:
        return tf.keras.models.load_model(folder / keras_files[0])
    return tf.saved_model.load(str(folder))
