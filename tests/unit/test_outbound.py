"""The per-connection queue: ordered, never blocks fan-out, closes the slow, collapses
ticks, and writes directly only when nothing is ahead of the frame."""

from __future__ import annotations

import asyncio

from server.live.frames import OutFrame
from server.live.outbound import STATS, Outbound


def f(text: str) -> OutFrame:
    return OutFrame(text.encode())


class Recorder:
    """Both paths into one list, in the order the socket would see them."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.writable = True
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, frame: OutFrame) -> None:
        await self.gate.wait()
        self.seen.append("q:" + frame.text)

    def direct(self, wire: bytes) -> bool:
        if not self.writable:
            return False
        self.seen.append("d:" + wire.decode("latin-1"))
        return True


async def test_frames_in_order_then_latest_tick() -> None:
    rec = Recorder()
    out = Outbound(rec.send, lambda: None, 10)
    out.push(f("a"))
    out.push(f("b"))
    out.push_tick(f("t1"))
    out.push_tick(f("t2"))  # replaces t1 before it was sent
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    out.stop()
    await asyncio.wait_for(out.wait_drained(), 1)
    assert rec.seen == ["q:a", "q:b", "q:t2"]


async def test_overflow_marks_too_slow_once_and_never_blocks() -> None:
    rec = Recorder()
    rec.gate.clear()  # a socket nobody reads
    overflows: list[int] = []
    out = Outbound(rec.send, lambda: overflows.append(1), 3)
    await asyncio.sleep(0)
    results = [out.push(f(str(i))) for i in range(10)]  # returns at once: fan-out never waits
    assert results[:3] == [True, True, True]  # the writer has not run yet: three queued
    assert not any(results[3:])
    assert overflows == [1] and out.overflowed and len(out) == 0
    out.push_tick(f("ignored"))
    rec.gate.set()
    await asyncio.wait_for(
        out.wait_drained(), 1
    )  # the writer stops: the connection closes with 4001


async def test_stop_drains_what_is_queued() -> None:
    rec = Recorder()
    out = Outbound(rec.send, lambda: None, 5)
    out.push(f("x"))
    out.stop()
    assert out.push(f("late")) is False
    await asyncio.wait_for(out.wait_drained(), 1)
    assert rec.seen == ["q:x"]


async def test_idle_writable_socket_takes_the_direct_path() -> None:
    rec = Recorder()
    out = Outbound(rec.send, lambda: None, 5, direct=rec.direct)
    before = STATS.direct
    event, tick = f("e"), f("t")
    assert out.push(event, tick)
    out.push_tick(f("t2"))
    # One write for the event and its tick, framed as RFC 6455 text frames.
    assert rec.seen == ["d:\x81\x01e\x81\x01t", "d:\x81\x02t2"]
    assert STATS.direct == before + 2 and len(out) == 0


async def test_nothing_overtakes_a_queued_or_in_flight_frame() -> None:
    rec = Recorder()
    out = Outbound(rec.send, lambda: None, 10, direct=rec.direct)
    rec.writable = False  # the transport is above its high-water mark
    out.push(f("1"))  # queued
    rec.writable = True
    rec.gate.clear()  # ... and the writer's send of it is still in flight
    await asyncio.sleep(0)
    out.push(f("2"))  # must not jump ahead of "1"
    out.push_tick(f("t"))
    assert rec.seen == []
    rec.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert rec.seen == ["q:1", "q:2", "q:t"]
    out.push(f("3"))  # idle again: direct
    assert rec.seen[-1] == "d:\x81\x013"
    out.stop()
    await asyncio.wait_for(out.wait_drained(), 1)


async def test_overflow_while_not_writable_still_closes_as_too_slow() -> None:
    rec = Recorder()
    rec.writable = False
    rec.gate.clear()
    overflows: list[int] = []
    out = Outbound(rec.send, lambda: overflows.append(1), 2, direct=rec.direct)
    assert [out.push(f(str(i))) for i in range(4)] == [True, True, False, False]
    assert overflows == [1] and rec.seen == []


async def test_an_idle_connection_holds_no_writer_task_and_no_queue() -> None:
    def writers() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t.get_name() == "ws-writer"]

    rec = Recorder()
    rec.writable = False
    out = Outbound(rec.send, lambda: None, 10, direct=rec.direct)
    assert writers() == [] and len(out) == 0
    out.push(f("1"))  # must wait: a writer starts
    out.push_tick(f("t"))
    assert len(writers()) == 1 and len(out) == 1
    await asyncio.wait_for(out.wait_drained(), 1)
    # Drained: the writer has ended and the queue is gone.
    assert rec.seen == ["q:1", "q:t"] and writers() == [] and len(out) == 0
    rec.writable = True
    assert out.push(f("2")) and writers() == []  # idle and writable: direct, no task
    assert rec.seen[-1] == "d:\x81\x012"


async def test_cancel_drops_what_waits_and_ends_the_writer() -> None:
    rec = Recorder()
    rec.gate.clear()  # a socket nobody reads
    out = Outbound(rec.send, lambda: None, 10)
    out.push(f("1"))
    out.push(f("2"))
    await asyncio.sleep(0)  # the writer is stuck sending "1"
    out.cancel()
    await asyncio.wait_for(out.wait_drained(), 1)
    assert rec.seen == [] and out.push(f("3")) is False
