"""One bounded outbound queue and one writer task per connection.

Fan-out calls :meth:`Outbound.push` with an already encoded frame and never
waits: a slow socket only fills its own queue. When the queue overflows the
connection is too slow: ``on_overflow`` fires once (the connection then stops
its writer and closes with 4001, and the client resumes from the log), and
nothing more is queued. Ticks do not queue: a newer tick replaces an unsent one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable


class Outbound:
    __slots__ = (
        "_send",
        "_on_overflow",
        "_max",
        "_frames",
        "_tick",
        "_wake",
        "_overflowed",
        "_done",
    )

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        on_overflow: Callable[[], None],
        max_frames: int,
    ) -> None:
        self._send = send
        self._on_overflow = on_overflow
        self._max = max_frames
        self._frames: deque[str] = deque()
        self._tick: str | None = None
        self._wake = asyncio.Event()
        self._overflowed = False
        self._done = False

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, frame: str) -> bool:
        """Queue a frame; False if the connection is (now) too slow or stopped."""
        if self._done or self._overflowed:
            return False
        if len(self._frames) >= self._max:
            self._overflowed = True
            self._frames.clear()
            self._wake.set()
            self._on_overflow()
            return False
        self._frames.append(frame)
        self._wake.set()
        return True

    def push_tick(self, frame: str) -> None:
        if not self._done and not self._overflowed:
            self._tick = frame
            self._wake.set()

    def stop(self) -> None:
        self._done = True
        self._wake.set()

    async def run(self) -> None:
        """The writer: drain frames in order, then the latest tick, until stopped."""
        frames = self._frames
        while True:
            await self._wake.wait()
            self._wake.clear()
            while frames and not self._overflowed:
                await self._send(frames.popleft())
            if self._overflowed:
                return
            tick, self._tick = self._tick, None
            if tick is not None:
                await self._send(tick)
            if self._done and not frames:
                return
