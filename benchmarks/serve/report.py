"""The serving benchmark's table: throughput and latency of both servers, their ratios, the goal and the verdict."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from benchmarks.report import NONE, format_table, ratio_text, seconds_text
from benchmarks.serve.settings import GOAL, ServeSettings

OURS, FLOOR = "ours", "floor"
PASS, MISS, FAIL = "PASS", "MISS", "FAIL"
COLUMNS: tuple[str, ...] = (
    "measure",
    "ours: model-registry serve",
    "floor: bare SavedModel call",
    "ratio",
    "goal",
    "result",
)
THROUGHPUT = "requests/s (ratio: floor ÷ ours)"
P50 = "p50 latency (ratio: ours ÷ floor)"
P99 = "p99 latency (ratio: ours ÷ floor)"
FAILED = "failed requests (not 200)"
LABELS: tuple[str, ...] = (THROUGHPUT, P50, P99, FAILED)


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass(frozen=True)
class ServerResult:
    """One server's measured rounds, pooled.

    Attributes:
        answered: Requests answered with 200 in the measured rounds.
        seconds: Time under load in the measured rounds.
        latencies: Every answered request's latency, seconds.
        failed: Requests not answered with 200, warm-up included.
        per_round: Requests per second of each round, in order.
    """

    answered: int
    seconds: float
    latencies: list[float]
    failed: int
    per_round: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Requests answered per second."""
        return self.answered / self.seconds if self.seconds else 0.0

    @classmethod
    def pooled(cls, server: str, load: dict[str, Any]) -> ServerResult:
        """Pool the rounds of `server` in the load generator's report."""
        rounds = [r for r in load["rounds"] if r["server"] == server]
        warmup_failed = sum(w["failed"] for w in load["warmup"] if w["server"] == server)
        return cls(
            answered=sum(r["answered"] for r in rounds),
            seconds=sum(r["seconds"] for r in rounds),
            latencies=[latency for r in rounds for latency in r["latencies"]],
            failed=warmup_failed + sum(r["failed"] for r in rounds),
            per_round=[r["answered"] / r["seconds"] for r in rounds],
        )


@dataclass(frozen=True)
class ServeResults:
    """Everything one run measured.

    Attributes:
        settings: The load.
        ours: The local endpoint (`model-registry serve`).
        floor: The bare SavedModel call in a raw ASGI app.
        order: The servers' turns.
        elapsed_seconds: Wall time of the whole run.
        load: The machine's 1-minute load average before and after.
    """

    settings: ServeSettings
    ours: ServerResult
    floor: ServerResult
    order: list[str]
    elapsed_seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def _verdict(ratio: float) -> str:
    return PASS if ratio <= GOAL else MISS


def _latency(seconds: float) -> str:
    return seconds_text(seconds) if seconds else NONE


def rows(results: ServeResults) -> list[list[str]]:
    """Return the table's rows: throughput, p50, p99 (with ratios and verdicts), then the failed requests."""
    ours, floor = results.ours, results.floor
    goal = f"≤ {GOAL:g}×"
    table = []
    throughput = floor.throughput / ours.throughput if ours.throughput else float("inf")
    table.append([THROUGHPUT, f"{ours.throughput:.0f}", f"{floor.throughput:.0f}", ratio_text(throughput), goal,
                  _verdict(throughput)])  # fmt: skip
    for label, fraction in ((P50, 0.5), (P99, 0.99)):
        mine = percentile(ours.latencies, fraction) if ours.latencies else 0.0
        theirs = percentile(floor.latencies, fraction) if floor.latencies else 0.0
        ratio = mine / theirs if theirs else float("inf")
        table.append([label, _latency(mine), _latency(theirs), ratio_text(ratio), goal, _verdict(ratio)])
    failed = ours.failed + floor.failed
    table.append([FAILED, str(ours.failed), str(floor.failed), NONE, "0", PASS if failed == 0 else FAIL])
    return table


def render(results: ServeResults) -> str:
    """Return the printed report: the workload, the machine, the table."""
    s = results.settings
    turns = ", ".join(results.order)
    rounds = "; ".join(
        f"{name}: {' / '.join(f'{value:.0f}' for value in result.per_round)}"
        for name, result in ((OURS, results.ours), (FLOOR, results.floor))
    )
    workload = (
        f"Workload: {s.clients} clients, each on one keep-alive connection sending its next request when answered; "
        f"{s.instances} instance{'s' if s.instances > 1 else ''} of the eyewear model per predict request; "
        f"{s.rounds} round{'s' if s.rounds > 1 else ''} of {s.seconds:g} s per server in turns ({turns}) after "
        f"{s.warmup:g} s of warm-up each. Both servers: uvicorn, 1 process, asyncio loop, h11. "
        f"Requests/s per round: {rounds}."
    )
    machine = (
        f"Machine: {os.cpu_count()} CPUs shared by the server under load, the idle one and the load generator "
        f"(a separate process, aiohttp); load average {results.load[0]:.1f} before and {results.load[1]:.1f} after; "
        f"the whole run took {results.elapsed_seconds:.0f} s."
    )
    return "\n".join([workload, machine, "", format_table(COLUMNS, rows(results))])
