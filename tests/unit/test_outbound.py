"""The per-connection queue: ordered, never blocks fan-out, closes the slow, collapses ticks."""

from __future__ import annotations

import asyncio

from server.outbound import Outbound


async def test_frames_in_order_then_latest_tick() -> None:
    sent: list[str] = []

    async def send(frame: str) -> None:
        sent.append(frame)

    out = Outbound(send, lambda: None, 10)
    writer = asyncio.create_task(out.run())
    out.push("a")
    out.push("b")
    out.push_tick("t1")
    out.push_tick("t2")  # replaces t1 before it was sent
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    out.stop()
    await asyncio.wait_for(writer, 1)
    assert sent == ["a", "b", "t2"]


async def test_overflow_marks_too_slow_once_and_never_blocks() -> None:
    gate = asyncio.Event()
    overflows: list[int] = []

    async def send(frame: str) -> None:
        await gate.wait()  # a socket nobody reads

    out = Outbound(send, lambda: overflows.append(1), 3)
    writer = asyncio.create_task(out.run())
    await asyncio.sleep(0)
    results = [out.push(str(i)) for i in range(10)]  # returns at once: fan-out never waits
    assert results[:3] == [True, True, True]  # the writer has not run yet: three queued
    assert not any(results[3:])
    assert overflows == [1] and out.overflowed and len(out) == 0
    out.push_tick("ignored")
    gate.set()
    await asyncio.wait_for(writer, 1)  # the writer stops: the connection closes with 4001


async def test_stop_drains_what_is_queued() -> None:
    sent: list[str] = []

    async def send(frame: str) -> None:
        sent.append(frame)

    out = Outbound(send, lambda: None, 5)
    out.push("x")
    out.stop()
    assert out.push("late") is False
    await asyncio.wait_for(out.run(), 1)
    assert sent == ["x"]
