"""Helpers of the web tests: a populated registry, IAP keys and tokens, an SMTP server, a webhook receiver, a server."""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support.background_server import BackgroundServer

from registry_core import ModelRegistry, RegistryConfig
from registry_core.deploy import DeploymentTarget, DeployResult, EndpointRecord, Prediction
from registry_core.metadata import ModelMetadata
from registry_core.monitoring import run_reports
from registry_core.monitoring.checks import Anomaly, AnomalyKind
from registry_core.monitoring.drift import L_INFINITY, WASSERSTEIN, FeatureDrift
from registry_core.monitoring.live_quality import LiveQuality
from registry_core.web.config import WebConfig

MODEL = "eyewear"
REGISTRANT = "alice"
TOKENS = {"alice-token-0001": "alice", "bob-token-00002": "bob", "carol-token-003": "carol"}
BEARER = {user: {"Authorization": f"Bearer {token}"} for token, user in TOKENS.items()}
SESSION_SECRET = "a-fixed-test-session-secret-0123456789"
AUDIENCE = "/projects/123456/global/backendServices/987654"
ENDPOINT = "shop"
MONITORING_START = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


def web_config(**overrides: Any) -> WebConfig:
    """Token mode with alice, bob and carol; no background scans."""
    settings: dict[str, Any] = {"tokens": TOKENS, "session_secret": SESSION_SECRET, "watch_interval_seconds": 0}
    return WebConfig.model_validate(settings | overrides)


def build_registry(root: Path, work: Path) -> ModelRegistry:
    """Register v1-v3 of `eyewear` (by alice), v1 in production (approved by bob), v2 in staging, v3 developing."""
    registry = ModelRegistry(RegistryConfig(root=str(root)))
    metrics = [
        {"accuracy": 0.81, "auc": 0.86, "loss": 0.52, "latency_ms": 4.1},
        {"accuracy": 0.86, "auc": 0.9, "loss": 0.41, "latency_ms": 4.6},
        {"accuracy": 0.84, "auc": 0.91, "loss": 0.44, "latency_ms": 3.2},
    ]
    for index, values in enumerate(metrics, 1):
        folder = work / f"export-{index}"
        (folder / "variables").mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(f"graph {index}".encode() * 50)
        (folder / "variables" / "variables.index").write_bytes(f"weights {index}".encode())
        registry.register_model(
            MODEL, folder, metrics=values, params={"epochs": 3 + index, "learning_rate": 0.01},
            description=f"eyewear recommender, run {index}", tags=["baseline"] if index == 1 else ["tuned"],
            lineage={"training_data_uris": [f"gs://data/eyewear/train-{index}-*.tfrecord"],
                     "pipeline_run": f"train-and-register-{index}", "code_version": f"abc{index}"},
            registered_by=REGISTRANT,
        )  # fmt: skip
    registry.promote_model(MODEL, "v1", "validation", actor=REGISTRANT)
    registry.promote_model(MODEL, "v1", "staging", actor=REGISTRANT)
    registry.promote_model(MODEL, "v1", "production", approved_by="bob", actor=REGISTRANT, reason="first release")
    registry.promote_model(MODEL, "v2", "validation", actor=REGISTRANT)
    registry.promote_model(MODEL, "v2", "staging", actor=REGISTRANT)
    return registry


