"""One bounded outbound queue per connection, with a direct path when it is idle.

Fan-out calls :meth:`Outbound.push` with an already encoded frame and never
waits. When nothing is queued or being sent and the socket can take bytes
now, the frame is written at once (``direct``): no queue, no task wake-up.
Otherwise it is queued for the connection's writer task (``run``), which
keeps the order. A slow socket only fills its own queue; when the queue
overflows, ``on_overflow`` fires once (the connection then stops its writer
and closes with 4001, and the client resumes from the log), and nothing more
is queued. Ticks do not queue: a newer tick replaces an unsent one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from server.frames import OutFrame


class WriteStats:
    """Frames that took the direct path, for ``/metrics`` (a plain int: this is per delivery)."""

    direct = 0


STATS = WriteStats()


class Outbound:
    __slots__ = (
        "_send",
        "_direct",
        "_on_overflow",
        "_max",
        "_frames",
        "_tick",
        "_wake",
        "_busy",
        "_overflowed",
        "_done",
    )

    def __init__(
        self,
        send: Callable[[OutFrame], Awaitable[None]],
        on_overflow: Callable[[], None],
        max_frames: int,
        direct: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._send = send
        self._direct = direct
        self._on_overflow = on_overflow
        self._max = max_frames
        self._frames: deque[OutFrame] = deque()
        self._tick: OutFrame | None = None
        self._wake = asyncio.Event()
        # True from the moment anything is queued until the writer has sent it
        # all: while it is, a direct write would overtake what waits.
        self._busy = False
        self._overflowed = False
        self._done = False

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, frame: OutFrame, tick: OutFrame | None = None) -> bool:
        """Send or queue a frame (then ``tick``, if given); False if too slow or stopped."""
        if self._done or self._overflowed:
            return False
        direct = self._direct
        if direct is not None and not self._busy:
            if direct(frame.wire if tick is None else frame.wire_then(tick)):
                STATS.direct += 1
                return True
        if len(self._frames) >= self._max:
            self._overflowed = True
            self._frames.clear()
            self._tick = None
            self._wake.set()
            self._on_overflow()
            return False
        self._frames.append(frame)
        if tick is not None:
            self._tick = tick
        self._busy = True
        self._wake.set()
        return True

    def push_tick(self, frame: OutFrame) -> None:
        if self._done or self._overflowed:
            return
        direct = self._direct
        if direct is not None and not self._busy and direct(frame.wire):
            STATS.direct += 1
            return
        self._tick = frame
        self._busy = True
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
            if not frames and self._tick is None:
                self._busy = False  # no await since the check: nothing waits
            if self._done and not frames:
                return
