"""Canary health checks: probe a newly deployed model and decide whether the rollout completes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry_core.errors import RegistryError
from registry_core.text import shown


class HealthCheck(BaseModel):
    """Probe requests sent to the canary, and the limits it must stay within.

    Attributes:
        instances: The instances of each probe request.
        probes: How many requests to send.
        max_error_rate: Highest allowed share of failed requests (0 = none may fail).
        max_latency_ms: Highest allowed 95th-percentile latency, if any.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    instances: list[Any] = Field(min_length=1)
    probes: int = Field(default=20, ge=1, le=10_000)
    max_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    max_latency_ms: float | None = Field(default=None, gt=0)


class HealthReport(BaseModel):
    """What the probes saw.

    Attributes:
        healthy: Whether the canary may take all traffic.
        reason: One line saying why.
        probes: Requests sent.
        errors: Requests that failed.
        p95_latency_ms: 95th-percentile latency of the requests.
        first_error: The first failure's message, if any.
    """

    model_config = ConfigDict(frozen=True)

    healthy: bool
    reason: str
    probes: int = 0
    errors: int = 0
    p95_latency_ms: float = 0.0
    first_error: str = ""


@dataclass(frozen=True)
class CanaryContext:
    """What a user-supplied check gets: the endpoint, the canary's deployed id, and a way to predict on it."""

    endpoint_name: str
    deployed_id: str
    model_name: str
    version: str
    predict: Callable[[list[Any]], Any]


UserCheck = Callable[[CanaryContext], tuple[bool, str]]


def probe(check: HealthCheck, context: CanaryContext) -> HealthReport:
    """Send `check.probes` requests to the canary and judge them against the limits."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    try:  # one unmeasured request first, so that loading the model is not counted as latency
        context.predict(check.instances)
    except RegistryError as exc:
        first_error = str(exc)
    for _ in range(check.probes):
        started = time.perf_counter()
        try:
            context.predict(check.instances)
        except RegistryError as exc:
            errors += 1
            first_error = first_error or str(exc)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
    rate = errors / check.probes
    problems = []
    if rate > check.max_error_rate:
        problems.append(f"error rate {rate:.0%} > {check.max_error_rate:.0%} ({first_error})")
    if check.max_latency_ms is not None and p95 > check.max_latency_ms:
        problems.append(f"p95 latency {p95:.1f} ms > {check.max_latency_ms:.1f} ms")
    summary = f"{check.probes} probes, {errors} errors, p95 {p95:.1f} ms"
    reason = ("unhealthy: " + "; ".join(problems) + f" [{summary}]") if problems else f"healthy: {summary}"
    return HealthReport(
        healthy=not problems, reason=reason, probes=check.probes, errors=errors, p95_latency_ms=p95,
        first_error=first_error,
    )  # fmt: skip


def run_user_check(check: UserCheck, context: CanaryContext) -> HealthReport:
    """Run a user-supplied check; an exception counts as unhealthy."""
    try:
        healthy, reason = check(context)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's check means "do not complete the rollout"
        return HealthReport(healthy=False, reason=f"unhealthy: the health check failed: {exc!r}")
    return HealthReport(healthy=bool(healthy), reason=("healthy: " if healthy else "unhealthy: ") + str(reason))


def command_check(command: str, timeout: float = 300.0) -> UserCheck:
    """Return a check that runs a shell `command`: exit status 0 means healthy; its last output line is the reason.

    The command gets MODEL_REGISTRY_ENDPOINT, MODEL_REGISTRY_DEPLOYED_MODEL_ID, MODEL_REGISTRY_MODEL and
    MODEL_REGISTRY_VERSION in its environment.
    """

    def check(context: CanaryContext) -> tuple[bool, str]:
        import os
        import subprocess

        env = os.environ | {
            "MODEL_REGISTRY_ENDPOINT": context.endpoint_name,
            "MODEL_REGISTRY_DEPLOYED_MODEL_ID": context.deployed_id,
            "MODEL_REGISTRY_MODEL": context.model_name,
            "MODEL_REGISTRY_VERSION": context.version,
        }
        done = subprocess.run(  # noqa: S602 - the operator's own health-check command line
            command, shell=True, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        lines = (done.stdout + done.stderr).strip().splitlines()
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        return done.returncode == 0, f"{shown(command)}: {reason}"

    return check
