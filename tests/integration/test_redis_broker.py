"""The Redis broker against a real Redis: other nodes get what one node publishes,
its own clients are served either way, and a Redis that is down costs nothing but
the catch-up from the log."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Sequence

import pytest

from server.live.fanout_redis import RedisBroker
from store import LogEntry
from tests.conftest import REDIS_URL, service_missing

pytestmark = pytest.mark.integration


def _entry(sid: str, seq: int) -> LogEntry:
    return LogEntry(
        sid, seq, "2026-11-23T00:00:00.000Z", "NOTE", None, "{}", "0" * 64, f"{seq:064x}"
    )


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, int]] = []
        self.arrived = asyncio.Event()

    def __call__(self, session_id: str, entries: Sequence[LogEntry]) -> None:
        self.got.extend((session_id, e.sequence_number) for e in entries)
        self.arrived.set()


async def _subscribed(broker: RedisBroker, sid: str) -> None:
    await broker.subscribe(sid)
    for _ in range(200):  # the listener task (re)subscribes asynchronously
        if broker.connected and broker._pubsub is not None and broker._pubsub.subscribed:
            chans = {c.decode() if isinstance(c, bytes) else c for c in broker._pubsub.channels}
            if broker._prefix + sid in chans:
                return
        await asyncio.sleep(0.01)
    raise AssertionError("broker never subscribed")


async def _until_no_subscribers(broker: RedisBroker, channel: str) -> None:
    for _ in range(200):
        [(_, n)] = await broker._redis.pubsub_numsub(channel)
        if n == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the unsubscribe never reached Redis")


async def test_both_nodes_deliver_and_only_subscribed_sessions_arrive() -> None:
    service_missing("Redis", "127.0.0.1", 6379)
    prefix = f"courtroom-test-{uuid.uuid4().hex[:8]}:session:"
    a, b = RedisBroker(REDIS_URL, prefix=prefix), RedisBroker(REDIS_URL, prefix=prefix)
    here, there = Inbox(), Inbox()
    await a.start(here)
    await b.start(there)
    try:
        await _subscribed(b, "s1")
        await a.publish("s1", [_entry("s1", 1), _entry("s1", 2)])
        assert here.got == [("s1", 1), ("s1", 2)]  # the publisher's own clients
        await asyncio.wait_for(there.arrived.wait(), 5)
        assert there.got == [("s1", 1), ("s1", 2)]
        there.arrived.clear()
        await a.publish("s2", [_entry("s2", 1)])  # b has no client of s2
        await b.unsubscribe("s1")
        await _until_no_subscribers(a, prefix + "s1")
        await a.publish("s1", [_entry("s1", 3)])
        await a.publish("s3", [_entry("s3", 1)])
        await _subscribed(b, "s3")
        await a.publish("s3", [_entry("s3", 2)])
        await asyncio.wait_for(there.arrived.wait(), 5)
        assert there.got[2:] == [("s3", 2)]
    finally:
        await a.close()
        await b.close()


async def test_local_clients_are_served_when_redis_is_down() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0")
    inbox = Inbox()
    await broker.start(inbox)
    try:
        await broker.publish("s1", [_entry("s1", 1)])  # logs a warning, raises nothing
        assert inbox.got == [("s1", 1)]
        assert not broker.connected
    finally:
        await broker.close()
