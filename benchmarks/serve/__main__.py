"""``python -m benchmarks.serve`` (``make bench-serve``): the local endpoint against the floor, under the same load.

Trains the eyewear model once (kept in a temporary folder for the next run), registers it in a new local registry,
deploys it to a local endpoint and starts ``model-registry serve`` on 127.0.0.1, as users do; starts the floor
(`benchmarks.serve.floor`) on the same SavedModel; checks that both answer the same instances with the same
predictions; then loads them in turns from a third process (`benchmarks.serve.load`) and prints one table. Exits
non-zero if any request was not answered with 200. Settings: `benchmarks.serve.settings` (``BENCH_SERVE_*``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.serve.model import ENDPOINT, deployed_registry, instances, trained_model  # noqa: E402
from benchmarks.serve.report import FLOOR, OURS, ServeResults, ServerResult, render  # noqa: E402
from benchmarks.serve.servers import ServerProcess, floor_command, ours_command  # noqa: E402
from benchmarks.serve.settings import ServeSettings  # noqa: E402
from benchmarks.settings import REPO_ROOT  # noqa: E402

_LOAD_TIMEOUT_EXTRA = 120.0


def _step(message: str) -> None:
    print(f"[bench-serve] {message}", file=sys.stderr, flush=True)


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our own servers on 127.0.0.1
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.loads(response.read())


def _same_answers(urls: dict[str, str], body: dict[str, Any]) -> None:
    """Both servers must answer the benchmark's request with the same predictions (else the race is not fair)."""
    answers = {name: _post(url, body)["predictions"] for name, url in urls.items()}
    if answers[OURS] != answers[FLOOR]:
        msg = f"the servers disagree: ours {answers[OURS]!r:.300}, floor {answers[FLOOR]!r:.300}"
        raise RuntimeError(msg)


def turns(rounds: int) -> list[str]:
    """The servers' turns: ours, floor, floor, ours, ... (each goes first as often, so drifts hit both alike)."""
    pairs = [(OURS, FLOOR) if index % 2 == 0 else (FLOOR, OURS) for index in range(rounds)]
    return [name for pair in pairs for name in pair]


def _load(plan: dict[str, Any]) -> dict[str, Any]:
    timeout = (plan["warmup"] * 2 + plan["seconds"] * len(plan["order"])) + _LOAD_TIMEOUT_EXTRA
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run(  # noqa: S603 - our own load generator
        [sys.executable, "-m", "benchmarks.serve.load", json.dumps(plan)], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, timeout=timeout, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        msg = f"the load generator exited with {completed.returncode}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def main() -> None:
    """Run the benchmark and print its table."""
    settings = ServeSettings.from_environment()
    started, load_before = time.monotonic(), os.getloadavg()[0]
    model = Path(settings.model) if settings.model else None
    if model is None:
        _step("the eyewear model (trained once, then reused)")
        model = trained_model()
    body = {"instances": instances(settings.instances)}
    with tempfile.TemporaryDirectory(prefix="registry-bench-serve-") as scratch:
        root = Path(scratch)
        _step("registering and deploying it to a local endpoint")
        registry_root = deployed_registry(root, model)
        _step("starting both servers")
        servers = {
            OURS: ServerProcess("model-registry serve", ours_command(registry_root, ENDPOINT), root / "ours.log"),
            FLOOR: ServerProcess("the floor", floor_command(model), root / "floor.log"),
        }
        try:
            bases = {name: server.wait_ready() for name, server in servers.items()}
            urls = {OURS: f"{bases[OURS]}/v1/endpoints/{ENDPOINT}:predict", FLOOR: f"{bases[FLOOR]}/predict"}
            _same_answers(urls, body)
            order = turns(settings.rounds)
            _step(f"load: {settings.clients} clients, {settings.warmup:g} s warm-up each, then {len(order)} rounds "
                  f"of {settings.seconds:g} s")  # fmt: skip
            plan = {"urls": urls, "body": body, "clients": settings.clients, "seconds": settings.seconds,
                    "warmup": settings.warmup, "order": order}  # fmt: skip
            load = _load(plan)
        finally:
            for server in servers.values():
                server.stop()
    results = ServeResults(
        settings=settings,
        ours=ServerResult.pooled(OURS, load),
        floor=ServerResult.pooled(FLOOR, load),
        order=order,
        elapsed_seconds=time.monotonic() - started,
        load=(load_before, os.getloadavg()[0]),
    )
    print(render(results), flush=True)
    for phase in [*load["warmup"], *load["rounds"]]:
        for failure in phase["failures"]:
            _step(f"{phase['server']}: failed request: {failure}")
    sys.exit(1 if results.ours.failed or results.floor.failed else 0)


if __name__ == "__main__":
    main()
