"""The Amazon SageMaker target: each deployment is a SageMaker model served as a production variant of an endpoint.

A deployment's id is its production variant's name (``v3-1a2b3c4d``); its SageMaker model (``<model>-<variant>``,
tagged with the registry model, version and artifact digest) runs the serving image on the version's artifacts as
an ``s3://.../model.tar.gz``, uploaded to `s3_bucket` when the registry is not on S3 itself. The SageMaker endpoint
has the registry endpoint's name. The model's environment names the registry model and version (what the serving
container reports and logs) and, on a ``gs://`` registry, ``REGISTRY_ROOT``, the registry endpoint
``REGISTRY_ENDPOINT`` and ``REGISTRY_LOG_SAMPLE_RATE``, so that the container logs its predictions there (it needs
credentials for the bucket: Google's, e.g. workload identity federation, given to the container).

Every change of variants (deploy, undeploy) creates a new endpoint config and moves the endpoint to it
(CreateEndpoint, then UpdateEndpoint); the old config is deleted once the endpoint serves the new one. Traffic
splits use UpdateEndpointWeightsAndCapacities: the registry's percentages become the variants' weights. An undeploy
that leaves no variant deletes the endpoint.

Every change is waited for (DescribeEndpoint until the endpoint is out of "Creating"/"Updating") without a time
limit: SageMaker takes 5-15 minutes to create or update an endpoint, and a waiter that gave up earlier would leave
a change applied that the registry never recorded. A failed change raises and is not recorded: a failed
CreateEndpoint leaves the endpoint "Failed", a failed UpdateEndpoint leaves it "InService" on its old config (with
a FailureReason), so the target checks which config the endpoint ended on.
Before each deploy the registry reconciles its record with the endpoint (`observe`): a variant that a deploy whose
client died left behind is recorded (its model's tags name the registry version), so a retry adds no second copy.

``boto3`` is imported inside the methods. Credentials and the API endpoint come from boto3's usual sources (the
environment, ``~/.aws``, an instance role; ``AWS_ENDPOINT_URL_SAGEMAKER`` and friends for a local stand-in);
throttling is retried by botocore's "standard" retry mode.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import tarfile
import tempfile
import time
import uuid
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from registry_core.deploy.base import (
    NEW_DEPLOYMENT,
    SERVING_IMAGE_VARIABLE,
    DeploymentTarget,
    DeployResult,
    ObservedDeployment,
    ObservedEndpoint,
    Prediction,
    VersionLookup,
    growing_delays,
    prediction_ids,
    require_new_deployment,
    translated_errors,
)
from registry_core.deploy.records import EndpointRecord
from registry_core.errors import DependencyMissingError, DeploymentError, InvalidInputError
from registry_core.metadata import ModelMetadata
from registry_core.text import one_line, shown

__all__ = [
    "SageMakerAccessDeniedError",
    "SageMakerError",
    "SageMakerTarget",
    "SageMakerThrottledError",
    "SageMakerValidationError",
]

_LOG = logging.getLogger(__name__)

MODEL_TAG = "registry_model"
VERSION_TAG = "registry_version"
DIGEST_TAG = "registry_digest"
ENDPOINT_TAG = "registry_endpoint"
BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
# Delays between DescribeEndpoint calls while a change is in progress: short at first (small changes finish fast),
# then every 30 s, for as long as it takes.
POLL_INITIAL_SECONDS = 0.5
POLL_MAX_SECONDS = 30.0
_INSTALL_HINT = "deploying to SageMaker needs boto3: pip install 'registry-core[aws]'"
_NAME_LIMIT = 63  # SageMaker names: letters, digits and hyphens, at most 63
_MAX_SETTING = 1024
_MAX_INSTANCES = 10_000
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/\S+$")
_NOT_FOUND = ("Could not find", "does not exist")
_MISSING = {"404", "NoSuchKey", "NotFound"}  # S3's answers to HEAD on a missing key


class SageMakerError(DeploymentError):
    """SageMaker (or S3, for the model.tar.gz) refused or failed a request."""


class SageMakerAccessDeniedError(SageMakerError):
    """The AWS credentials may not make the request (AccessDenied), or there are none."""


class SageMakerValidationError(SageMakerError):
    """SageMaker found the request invalid (ValidationException), e.g. an endpoint busy with another change."""


class SageMakerThrottledError(SageMakerError):
    """SageMaker kept throttling the request after botocore's retries."""


