"""Amazon SageMaker and S3 on 127.0.0.1: moto's server, behind a small proxy that adds what moto lacks.

moto 5.1 answers CreateModel, CreateEndpointConfig, CreateEndpoint, DescribeEndpoint,
UpdateEndpointWeightsAndCapacities, DeleteEndpoint... but finishes every change at once and has no UpdateEndpoint.
The real service takes minutes: an endpoint is "Creating" or "Updating" meanwhile, and refuses other changes with a
ValidationException. The proxy forwards every SageMaker call to moto, and

* implements UpdateEndpoint on moto's own backend (the endpoint takes the new config's variants and weights);
* after each change of an endpoint, answers the next `busy_reports` DescribeEndpoint calls with "Creating" or
  "Updating", and refuses changes of that endpoint meanwhile, as SageMaker does;
* with `fail_next`, fails the next change with that reason as SageMaker does: a failed CreateEndpoint leaves the
  endpoint "Failed"; a failed UpdateEndpoint leaves it "InService" on its old config, with a FailureReason;
* with `throttle`, answers that many calls with a ThrottlingException first;
* refuses the actions in `deny` with an AccessDeniedException, as IAM does.

S3 and SageMaker Runtime go to moto directly. Point boto3 at both with `environment()`.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from support.background_server import BackgroundServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/registry-sagemaker"
_SCOPE = re.compile(r"Credential=[^/]+/[0-9]+/([a-z0-9-]+)/")
_CHANGES = {"CreateEndpoint", "UpdateEndpoint", "UpdateEndpointWeightsAndCapacities", "DeleteEndpoint"}


@dataclass
class _Busy:
    status: str
    remaining: int
    failure: str = ""


@dataclass
class SageMakerStandIn:
    """moto's server and the proxy, both on 127.0.0.1 with free ports.

    Attributes:
        busy_reports: DescribeEndpoint answers that report a change in progress after each change.
        fail_next: If set, the next CreateEndpoint or UpdateEndpoint fails with this reason.
        throttle: Calls still to be answered with a ThrottlingException.
        deny: Actions refused with an AccessDeniedException.
        calls: The SageMaker actions called through the proxy, with their request bodies, in order.
    """

    busy_reports: int = 0
    fail_next: str = ""
    throttle: int = 0
    deny: set[str] = field(default_factory=set)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    moto_url: str = ""
    url: str = ""
    _busy: dict[str, _Busy] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def environment(self) -> dict[str, str]:
        """The environment that points boto3 here, with fake credentials."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_SAGEMAKER": self.url,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        }

    def reset(self) -> None:
        """Forget every resource, call and setting (moto's /moto-api/reset)."""
        host, port = self.moto_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("POST", "/moto-api/reset")
        connection.getresponse().read()
        connection.close()
        with self._lock:
            self.calls.clear()
            self._busy.clear()
        self.busy_reports = 0
        self.fail_next = ""
        self.throttle = 0
        self.deny = set()

    def set_invocation_results(self, *results: dict[str, Any]) -> None:
        """Queue what moto's InvokeEndpoint answers to the next new requests (Body, ContentType...)."""
        host, port = self.moto_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        payload = json.dumps({"account_id": ACCOUNT, "region": REGION, "results": list(results)})
        connection.request("POST", "/moto-api/static/sagemaker/endpoint-results", body=payload)
        assert connection.getresponse().status == 201
        connection.close()

    def actions(self) -> list[str]:
        """The SageMaker actions called so far, in order."""
        return [action for action, _ in self.calls]

    # --------------------------------------------------------------------------------------- the proxy's work

    def handle(self, action: str, region: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """Answer `action` here (status, body), or return None to forward it to moto."""
        with self._lock:
            self.calls.append((action, body))
            if action in self.deny:
                message = (
                    f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ci/session is not authorized to perform: "
                    f"sagemaker:{action} because no identity-based policy allows the sagemaker:{action} action"
                )
                return 400, _error("AccessDeniedException", message)
            if self.throttle > 0:
                self.throttle -= 1
                return 400, _error("ThrottlingException", "Rate exceeded")
            name = str(body.get("EndpointName", ""))
            busy = self._busy.get(name)
            if busy is not None and busy.remaining > 0 and action in _CHANGES:
                return 400, _error(
                    "ValidationException",
                    f'Cannot update in-progress endpoint "arn:aws:sagemaker:{region}:'
                    f'{ACCOUNT}:endpoint/{name.lower()}".',
                )
        if action == "UpdateEndpoint":
            return self._update_endpoint(region, body, apply=not self.fail_next)
        return None

    def after(self, action: str, body: dict[str, Any], status: int, answer: dict[str, Any]) -> dict[str, Any]:
        """Rewrite moto's answer to `action` (status, JSON body): busy and failed endpoints."""
        name = str(body.get("EndpointName", ""))
        with self._lock:
            if action in _CHANGES and status == 200 and action != "DeleteEndpoint":
                state = "Creating" if action == "CreateEndpoint" else "Updating"
                self._busy[name] = _Busy(state, self.busy_reports, self.fail_next)
                self.fail_next = ""
            if action == "DescribeEndpoint" and status == 200 and (busy := self._busy.get(name)) is not None:
                if busy.remaining > 0:
                    busy.remaining -= 1
                    answer["EndpointStatus"] = busy.status
                elif busy.failure:
                    answer["EndpointStatus"] = "Failed" if busy.status == "Creating" else "InService"
                    answer["FailureReason"] = busy.failure
        return answer

    def _update_endpoint(self, region: str, body: dict[str, Any], *, apply: bool) -> tuple[int, dict[str, Any]]:
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[ACCOUNT][region]
        name, config_name = str(body.get("EndpointName", "")), str(body.get("EndpointConfigName", ""))
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}:endpoint/{name.lower()}"
            return 400, _error("ValidationException", f"Could not find endpoint '{arn}'.")
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}:endpoint-config/{config_name.lower()}"
            return 400, _error("ValidationException", f"Could not find endpoint configuration '{arn}'.")
        if not apply:  # the update will fail: SageMaker rolls back to the config the endpoint had
            return 200, {"EndpointArn": endpoint.arn}
        described = config.response_object
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(described["ProductionVariants"])
        return 200, {"EndpointArn": endpoint.arn}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "message": message}


def _handler(standin: SageMakerStandIn, moto_port: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            scope = _SCOPE.search(self.headers.get("Authorization", ""))
            region = scope.group(1) if scope else REGION
            body = json.loads(raw or b"{}")
            local = standin.handle(action, region, body)
            answer: dict[str, Any] | None
            if local is not None:
                status, answer = local
                data = b""
            else:
                connection = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                connection.request("POST", self.path, body=raw, headers=headers)
                reply = connection.getresponse()
                status, data = reply.status, reply.read()
                connection.close()
                try:
                    answer = json.loads(data or b"{}")
                except ValueError:  # not JSON: pass it on as it is
                    answer = None
            if answer is not None:
                data = json.dumps(standin.after(action, body, status, answer), default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "standin")
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def sagemaker_standin() -> Iterator[SageMakerStandIn]:
    """Run moto's server and the proxy on 127.0.0.1 until the block ends."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    standin = SageMakerStandIn()
    try:
        _, moto_port = moto.get_host_and_port()
        standin.moto_url = f"http://127.0.0.1:{moto_port}"
        with BackgroundServer(_handler(standin, moto_port), name="sagemaker-standin") as proxy:
            standin.url = proxy.url
            yield standin
    finally:
        moto.stop()
