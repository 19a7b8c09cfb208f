"""Redis pub/sub adapter of the broker port: fan-out across nodes.

The only module that touches redis. One channel per session
(``courtroom:session:<id>``); a node subscribes only while it has clients of
that session. Pub/sub is at most once: a message lost while Redis was away
is recovered by the hub from the log (``on_resync`` after a reconnect, and the
sequence check on every delivery).

A message is either a JSON array of entries or a frame that follows them
(``publish_frame``): ``F<after>\n<frame bytes>``, which no array starts with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from protocol.errors import Unavailable
from server.live.broker_port import FrameReceiver, Receiver
from store import LogEntry

log = logging.getLogger("courtroom.redis")
PREFIX = "courtroom:session:"


def _encode(entries: Sequence[LogEntry]) -> bytes:
    return orjson.dumps(
        [
            [
                e.session_id,
                e.sequence_number,
                e.timestamp,
                e.event_type,
                e.actor_id,
                e.details_json,
                e.previous_hash,
                e.hash,
            ]
            for e in entries
        ]
    )


def _decode(data: bytes) -> list[LogEntry]:
    return [LogEntry(*row) for row in orjson.loads(data)]


_FRAME = b"F"


def _encode_frame(after: int, frame: bytes) -> bytes:
    return b"%s%d\n%s" % (_FRAME, after, frame)


def _decode_frame(data: bytes) -> tuple[int, bytes]:
    after, _, frame = data[1:].partition(b"\n")
    return int(after), frame


class RedisBroker:
    def __init__(self, url: str, *, prefix: str = PREFIX, head_start_s: float = 0.005) -> None:
        self._url = url
        self._head_start_s = head_start_s
        self._prefix = prefix
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10
        )
        self._receiver: Receiver | None = None
        self._frames: FrameReceiver | None = None
        self._channels: set[str] = set()
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.on_resync: Callable[[], None] | None = None
        self.connected = False

    async def start(self, receiver: Receiver, frames: FrameReceiver | None = None) -> None:
        self._receiver = receiver
        self._frames = frames
        self._task = asyncio.create_task(self._listen(), name="redis-listener")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self._redis.aclose()

    async def publish(self, session_id: str, entries: Sequence[LogEntry]) -> None:
        # PUBLISH first, so other nodes start their fan-out while this one does
        # its own: delivering locally first made every remote observer wait for
        # all local ones (+250 ms at 5,000 per node, docs/benchmarks.md). Local
        # clients wait for Redis at most ``head_start_s``, so they keep being
        # served when it is slow or down; the echo that comes back is dropped
        # by sequence.
        pub = asyncio.ensure_future(
            self._redis.publish(self._prefix + session_id, _encode(entries))
        )
        await asyncio.wait((pub,), timeout=self._head_start_s)
        if self._receiver is not None:
            self._receiver(session_id, entries)
        # Failing to publish loses nothing: the entries are committed and every
        # node's hub fills gaps from the log. So log it and go on.
        try:
            await pub
        except (RedisError, OSError) as exc:
            log.warning("publish to Redis failed (%s); nodes will catch up from the log", exc)

    async def publish_frame(self, session_id: str, after: int, frame: bytes) -> None:
        # Local subscribers first: the entries it follows were delivered here
        # when they were published. Other nodes get it in channel order, after
        # those entries; this node drops the echo (its ``after`` is not new).
        if self._frames is not None:
            self._frames(session_id, after, frame)
        try:
            await self._redis.publish(self._prefix + session_id, _encode_frame(after, frame))
        except (RedisError, OSError) as exc:
            log.warning("publish of a frame to Redis failed (%s); other nodes miss it", exc)

    async def subscribe(self, session_id: str) -> None:
        self._channels.add(self._prefix + session_id)
        await self._sync_subscriptions()

    async def unsubscribe(self, session_id: str) -> None:
        self._channels.discard(self._prefix + session_id)
        await self._sync_subscriptions()

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise Unavailable(f"redis unreachable: {exc}") from exc

    async def _sync_subscriptions(self) -> None:
        ps = self._pubsub
        if ps is None:
            return
        try:
            current = {c.decode() if isinstance(c, bytes) else c for c in ps.channels}
            add = self._channels - current
            drop = current - self._channels
            if add:
                await ps.subscribe(*add)
            if drop:
                await ps.unsubscribe(*drop)
        except (RedisError, OSError) as exc:
            log.warning("redis subscription change failed (%s); will resubscribe", exc)
        self._changed.set()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                if self._channels:
                    await self._pubsub.subscribe(*self._channels)
                else:
                    # Keep the connection open even with no sessions, to notice outages.
                    await self._pubsub.subscribe(self._prefix + "_")
                if not self.connected:
                    self.connected = True
                    if self.on_resync is not None:
                        self.on_resync()  # whatever was published meanwhile is in the log
                backoff = 0.1
                while True:
                    msg = await self._pubsub.get_message(timeout=1.0)
                    if msg is None or msg.get("type") != "message":
                        continue
                    channel = msg["channel"]
                    name = channel.decode() if isinstance(channel, bytes) else channel
                    if not name.startswith(self._prefix):
                        continue
                    data = msg["data"]
                    if data[:1] == _FRAME:
                        if self._frames is not None:
                            self._frames(name[len(self._prefix) :], *_decode_frame(data))
                    elif self._receiver is not None:
                        self._receiver(name[len(self._prefix) :], _decode(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect on anything: the log covers the gap
                if self.connected:
                    log.warning("lost Redis (%s); reconnecting", exc)
                self.connected = False
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                self._pubsub = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