class RecordingTarget(DeploymentTarget):
    """A deployment target that serves nothing: it only issues ids, so endpoint records can be made without TF."""

    kind: ClassVar[str] = "recording"

    def deploy(
        self, endpoint: EndpointRecord, metadata: ModelMetadata, artifacts: Path | None, traffic: dict[str, int]
    ) -> DeployResult:
        return DeployResult(deployed_id=uuid.uuid4().hex[:12], endpoint_ref=f"recording/{endpoint.name}")

    def set_traffic(self, endpoint: EndpointRecord, traffic: dict[str, int]) -> None:
        pass

    def undeploy(self, endpoint: EndpointRecord, deployed_id: str, traffic: dict[str, int]) -> None:
        pass

    def predict(self, endpoint: EndpointRecord, instances: list[Any], deployed_id: str | None = None) -> Prediction:
        raise NotImplementedError

    def needs_local_artifacts(self) -> bool:
        return False


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: Any, token: str, next_page: str = "/models") -> str:
    """Sign in through the form (a TestClient); return the session's CSRF token."""
    page = client.get(f"/login?next={next_page}")
    response = client.post("/login", data={"token": token, "csrf_token": csrf_of(page.text), "next": next_page},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_page
    return csrf_of(client.get(next_page).text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------------ monitoring

HOSTILE = '<img src=x onerror="alert(1)">'  # a client may send any instance key to a prediction endpoint


def _feature(name: str, test: str, score: float, threshold: float, current: int) -> dict[str, Any]:
    drift = FeatureDrift(feature=name, test=test, score=score, threshold=threshold, drifted=score > threshold,
                         baseline_count=2000, current_count=current)  # fmt: skip
    return drift.as_dict()


def _quality(accuracy: float) -> dict[str, Any]:
    """Live quality as the monitor computes it (its metrics' names) against validated 0.83 accuracy."""
    metrics = {"accuracy": accuracy, "precision_macro": accuracy - 0.02, "recall_macro": accuracy - 0.04,
               "f1_macro": accuracy - 0.03, "loss": 1.2 - accuracy}  # fmt: skip
    validated = {"accuracy": 0.83, "precision_macro": 0.81, "recall_macro": 0.79, "f1_macro": 0.8, "loss": 0.4}
    degraded = {"accuracy": round(0.83 - accuracy, 4)} if 0.83 - accuracy > 0.05 else {}
    quality = LiveQuality(labeled=300, unscorable=0, metrics=metrics, validated=validated,
                          tolerances={"accuracy": 0.05}, degraded=degraded)  # fmt: skip
    return quality.as_dict()


def monitoring_summary(
    registry: ModelRegistry, keys: run_reports.ReportKeys, day: int, **changes: Any
) -> dict[str, Any]:
    """A run of `monitor shop` on day `day` (0-3): calm first, drift in face_width_mm and worse accuracy later.

    Its parts are what the monitoring modules produce (`as_dict` of their results); its keys are those README
    "Data quality and monitoring" lists for ``monitor --json``.
    """
    at = MONITORING_START + timedelta(days=day)
    predictions = 800 + day
    width_score = [0.05, 0.08, 0.31, 0.41][day]
    accuracy = [0.82, 0.81, None, 0.71][day]
    quality = _quality(accuracy) if accuracy is not None else None
    retrain = day == 3
    anomalies = [
        Anomaly(feature="face_shape", kind=AnomalyKind.UNKNOWN_CATEGORY, fraction=0.02, values=(HOSTILE,),
                description=f"face_shape has values outside its domain in 2.0% of rows: {HOSTILE}").as_dict()
    ] if day == 3 else []  # fmt: skip
    drifted = width_score > 0.2 or bool(anomalies)  # a schema anomaly counts as drift, as in MonitorResult
    summary = {
        "endpoint": ENDPOINT, "model": MODEL, "version": "v1", "checked_at": at.isoformat(),
        "window": {"start": (at - timedelta(hours=24)).isoformat(), "end": at.isoformat(), "seconds": 86400.0},
        "predictions": predictions, "other_versions": {"v2": 40} if day == 3 else {},
        "unprofiled": 0, "enough_predictions": True, "drift_detected": drifted,
        "features": {
            "face_width_mm": _feature("face_width_mm", WASSERSTEIN, width_score, 0.2, predictions),
            "face_shape": _feature("face_shape", L_INFINITY, 0.03 + day / 100, 0.1, predictions),
            HOSTILE: _feature(HOSTILE, L_INFINITY, 0.01, 0.1, predictions),
        },
        "anomalies": anomalies,
        "quality": quality,
        "quality_degraded": bool(quality and quality["quality_degraded"]),
        "alert": drifted or bool(quality and quality["quality_degraded"]),
        "complete": True, "gaps": {},
        "retrain_triggered": retrain,
        "retrain": {"status": "registered", "runner": "local", "run": "train-and-register-20261128", "version": "v3"}
        if retrain else None,
        "reason": "drift in face_width_mm (0.41 > 0.2); accuracy 0.71 against 0.83 at validation" if retrain else "",
        "summary_uri": registry.storage.uri_for(keys.summary),
        "report_uri": registry.storage.uri_for(keys.page),
    }  # fmt: skip
    return summary | changes


def write_monitoring_runs(registry: ModelRegistry, days: range = range(4)) -> list[run_reports.ReportKeys]:
    """Store the summaries and pages of the runs of `days` (see `monitoring_summary`)."""
    written = []
    for day in days:
        keys = run_reports.new_report_keys(ENDPOINT, MONITORING_START + timedelta(days=day))
        # a page styled inline, as the monitor writes them, with a script as a page altered in storage might have
        page = (f"<!doctype html><html><head><title>Run of day {day}</title><style>h1 {{color: rgb(185, 28, 28)}}"
                f"</style></head><body><h1>Run of day {day}</h1><script>document.title = 'script ran'</script>"
                "</body></html>")  # fmt: skip
        run_reports.write_report(registry.storage, keys, monitoring_summary(registry, keys, day), page)
        written.append(keys)
    return written


# ------------------------------------------------------------------------------------------------------ IAP


@dataclass
class IAPKeys:
    """An ES256 key pair whose public half is in a JWKS file, and a signer of IAP-like assertions."""

    private: ec.EllipticCurvePrivateKey
    kid: str
    jwks_file: Path

    @classmethod
    def create(cls, folder: Path, kid: str = "test-key-1") -> IAPKeys:
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        jwk |= {"kid": kid, "alg": "ES256", "use": "sig"}
        path = folder / "iap-keys.json"
        path.write_text(json.dumps({"keys": [jwk]}))
        return cls(private, kid, path)

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self,
        email: str,
        *,
        audience: str = AUDIENCE,
        issuer: str = "https://cloud.google.com/iap",
        expires_in: int = 600,
        key: ec.EllipticCurvePrivateKey | None = None,
        kid: str | None = None,
    ) -> str:
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience, "email": email, "sub": f"accounts.google.com:{email}",
                  "iat": now - 5, "exp": now + expires_in}  # fmt: skip
        return jwt.encode(claims, key or self.private, algorithm="ES256", headers={"kid": kid or self.kid})


