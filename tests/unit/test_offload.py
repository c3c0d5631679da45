"""Offload: the prediction server's blocking work runs on the event loop only while it is small and quick."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from registry_core.deploy.offload import INLINE_BODY_BYTES, INLINE_SECONDS, Offload


def _where() -> int:
    return threading.get_ident()


async def _thread_of(offload: Offload, body_bytes: int = 100, seconds: float = 0.0) -> str:
    """Run work of `seconds` through `offload`; say whether it ran on the loop's thread or in a worker."""

    def work() -> int:
        if seconds:
            time.sleep(seconds)
        return _where()

    return "loop" if await offload(work, body_bytes) == _where() else "thread"


def test_the_first_call_runs_in_a_thread_and_quick_small_ones_then_on_the_loop() -> None:
    async def scenario() -> list[str]:
        offload = Offload()
        return [await _thread_of(offload) for _ in range(3)]

    assert asyncio.run(scenario()) == ["thread", "loop", "loop"]


def test_a_large_body_always_goes_to_a_thread() -> None:
    async def scenario() -> list[str]:
        offload = Offload()
        await _thread_of(offload)
        return [await _thread_of(offload, INLINE_BODY_BYTES + 1), await _thread_of(offload)]

    assert asyncio.run(scenario()) == ["thread", "loop"]


def test_one_slow_call_sends_the_next_ones_to_threads_until_one_is_quick_again() -> None:
    async def scenario() -> list[str]:
        offload = Offload()
        await _thread_of(offload)
        slow = INLINE_SECONDS * 5
        return [
            await _thread_of(offload, seconds=slow),  # quick so far: on the loop, once
            await _thread_of(offload, seconds=slow),  # the last was slow: a thread
            await _thread_of(offload),  # still a thread; this one is quick again
            await _thread_of(offload),
        ]

    assert asyncio.run(scenario()) == ["loop", "thread", "thread", "loop"]


def test_nothing_runs_on_the_loop_while_work_for_a_large_body_runs_in_a_thread() -> None:
    async def scenario() -> tuple[str, str]:
        offload = Offload()
        await _thread_of(offload)
        release = threading.Event()
        in_thread = asyncio.ensure_future(offload(lambda: release.wait(10), INLINE_BODY_BYTES + 1))
        await asyncio.sleep(0.05)  # the large one now holds a worker thread (and, in the server, the model's lock)
        beside = await _thread_of(offload)
        release.set()
        await in_thread
        return beside, await _thread_of(offload)

    assert asyncio.run(scenario()) == ("thread", "loop")


def test_small_work_still_in_threads_does_not_keep_quick_calls_off_the_loop() -> None:
    # A busy server always has a request in a thread after a slow spell; counting those kept it off the loop for good.
    async def scenario() -> str:
        offload = Offload()
        first, second = threading.Event(), threading.Event()
        started = asyncio.ensure_future(offload(lambda: first.wait(10), 100))  # nothing known yet: a thread
        await asyncio.sleep(0.02)
        behind = asyncio.ensure_future(offload(lambda: second.wait(10), 100))  # still nothing known: a thread
        await asyncio.sleep(0.02)
        first.set()
        await started  # it took longer than INLINE_SECONDS: the next call goes to a thread too, and is quick
        assert await _thread_of(offload) == "thread"
        where = await _thread_of(offload)
        second.set()
        await behind
        return where

    assert asyncio.run(scenario()) == "loop"


def test_what_the_work_raises_propagates_from_the_loop_and_from_a_thread() -> None:
    def fail() -> None:
        msg = "bad instances"
        raise ValueError(msg)

    async def scenario() -> None:
        offload = Offload()
        with pytest.raises(ValueError, match="bad instances"):
            await offload(fail, 10)  # in a thread
        with pytest.raises(ValueError, match="bad instances"):
            await offload(fail, 10)  # on the loop (it failed quickly)
        assert await _thread_of(offload) == "loop"

    asyncio.run(scenario())
