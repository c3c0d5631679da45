"""`model-registry serve-container`: one version on the prediction server, in a Vertex, KServe or SageMaker container.

`registry_core.deploy.container_settings` decides what to serve and where; this module fetches the SavedModel (a
registry version verified against its manifest, a folder, or a ``gs://`` folder downloaded first), checks it against
an expected digest when one is given, loads it as the local endpoint does, and serves it on the same app with the
platform's routes added (`registry_core.deploy.http_app.ContainerRoutes`).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from registry_core.artifacts import build_manifest
from registry_core.deploy.container_log import CONTAINER_ENDPOINT, container_service
from registry_core.deploy.container_settings import ContainerSettings
from registry_core.deploy.predictor import SavedModelPredictor
from registry_core.deploy.records import DeployedModel, EndpointRecord
from registry_core.deploy.runtime import EndpointRuntime
from registry_core.errors import (
    ArtifactIntegrityError,
    DeploymentError,
    InvalidInputError,
    NotFoundError,
    NotServingError,
)
from registry_core.metadata import utc_now
from registry_core.storage.base import StoredFile, hash_file, walk_files
from registry_core.text import shown


class FixedRuntime(EndpointRuntime):
    """An endpoint runtime serving one version at 100%, with no record to follow (a serving container's).

    It starts empty, so that the server can listen (and answer health checks with 503) while the model is fetched
    and loaded; `install` makes the loaded version serve.
    """

    def __init__(self) -> None:
        # EndpointRuntime's own __init__ opens the registry's stores: a container has none
        self.endpoint_name = CONTAINER_ENDPOINT
        self._rng = random.Random()  # noqa: S311 - routing, not security
        self._lock = threading.Lock()
        self._retry: set[str] = set()
        self.record = None
        self.predictors = {}
        self.load_errors = {}

    def install(self, deployment: DeployedModel, predictor: SavedModelPredictor) -> None:
        """Serve `predictor` as `deployment`, with all the traffic."""
        record = EndpointRecord(
            name=CONTAINER_ENDPOINT,
            target="container",
            created_at=deployment.deployed_at,
            deployments=(deployment,),
            traffic={deployment.id: 100},
        )
        with self._lock:
            self.predictors = {deployment.id: predictor}
            self.record = record

    def refresh(self) -> EndpointRecord:
        """Return the record (nothing changes while the container runs).

        Raises:
            NotServingError: the version is not loaded yet.
        """
        if self.record is None:
            msg = "the model is still loading"
            raise NotServingError(msg)
        return self.record


def folder_digest(folder: Path) -> str:
    """Return the manifest digest of a folder's files (the registry's ``artifact_digest`` of the same files)."""
    files = [StoredFile(rel, *hash_file(path)) for rel, path in walk_files(folder)]
    return build_manifest(files)[1]


def saved_model_folder(folder: Path) -> Path:
    """Return `folder`, or its one subfolder holding a SavedModel (TF Serving's ``<model>/<version>/`` layout).

    Raises:
        DeploymentError: neither holds a ``saved_model.pb``.
    """
    if (folder / "saved_model.pb").is_file():
        return folder
    inner = sorted(p for p in folder.iterdir() if (p / "saved_model.pb").is_file()) if folder.is_dir() else []
    if len(inner) == 1:
        return inner[0]
    msg = f"{folder} holds no TensorFlow SavedModel (no saved_model.pb in it or in one subfolder)"
    raise DeploymentError(msg)


class Fetched(NamedTuple):
    """A version's files, ready to load."""

    folder: Path  # local, verified
    digest: str  # the manifest digest of its files
    where: str  # where they came from, for people
    version: str  # the version the protocols report


def fetch(settings: ContainerSettings, scratch: Path) -> Fetched:
    """Return the local folder of the version to serve, verified, with its digest, origin and version.

    Args:
        settings: What to serve.
        scratch: A folder for a download.

    Raises:
        NotFoundError: the folder, bucket folder or registry version does not exist.
        ArtifactIntegrityError: the files are not those of the expected digest (or of the version's manifest).
        StorageError: the download failed.
    """
    if settings.model is not None:
        from registry_core.arguments import validate_name
        from registry_core.config import RegistryConfig
        from registry_core.loading import verified_folder
        from registry_core.model_store import ModelStore
        from registry_core.storage import open_storage

        validate_name(settings.model)
        config = RegistryConfig(root=settings.registry)
        storage = open_storage(config.root_uri, create=False, project=config.project_id)
        metadata = ModelStore(storage).resolve(settings.model, settings.version, settings.stage)
        folder = verified_folder(storage, metadata)  # refuses files that are not the manifest's
        if settings.digest is not None and metadata.artifact_digest != settings.digest:
            msg = (
                f"{metadata.model_name} {metadata.version} has artifact digest {metadata.artifact_digest}, "
                f"not the expected {settings.digest}"
            )
            raise ArtifactIntegrityError(msg)
        return Fetched(folder, metadata.artifact_digest, storage.uri, metadata.version)
    source = settings.source
    if source.startswith("gs://"):
        from registry_core.storage import open_storage

        bucket, _, prefix = source.removeprefix("gs://").strip("/").partition("/")
        if not prefix:
            msg = f"the model location {shown(source)} names a bucket; name the folder in it (gs://bucket/folder)"
            raise InvalidInputError(msg)
        folder = scratch / "model"
        open_storage(f"gs://{bucket}").download_dir(prefix, folder)
    else:
        folder = Path(source.removeprefix("file://"))
        if not folder.is_dir():
            msg = f"the model folder {shown(source)} does not exist"
            raise NotFoundError(msg)
    digest = folder_digest(folder)
    if settings.digest is not None and digest != settings.digest:
        msg = f"the files in {shown(source)} have digest {digest}, not the expected {settings.digest}; refusing them"
        raise ArtifactIntegrityError(msg)
    return Fetched(folder, digest, source, settings.model_version)


def load(settings: ContainerSettings, scratch: Path, runtime: FixedRuntime) -> str:
    """Fetch, verify and load the version into `runtime`; return a description of where it came from.

    Raises:
        RegistryError: as `fetch`; DeploymentError when the folder is no loadable SavedModel.
    """
    fetched = fetch(settings, scratch)
    predictor = SavedModelPredictor(saved_model_folder(fetched.folder))
    deployment = DeployedModel(
        id=settings.deployed_model_id,
        model_name=settings.model_name,
        version=fetched.version,
        artifact_digest=fetched.digest,
        artifact_uri=str(fetched.folder),
        deployed_by="serve-container",
        deployed_at=utc_now(),
    )
    runtime.install(deployment, predictor)
    return fetched.where


def run_container(settings: ContainerSettings, announce: Callable[[str], object]) -> int:
    """Listen, load the version, serve it until SIGTERM or SIGINT, and return the exit code (blocking).

    The server listens before the model is fetched and loaded (which may take a minute): platforms probe the port
    (Vertex AI restarts a container that does not accept connections within 40 s) and the health routes answer 503
    until the model serves.

    Args:
        settings: What to serve and where.
        announce: Called with one line saying what serves where, once the model serves.

    Raises:
        RegistryError: the address cannot be bound, or the version cannot be fetched, verified or loaded.
    """
    from registry_core.deploy.http_app import ContainerRoutes
    from registry_core.deploy.server import PredictionServer, serve_until_stopped

    runtime = FixedRuntime()
    routes = ContainerRoutes(
        model_name=settings.model_name,
        predict=settings.predict_route,
        health=settings.health_route,
        deployed_model_id=settings.deployed_model_id,
    )
    service = container_service(settings, runtime)
    server = PredictionServer(
        None, CONTAINER_ENDPOINT, host=settings.host, port=settings.port, service=service, container=routes
    )
    scratch = Path(tempfile.mkdtemp(prefix="serve-container-"))
    where: list[str] = []
    try:

        def loading() -> None:
            where.append(load(settings, scratch, runtime))

        def ready(url: str) -> None:
            record = runtime.record
            version = record.deployments[0].version if record is not None else settings.model_version
            predict = settings.predict_route or f"/v1/models/{settings.model_name}:predict"
            health = settings.health_route or "/health"
            announce(
                f"serving {settings.model_name} {version} from {where[0]} as a {settings.platform_name} container "
                f"on {url}: POST {predict}, GET {health}, /v2 and /invocations (Ctrl-C to stop)"
            )

        serve_until_stopped(server, ready, prepare=loading)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0