class SageMakerTarget(DeploymentTarget):
    """Endpoints on Amazon SageMaker, configured by the endpoint's (JSON-serializable) target settings.

    Args:
        role: ARN of the IAM role SageMaker runs the models as (ExecutionRoleArn).
        region: AWS region; by default AWS_REGION (or AWS_DEFAULT_REGION).
        image: The serving image (e.g. the project's, in ECR); by default REGISTRY_SERVING_IMAGE (deploying needs
            one).
        s3_bucket: Bucket to upload the artifacts to as model.tar.gz when the registry is not on S3.
        s3_prefix: Key prefix of those uploads.
        instance_type: Instance type of each variant.
        instance_count: Instances of each variant.
        log_sample_rate: Share of requests whose predictions the serving container logs, 0 to 1 (None: all, within
            the logger's hourly cap).

    Raises:
        InvalidInputError: a setting is missing or malformed.
    """

    kind: ClassVar[str] = "sagemaker"

    def __init__(
        self,
        role: str,
        region: str | None = None,
        image: str | None = None,
        s3_bucket: str | None = None,
        s3_prefix: str = "model-registry",
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        log_sample_rate: float | None = None,
    ) -> None:
        from registry_core.deploy.container_settings import check_sample_rate

        self.role = _text(role, "role")
        if not _ROLE.match(self.role):
            msg = f"the SageMaker role must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME), got {shown(role)}"
            raise InvalidInputError(msg)
        found_region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not found_region:
            msg = "the SageMaker target needs a region: --region or AWS_REGION"
            raise InvalidInputError(msg)
        self.region = _text(found_region, "region")
        if not _REGION.match(self.region):
            msg = f"the SageMaker region must be an AWS region such as 'us-east-1', got {shown(found_region)}"
            raise InvalidInputError(msg)
        found_image = image or os.environ.get(SERVING_IMAGE_VARIABLE)
        # Only deploying needs it: traffic changes and undeploys of a recorded endpoint work without.
        self.image = _text(found_image, "image") if found_image else None
        self.s3_bucket = _text(s3_bucket, "s3_bucket") if s3_bucket is not None else None
        self.s3_prefix = _text(s3_prefix, "s3_prefix").strip("/")
        self.instance_type = _text(instance_type, "instance_type")
        if isinstance(instance_count, bool) or not isinstance(instance_count, int):
            instance_count = 0
        if not 1 <= instance_count <= _MAX_INSTANCES:
            msg = f"the SageMaker setting instance_count must be an integer from 1 to {_MAX_INSTANCES}"
            raise InvalidInputError(msg)
        self.instance_count = instance_count
        self.log_sample_rate = check_sample_rate(log_sample_rate)
        self._clients: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"SageMakerTarget(region={self.region!r})"

    @property
    def settings(self) -> dict[str, Any]:
        """The settings this target was built from (what the endpoint's record keeps)."""
        return {
            "role": self.role,
            "region": self.region,
            "image": self.image,
            "s3_bucket": self.s3_bucket,
            "s3_prefix": self.s3_prefix,
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "log_sample_rate": self.log_sample_rate,
        }

    def recorded_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Return `settings` with the region and image taken from the environment, if they were."""
        return dict(settings) | {"region": self.region} | ({"image": self.image} if self.image else {})

    def check_deployable(self, metadata: ModelMetadata) -> None:
        """Refuse to deploy without a serving image, or without a bucket for artifacts outside S3.

        Raises:
            DeploymentError: no image, or no `s3_bucket` for artifacts that are not an s3:// model.tar.gz.
        """
        if self.image is None:
            msg = f"the SageMaker target needs a serving image: --serving-image or {SERVING_IMAGE_VARIABLE}"
            raise DeploymentError(msg)
        if _s3_tarball(metadata.artifact_uri) is None and self.s3_bucket is None:
            msg = (
                f"SageMaker serves an s3:// model.tar.gz; {metadata.model_name} {metadata.version} is at "
                f"{metadata.artifact_uri}: give --s3-bucket to upload it"
            )
            raise DeploymentError(msg)

    # ------------------------------------------------------------------------------------------- the interface

    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        """Create a SageMaker model for the version and add it to the endpoint as a variant with `traffic`.

        Raises:
            DeploymentError: the artifacts cannot be packaged, or SageMaker refused or failed.
        """
        self.check_deployable(metadata)
        require_new_deployment(traffic)
        model_data = self._model_data(metadata, artifacts)
        variant = f"{_name(metadata.version, 20)}-{uuid.uuid4().hex[:8]}"
        model_name = f"{_name(metadata.model_name, _NAME_LIMIT - len(variant) - 1)}-{variant}"
        tags = {
            MODEL_TAG: metadata.model_name, VERSION_TAG: metadata.version, DIGEST_TAG: metadata.artifact_digest,
            ENDPOINT_TAG: endpoint.name,
        }  # fmt: skip
        from registry_core.deploy.container_settings import MODEL_NAME_ENV, MODEL_VERSION_ENV, prediction_log_env

        environment = {
            MODEL_NAME_ENV: metadata.model_name,
            MODEL_VERSION_ENV: metadata.version,
            **prediction_log_env(self.registry_root, endpoint.name, self.log_sample_rate),
        }
        with self._translating(f"create the model {model_name}"):
            self._sagemaker().create_model(
                ModelName=model_name,
                PrimaryContainer={"Image": self.image, "ModelDataUrl": model_data, "Environment": environment},
                ExecutionRoleArn=self.role,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        name = endpoint.target_ref or _name(endpoint.name, _NAME_LIMIT)
        current = self._settled(name)
        variants = [] if current is None else self._variants(current)
        weights = {k: v for k, v in traffic.items() if k != NEW_DEPLOYMENT} | {variant: traffic[NEW_DEPLOYMENT]}
        variants.append(self._variant(variant, model_name))
        try:
            self._apply_config(name, current, variants, weights)
        except SageMakerError:
            if current is not None:  # the endpoint kept its old config: nothing uses the new model
                self._delete_model(model_name)
            raise
        _LOG.info("deployed %s as variant %s of the SageMaker endpoint %s", model_name, variant, name)
        return DeployResult(deployed_id=variant, target_ref=model_name, endpoint_ref=name, image=self.image or "")

    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        """Give the endpoint's variants the weights of `traffic` (UpdateEndpointWeightsAndCapacities).

        Raises:
            DeploymentError: SageMaker refused (e.g. a variant is not on the endpoint) or failed.
        """
        name = self._endpoint_name(endpoint)
        current = self._settled(name)
        if current is None:
            msg = f"the SageMaker endpoint {name} of endpoint {shown(endpoint.name)} does not exist"
            raise SageMakerError(msg)
        live = [v["VariantName"] for v in current.get("ProductionVariants", [])]
        # A share for a variant the endpoint lacks goes to SageMaker too, which refuses it: never drop it silently.
        named = live + [v for v, share in traffic.items() if share > 0 and v not in live]
        desired = [{"VariantName": v, "DesiredWeight": float(traffic.get(v, 0))} for v in named]
        with self._translating(f"set the weights of {name} to {traffic}"):
            self._sagemaker().update_endpoint_weights_and_capacities(
                EndpointName=name, DesiredWeightsAndCapacities=desired
            )
        self._settled(name)

    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        """Remove the variant `deployed_id` with a new endpoint config, or delete the endpoint if it was the last.

        A variant already gone from the endpoint is not an error: only the weights are applied.

        Raises:
            DeploymentError: SageMaker refused or failed.
        """
        name = self._endpoint_name(endpoint)
        current = self._settled(name)
        if current is None:
            _LOG.warning("the SageMaker endpoint %s is gone; nothing to undeploy", name)
            return
        variants = self._variants(current)
        gone = [v for v in variants if v["VariantName"] == deployed_id]
        kept = [v for v in variants if v["VariantName"] != deployed_id]
        if not gone:
            _LOG.warning("variant %s is not on %s any more; applying the split only", deployed_id, name)
            if traffic:
                self.set_traffic(endpoint, traffic)
            return
        if kept:
            self._apply_config(name, current, kept, traffic)
        else:
            with self._translating(f"delete the endpoint {name}"):
                self._sagemaker().delete_endpoint(EndpointName=name)
            self._delete_config(str(current["EndpointConfigName"]))
        self._delete_model(str(gone[0]["ModelName"]))

    def observe(self, endpoint: EndpointRecord, versions: VersionLookup) -> ObservedEndpoint:
        """Return the variants the SageMaker endpoint serves and their weights, once its change in progress is done.

        Variants the record lacks (e.g. a deploy whose client died before recording it) get the registry version
        named by their model's tags (``registry_model``, ``registry_version``, ``registry_digest``). Weights become
        percentages summing to 100.

        Raises:
            DeploymentError: SageMaker refused or failed.
        """
        name = endpoint.target_ref or _name(endpoint.name, _NAME_LIMIT)
        current = self._settled(name)
        if current is None:
            return ObservedEndpoint(endpoint_ref="")
        recorded = {d.id for d in endpoint.deployments}
        observed = [
            ObservedDeployment(
                id=v["VariantName"],
                target_ref=v["ModelName"],
                metadata=None if v["VariantName"] in recorded else self._registry_version(v["ModelName"], versions),
                description=f"variant {v['VariantName']} (model {v['ModelName']})",
            )
            for v in self._variants(current)
        ]
        weights = {str(v["VariantName"]): float(v.get("CurrentWeight", 0.0)) for v in current["ProductionVariants"]}
        return ObservedEndpoint(endpoint_ref=name, deployments=tuple(observed), traffic=_percentages(weights))

    def _registry_version(self, model_name: str, versions: VersionLookup) -> ModelMetadata | None:
        """Return the registry version a SageMaker model's tags name (with the same digest), or None."""
        client = self._sagemaker()
        with self._translating(f"read the tags of the model {model_name}"):
            arn = client.describe_model(ModelName=model_name)["ModelArn"]
            tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn).get("Tags", [])}
        name, version, digest = (tags.get(k, "") for k in (MODEL_TAG, VERSION_TAG, DIGEST_TAG))
        if not (name and version and digest):
            return None
        metadata = versions(name, version)
        return metadata if metadata is not None and metadata.artifact_digest == digest else None

    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        """Invoke the endpoint with ``{"instances": [...]}`` (on variant `deployed_id`, if given).

        Raises:
            DeploymentError: SageMaker refused or failed, or the answer is not ``{"predictions": [...]}``.
        """
        name = self._endpoint_name(endpoint)
        request: dict[str, Any] = {
            "EndpointName": name,
            "Body": json.dumps({"instances": instances}).encode(),
            "ContentType": "application/json",
            "Accept": "application/json",
        }
        if deployed_id is not None:
            request["TargetVariant"] = deployed_id
        with self._translating(f"invoke {name}"):
            answer = self._client("sagemaker-runtime").invoke_endpoint(**request)
            body = answer["Body"].read()
        try:
            answered = json.loads(body)
            predictions = answered["predictions"]
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"the SageMaker endpoint {name} answered no JSON predictions: {shown(body[:200])}"
            raise SageMakerError(msg) from exc
        variant = str(answer.get("InvokedProductionVariant") or deployed_id or "")
        try:
            version = endpoint.deployment(variant).version
        except KeyError:
            version = ""
        ids = prediction_ids(answered.get("predictionIds"), len(predictions))
        return Prediction(
            predictions=list(predictions), deployed_model_id=variant, model_version=version, prediction_ids=ids
        )

    # ------------------------------------------------------------------------------------------- endpoints

    def _endpoint_name(self, endpoint: EndpointRecord) -> str:
        if not endpoint.target_ref:
            msg = f"endpoint {shown(endpoint.name)} has no SageMaker endpoint recorded; deploy a model to it first"
            raise SageMakerError(msg)
        return endpoint.target_ref

    def _variant(self, variant: str, model_name: str) -> dict[str, Any]:
        return {
            "VariantName": variant,
            "ModelName": model_name,
            "InstanceType": self.instance_type,
            "InitialInstanceCount": self.instance_count,
        }

    def _variants(self, described: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the production variants of the endpoint's current config (model, instances), without weights."""
        config_name = str(described["EndpointConfigName"])
        with self._translating(f"read the endpoint config {config_name}"):
            config = self._sagemaker().describe_endpoint_config(EndpointConfigName=config_name)
        keys = ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount")
        return [{k: v[k] for k in keys if k in v} for v in config.get("ProductionVariants", [])]

    def _apply_config(
        self, name: str, current: dict[str, Any] | None, variants: list[dict[str, Any]], weights: dict[str, int]
    ) -> None:
        """Create a config of `variants` weighted by `weights`, move the endpoint to it, delete the old config."""
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        config_name = f"{name[: _NAME_LIMIT - 24]}-{stamp}-{uuid.uuid4().hex[:8]}"
        weighted = [v | {"InitialVariantWeight": float(weights.get(v["VariantName"], 0))} for v in variants]
        client = self._sagemaker()
        with self._translating(f"create the endpoint config {config_name}"):
            client.create_endpoint_config(EndpointConfigName=config_name, ProductionVariants=weighted)
        if current is None:
            with self._translating(f"create the endpoint {name}"):
                client.create_endpoint(EndpointName=name, EndpointConfigName=config_name)
        else:
            with self._translating(f"update the endpoint {name} to {config_name}"):
                client.update_endpoint(EndpointName=name, EndpointConfigName=config_name)
        settled = self._settled(name, must_exist=True)
        assert settled is not None  # must_exist
        if settled.get("EndpointConfigName") != config_name:
            # A failed update leaves the endpoint InService on its old config, saying why in FailureReason.
            self._delete_config(config_name)
            reason = settled.get("FailureReason", "no reason given")
            msg = one_line(f"SageMaker could not update the endpoint {name} (it kept its config): {reason}")
            raise SageMakerError(msg)
        if current is not None:
            self._delete_config(str(current["EndpointConfigName"]))

    def _delete_model(self, model_name: str) -> None:
        """Delete a SageMaker model no variant uses any more (a leftover is only clutter: warn)."""
        try:
            with self._translating(f"delete the model {model_name}"):
                self._sagemaker().delete_model(ModelName=model_name)
        except SageMakerError as exc:
            _LOG.warning("%s", exc)

    def _delete_config(self, config_name: str) -> None:
        """Delete an endpoint config no endpoint uses any more (a leftover is only clutter: warn)."""
        try:
            with self._translating(f"delete the endpoint config {config_name}"):
                self._sagemaker().delete_endpoint_config(EndpointConfigName=config_name)
        except SageMakerError as exc:
            _LOG.warning("%s", exc)

    def _settled(self, name: str, *, must_exist: bool = False) -> dict[str, Any] | None:
        """Wait, without a time limit, until the endpoint is not changing; return its description (None: no endpoint).

        Raises:
            SageMakerError: the endpoint's last change failed (status "Failed"), or it is gone and `must_exist`.
        """
        delays = growing_delays(POLL_INITIAL_SECONDS, POLL_MAX_SECONDS)
        started = time.monotonic()
        while True:
            described = self._describe(name)
            if described is None:
                if must_exist:
                    msg = f"the SageMaker endpoint {name} disappeared while it was changing"
                    raise SageMakerError(msg)
                return None
            status = str(described.get("EndpointStatus", ""))
            if status == "Failed":
                reason = described.get("FailureReason", "no reason given")
                msg = one_line(
                    f"the SageMaker endpoint {name} failed: {reason} (a failed endpoint serves nothing: delete it "
                    f"with `aws sagemaker delete-endpoint --endpoint-name {name}` before deploying there again)"
                )
                raise SageMakerError(msg)
            if status not in BUSY:
                return described
            _LOG.info("SageMaker endpoint %s is %s (%.0f s); waiting", name, status, time.monotonic() - started)
            time.sleep(next(delays))

    def _describe(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            with self._translating(f"read the endpoint {name}"):
                described: dict[str, Any] = self._sagemaker().describe_endpoint(EndpointName=name)
        except SageMakerValidationError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and any(s in str(cause) for s in _NOT_FOUND):
                return None
            raise
        return described

    # ------------------------------------------------------------------------------------------- artifacts

    def _model_data(self, metadata: ModelMetadata, artifacts: Path | None) -> str:
        """Return the s3:// model.tar.gz of the version, uploading the verified artifacts if needed."""
        found = _s3_tarball(metadata.artifact_uri)
        if found is not None:
            return found
        if artifacts is None or self.s3_bucket is None:
            msg = "the SageMaker target needs the verified artifacts and an s3_bucket to upload them to"
            raise DeploymentError(msg)
        digest = metadata.artifact_digest.rpartition(":")[2][:16]
        key = f"{self.s3_prefix}/{metadata.model_name}/{metadata.version}/{digest}/model.tar.gz".lstrip("/")
        uri = f"s3://{self.s3_bucket}/{key}"
        s3 = self._client("s3")
        from botocore.exceptions import ClientError

        try:
            with self._translating(f"look for {uri}"):
                s3.head_object(Bucket=self.s3_bucket, Key=key)
        except SageMakerError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in _MISSING):
                raise
        else:
            return uri  # the same digest uploaded before (e.g. a rollback): reuse it
        with tempfile.TemporaryDirectory(prefix="registry-sagemaker-") as scratch:
            tarball = Path(scratch) / "model.tar.gz"
            with tarfile.open(tarball, "w:gz") as archive:
                for item in sorted(artifacts.iterdir()):  # the folder's contents at the top: SM_MODEL_DIR
                    archive.add(item, arcname=item.name)
            with self._translating(f"upload {metadata.model_name} {metadata.version} to {uri}"):
                s3.upload_file(str(tarball), self.s3_bucket, key)
        return uri

    # ------------------------------------------------------------------------------------------- boto3

    def _sagemaker(self) -> Any:
        return self._client("sagemaker")

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise DependencyMissingError(_INSTALL_HINT) from exc
            # Standard retry mode retries throttling and transient errors with backoff; long reads for invocations.
            config = Config(retries={"mode": "standard", "max_attempts": 8}, read_timeout=120)
            session = boto3.session.Session(botocore_session=_botocore_session())
            self._clients[service] = session.client(service, region_name=self.region, config=config)
        return self._clients[service]

    def _translating(self, what: str) -> AbstractContextManager[None]:
        """Turn boto3 errors raised inside into a one-line SageMakerError subclass chained to them."""
        return translated_errors(functools.partial(_sagemaker_error, what))


# ----------------------------------------------------------------------------------------------- helpers


def _sagemaker_error(what: str, exc: Exception) -> SageMakerError | None:
    """The SageMakerError that says what went wrong in `exc`, a boto3 error, or None for others."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or str(exc)
        kind: type[SageMakerError] = SageMakerError
        if code in {"AccessDenied", "AccessDeniedException", "UnrecognizedClientException"}:
            kind = SageMakerAccessDeniedError
        elif code in {"ValidationException", "ValidationError"}:
            kind = SageMakerValidationError
        elif "Throttl" in code or code in {"TooManyRequestsException", "SlowDown"}:
            kind = SageMakerThrottledError
        return kind(one_line(f"SageMaker could not {what}: {code}: {message}"))
    if isinstance(exc, NoCredentialsError):
        msg = f"SageMaker could not {what}: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID...)"
        return SageMakerAccessDeniedError(msg)
    if isinstance(exc, BotoCoreError):
        return SageMakerError(one_line(f"SageMaker could not {what}: {exc}"))
    return None


@functools.cache
def _service_models() -> Any:
    """One botocore data loader per process: it keeps the parsed service models (SageMaker's is large)."""
    import botocore.session

    return botocore.session.get_session().get_component("data_loader")


def _botocore_session() -> Any:
    """A fresh botocore session (credentials and settings read anew) sharing the parsed service models."""
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", _service_models())
    return session


def _percentages(weights: dict[str, float]) -> dict[str, int]:
    """Return SageMaker's relative variant weights as whole percentages summing to 100 (largest remainders)."""
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        return {}
    exact = {k: 100 * w / total for k, w in weights.items() if w > 0}
    shares = {k: int(v) for k, v in exact.items()}
    for key in sorted(exact, key=lambda k: (shares[k] - exact[k], k))[: 100 - sum(shares.values())]:
        shares[key] += 1
    return shares


def _s3_tarball(artifact_uri: str) -> str | None:
    """Return the artifact URI if it is already an s3:// .tar.gz SageMaker can use as ModelDataUrl, else None."""
    return artifact_uri if artifact_uri.startswith("s3://") and artifact_uri.endswith(".tar.gz") else None


def _name(text: str, limit: int) -> str:
    """Return `text` as a SageMaker name part: letters, digits and single hyphens, at most `limit` characters."""
    cleaned = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:limit].strip("-")
    return cleaned or "x"


def _text(value: object, what: str) -> str:
    # Settings are kept in the endpoint's record: bounded, so that the record always reads back.
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_SETTING or not value.isprintable():
        msg = (
            f"the SageMaker setting {what} must be a non-empty printable string of at most {_MAX_SETTING} "
            f"characters, got {shown(value)}"
        )
        raise InvalidInputError(msg)
    return value.strip()
