"""Helpers of the deployment tests: model exports, registries, HTTP calls and a prediction server subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

from support.examples import EYEWEAR_INSTANCE

from registry_core import ModelRegistry

REPO = Path(__file__).resolve().parents[2]
MODEL = "eyewear"
REGISTRANT = "alice"
APPROVER = "bob"
SERVER_START_TIMEOUT = 60.0
FOLLOW_TIMEOUT = 30.0

INSTANCE: dict[str, Any] = EYEWEAR_INSTANCE


@dataclass(frozen=True)
class Exports:
    """SavedModel folders: two trained eyewear models and two that fail at call time."""

    v1: Path
    v2: Path
    failing: Path  # serving_default raises InvalidArgumentError (a failed assertion) on every call
    broken: Path  # serving_default raises NotFoundError (it reads a missing file) on every call


def train_exports(root: Path) -> Exports:
    """Train two tiny eyewear models (300 examples, one epoch, seeds 1 and 2), export them, add the failing ones."""
    from eyewear_model import EyewearModelConfig, export_saved_model, generate_dataset, train

    data = generate_dataset(str(root / "data"), num_train=300, num_validation=1, num_test=1, shards=1, seed=0)
    trained = []
    for seed in (1, 2):
        result = train(data.train, None, EyewearModelConfig(epochs=1, seed=seed, hidden_units=(8,)))
        trained.append(export_saved_model(result.model, root / f"model-{seed}"))
    failing, broken = _failing_models(root)
    return Exports(v1=trained[0], v2=trained[1], failing=failing, broken=broken)


def _failing_models(root: Path) -> tuple[Path, Path]:
    """Build SavedModels whose serving_default takes the eyewear features and fails at call time."""
    import tensorflow as tf

    from eyewear_model import FEATURES

    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    specs = {f.name: tf.TensorSpec([None], dtypes[f.kind], name=f.name) for f in FEATURES}

    class Failing(tf.Module):
        @tf.function(input_signature=[specs])
        def serve(self, features: dict[str, Any]) -> dict[str, Any]:
            rows = tf.shape(features["face_width_mm"])[0]
            # the batch size is only known at call time, so the assertion cannot fail while tracing
            check = tf.debugging.assert_equal(rows, -1, message="this model always fails")
            with tf.control_dependencies([check]):
                return {"frame_style": tf.fill([rows], "aviator")}

    class Broken(tf.Module):
        @tf.function(input_signature=[specs])
        def serve(self, features: dict[str, Any]) -> dict[str, Any]:
            rows = tf.shape(features["face_width_mm"])[0]
            return {"frame_style": tf.fill([rows], tf.io.read_file("/nonexistent/registry-core-test-file"))}

    paths = []
    for name, module in (("failing", Failing()), ("broken", Broken())):
        path = root / name
        tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
        paths.append(path)
    return paths[0], paths[1]


def make_registry(root: str, exports: Exports) -> ModelRegistry:
    """Open a registry at `root` with v1 and v2 of MODEL registered by REGISTRANT."""
    registry = ModelRegistry.from_uri(root)
    for folder in (exports.v1, exports.v2):
        registry.register_model(MODEL, folder, registered_by=REGISTRANT, framework="tensorflow")
    return registry


def promote_to_production(registry: ModelRegistry, version: str) -> None:
    """Move `version` through validation and staging to production, approved by APPROVER."""
    registry.promote_model(MODEL, version, "validation")
    registry.promote_model(MODEL, version, "staging")
    registry.promote_model(MODEL, version, "production", approved_by=APPROVER)


# ------------------------------------------------------------------------------------------------ HTTP


@dataclass
class Reply:
    """An HTTP answer: status, raw text, parsed JSON (None if not JSON) and headers (names in any case)."""

    status: int
    text: str
    body: Any
    headers: Message


def call(method: str, url: str, body: bytes | dict[str, Any] | None = None, timeout: float = 30.0) -> Reply:
    """Send one request with the standard library; an HTTP error status is returned, not raised."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own test server
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return Reply(status, text, parsed, headers)


def predict_url(base: str, endpoint: str, deployed_id: str | None = None) -> str:
    """URL of the predict route (routed by the traffic split, or to one deployed model)."""
    if deployed_id is None:
        return f"{base}/v1/endpoints/{endpoint}:predict"
    return f"{base}/v1/endpoints/{endpoint}/deployedModels/{deployed_id}:predict"


def wait_until_following(base: str, registry: ModelRegistry, endpoint: str, timeout: float = FOLLOW_TIMEOUT) -> Reply:
    """Wait until the server's /health shows the endpoint's current split and has tried every active model."""
    record = registry.get_endpoint(endpoint)
    active = {d.id for d in record.active()}
    deadline = time.monotonic() + timeout
    while True:
        reply = call("GET", f"{base}/health")
        if reply.body is not None and reply.body.get("traffic") == record.traffic:
            tried = {d["id"] for d in reply.body["deployedModels"] if d["loaded"] or d["error"]}
            if tried == active:
                return reply
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not follow {record.traffic} within {timeout}s: {reply.text}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------------ server process

_SUFFIX = " (Ctrl-C to stop)"


class ServerProcess:
    """`model-registry serve` in a subprocess on a free port of 127.0.0.1; it inherits os.environ (e.g. the emulator).

    Args:
        root: Registry root URI.
        endpoint: Endpoint to serve.
        log: File for the server's stderr.
        args: More options of `serve` (e.g. ``["--log-sample-rate", "0"]``).
    """

    def __init__(self, root: str, endpoint: str, log: Path, args: list[str] | None = None) -> None:
        self.log = log
        self._stderr = log.open("wb")
        env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        command = [sys.executable, "-m", "registry_core", "--registry", root, "serve", endpoint, "--port", "0"]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
            [*command, *(args or [])],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO,
            env=env,
        )
        self.announcement = self._first_line()
        prefix = f"serving endpoint {endpoint} on "
        if not (self.announcement.startswith(prefix) and self.announcement.endswith(_SUFFIX)):
            self.stop()
            raise AssertionError(f"unexpected announcement {self.announcement!r}: {self.log_text()}")
        self.url = self.announcement[len(prefix) : -len(_SUFFIX)]
        self._wait_healthy()

    def _first_line(self) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(SERVER_START_TIMEOUT)
        if not lines or not lines[0]:
            self.stop()
            raise AssertionError(f"the server did not start: {self.log_text()}")
        return lines[0].decode().strip()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while call("GET", f"{self.url}/health").status != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"the server never got healthy: {self.log_text()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        """The server's stderr so far."""
        if not self._stderr.closed:
            self._stderr.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM the server and return its exit code (it is killed if it has not stopped after 15 s)."""
        code = stop_process(self.process)
        self._stderr.close()
        return code


def stop_process(process: subprocess.Popen[Any]) -> int:
    """SIGTERM a server process, kill it if it has not stopped after 15 s, close its stdout; return its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stdout is not None:
        process.stdout.close()
    return process.returncode
