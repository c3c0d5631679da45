"""``python -m benchmarks.serve.load '<plan json>'``: the load, from a process of its own, on the servers in turns.

The plan names the servers (name -> predict URL), the request body, the number of clients, the warm-up and the
rounds. Each phase opens `clients` keep-alive connections to one server (aiohttp), and every client sends its next
request as soon as its last one is answered, until the phase's time is up. Warm-up phases come first (one per
server, not measured), then the measured rounds in the plan's order. Prints one JSON object: per round, the server,
the requests answered, the seconds from the first request to the last answer, every latency and the failures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

_SHOWN_FAILURES = 5


async def _phase(url: str, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """Load `url` with `clients` clients for `seconds`; return what happened."""
    latencies: list[float] = []
    failures: list[str] = []
    failed = 0
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def client() -> None:
            nonlocal failed
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body) as response:
                        text = await response.read()
                        status = response.status
                except aiohttp.ClientError as exc:
                    status, text = 0, repr(exc).encode()
                if status == 200:
                    latencies.append(time.perf_counter() - sent)
                else:
                    failed += 1
                    if len(failures) < _SHOWN_FAILURES:
                        failures.append(f"{status or 'no answer'}: {text[:300].decode(errors='replace')}")

        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {"answered": len(latencies), "seconds": elapsed, "latencies": latencies, "failed": failed,
            "failures": failures}  # fmt: skip


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Warm every server up, then run the measured rounds in order."""
    body = json.dumps(plan["body"]).encode()
    urls: dict[str, str] = plan["urls"]
    warmup = []
    if plan["warmup"] > 0:
        for name, url in urls.items():
            phase = await _phase(url, body, plan["clients"], plan["warmup"])
            warmup.append({"server": name, "failed": phase["failed"], "failures": phase["failures"]})
    rounds = []
    for name in plan["order"]:
        rounds.append({"server": name, **await _phase(urls[name], body, plan["clients"], plan["seconds"])})
        print(f"[bench-serve] {name}: {rounds[-1]['answered'] / rounds[-1]['seconds']:.0f} requests/s",
              file=sys.stderr, flush=True)  # fmt: skip
    return {"warmup": warmup, "rounds": rounds}


def main() -> None:
    """Run the plan given as the first argument; print the results as JSON."""
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))


if __name__ == "__main__":
    main()