# ---------------------------------------------------------------------------------------------------- servers


@dataclass
class Delivery:
    """A request the webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-registry-signature", ""))


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records POSTs; `fail_first` answers the first N with 500."""

    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    attempts: int = 0
    condition: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.condition:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        receiver.deliveries.append(Delivery(self.path, headers, body))
                    receiver.condition.notify_all()
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.background = BackgroundServer(Handler, name="webhook-receiver").start()
        self.url = f"{self.background.url}/hooks/registry"

    def wait_for(self, predicate: Callable[[list[Delivery]], bool], timeout: float = 10.0) -> list[Delivery]:
        with self.condition:
            if not self.condition.wait_for(lambda: predicate(self.deliveries), timeout):
                raise AssertionError(f"webhook deliveries not as expected after {timeout}s: {self.deliveries}")
            return list(self.deliveries)

    def stop(self) -> None:
        self.background.stop()


class SMTPSink:
    """An aiosmtpd server on 127.0.0.1 keeping every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.condition = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
                with sink.condition:
                    sink.messages.append(message_from_bytes(envelope.content, policy=email.policy.default))
                    sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                    sink.condition.notify_all()
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.messages) >= count, timeout):
                subjects = [m["Subject"] for m in self.messages]
                raise AssertionError(f"expected {count} e-mails within {timeout}s, got {subjects}")
            return list(self.messages)

    def stop(self) -> None:
        self.controller.stop()
