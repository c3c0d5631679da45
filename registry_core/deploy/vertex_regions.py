"""Vertex AI regions: where a model's artifacts may live, and which region a resource name or API host is in.

Vertex AI is a regional service: a model uploaded in ``us-central1`` must read its ``gs://`` artifact folder from a
bucket in that same region. The service refuses a bucket anywhere else, multi-regions included, with
"FailedPrecondition: 400 The Cloud Storage bucket of `gs://...` is in location `us`. It must be in the same regional
location as the service location `us-central1`." (googleapis/python-aiplatform#885, the SDK's own comment in
``utils/gcs_utils.py`` on why it creates regional staging buckets, and the import-model guide: "the bucket's region
matches the regional endpoint you're using"). A model serves only on endpoints of its own region, so an endpoint's
region decides where its models are uploaded.

``google-cloud-storage`` is imported inside `check_artifact_bucket` only.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from registry_core.errors import DeploymentError, RegionMismatchError
from registry_core.google_errors import api_message
from registry_core.text import one_line

__all__ = ["artifact_bucket_accepted", "check_artifact_bucket", "host_region", "location_of"]

_LOG = logging.getLogger(__name__)
_RESOURCE = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)(?:/|$)")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_REGIONAL_HOST = re.compile(r"^(?:https?://)?(?P<region>[a-z]+-[a-z]+[0-9]+)-aiplatform\.googleapis\.com(?::\d+)?/?$")


def location_of(resource_name: str) -> str | None:
    """Return the location of ``projects/{p}/locations/{location}/...``, or None for another kind of name."""
    match = _RESOURCE.match(resource_name)
    return match["location"] if match else None


def host_region(api_endpoint: str) -> str | None:
    """Return the region of a regional Vertex AI host (``europe-west4-aiplatform.googleapis.com``), else None."""
    match = _REGIONAL_HOST.match(api_endpoint.strip().lower())
    return match["region"] if match else None


def artifact_bucket_accepted(bucket_location: str, region: str) -> bool:
    """True if a model in `region` may read artifacts from a bucket in `bucket_location` (the same region only)."""
    return bucket_location.strip().lower() == region.strip().lower()


def check_artifact_bucket(artifact_uri: str, region: str, project: str, credentials: Any) -> None:
    """Refuse to upload a model in `region` whose ``gs://`` artifacts are in a bucket Vertex AI would refuse.

    The bucket's location is read with google-cloud-storage (``STORAGE_EMULATOR_HOST`` is honoured). If the caller
    may not read the bucket's metadata (it may still be allowed to read objects), Vertex AI is left to judge.

    Raises:
        RegionMismatchError: the bucket is in another region or a multi-region.
        DeploymentError: the bucket does not exist or cannot be read.
    """
    from google.api_core import exceptions as api_exceptions
    from google.cloud import storage

    bucket_name = artifact_uri.removeprefix("gs://").split("/", 1)[0]
    client = storage.Client(project=project, credentials=credentials)
    try:
        bucket = client.lookup_bucket(bucket_name)
    except api_exceptions.Forbidden:
        _LOG.warning("cannot read the location of gs://%s (permission denied); Vertex AI will check it", bucket_name)
        return
    except api_exceptions.GoogleAPIError as exc:
        msg = one_line(f"cannot read the location of the artifact bucket gs://{bucket_name}: {api_message(exc)}")
        raise DeploymentError(msg) from exc
    finally:
        client.close()
    if bucket is None:
        msg = f"the artifact bucket gs://{bucket_name} does not exist"
        raise DeploymentError(msg)
    location = str(bucket.location or "")
    if artifact_bucket_accepted(location, region):
        return
    if _REGION.match(location.lower()):
        where, advice = location, f"deploy to {location.lower()} or keep the registry in a bucket in {region}"
    else:  # a multi-region (US, EU, ASIA) or a dual-region (NAM4...)
        where, advice = f"{location} (not a single region)", f"keep the registry in a bucket in {region}"
    msg = (
        f"Vertex AI in {region} cannot read the artifacts at {artifact_uri}: bucket gs://{bucket_name} is in "
        f"{where}, and Vertex AI takes a model's artifacts only from a bucket in the model's own region; {advice}"
    )
    raise RegionMismatchError(msg)
