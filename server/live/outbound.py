"""One bounded outbound queue per connection, with a direct path when it is idle.

Fan-out calls :meth:`Outbound.push` with an already encoded frame and never
waits. When nothing is queued or being sent and the socket can take bytes
now, the frame is written at once (``direct``): no queue, no task wake-up.
Otherwise it is queued for a writer task, started then and ending once the
queue is empty, which keeps the order. A slow socket only fills its own queue; when the queue
overflows, ``on_overflow`` fires once (the connection then stops its writer
and closes with 4001, and the client resumes from the log), and nothing more
is queued. Ticks do not queue: a newer tick replaces an unsent one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from server.live.frames import OutFrame


class WriteStats:
    """Frames that took the direct path, for ``/metrics`` (a plain int: this is per delivery)."""

    direct = 0


STATS = WriteStats()


class Outbound:
    # Idle, a connection holds no queue, no event and no writer task (see
    # ``bench/bench_idle_memory.py``): the queue is made when a frame first has
    # to wait, and a writer task runs only while something waits.
    __slots__ = (
        "_send",
        "_direct",
        "_on_overflow",
        "_max",
        "_frames",
        "_tick",
        "_writer",
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
        self._frames: deque[OutFrame] | None = None
        self._tick: OutFrame | None = None
        self._writer: asyncio.Task[None] | None = None
        # True from the moment anything is queued until the writer has sent it
        # all: while it is, a direct write would overtake what waits.
        self._busy = False
        self._overflowed = False
        self._done = False

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    def __len__(self) -> int:
        return len(self._frames) if self._frames is not None else 0

    def push(self, frame: OutFrame, tick: OutFrame | None = None) -> bool:
        """Send or queue a frame (then ``tick``, if given); False if too slow or stopped."""
        if self._done or self._overflowed:
            return False
        direct = self._direct
        if direct is not None and not self._busy:
            if direct(frame.wire if tick is None else frame.wire_then(tick)):
                STATS.direct += 1
                return True
        frames = self._frames
        if frames is None:
            frames = self._frames = deque()
        if len(frames) >= self._max:
            self._overflowed = True
            frames.clear()
            self._tick = None
            self._on_overflow()
            return False
        frames.append(frame)
        if tick is not None:
            self._tick = tick
        self._wake()
        return True

    def push_tick(self, frame: OutFrame) -> None:
        if self._done or self._overflowed:
            return
        direct = self._direct
        if direct is not None and not self._busy and direct(frame.wire):
            STATS.direct += 1
            return
        self._tick = frame
        self._wake()

    def _wake(self) -> None:
        self._busy = True
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._run(), name="ws-writer")

    def stop(self) -> None:
        """Take no more frames; a writer still running drains what is queued, then ends."""
        self._done = True

    def cancel(self) -> None:
        """Stop now, dropping what is queued (a writer stuck on a socket nobody reads)."""
        self._done = True
        if self._writer is not None:
            self._writer.cancel()

    async def wait_drained(self) -> None:
        """Return once no writer runs (everything queued was sent, or dropped)."""
        while (writer := self._writer) is not None:
            await asyncio.wait([writer])

    async def _run(self) -> None:
        """The writer: drain frames in order, then the latest tick; end when nothing waits."""
        try:
            while not self._overflowed:
                frames = self._frames
                while frames and not self._overflowed:
                    await self._send(frames.popleft())
                if self._overflowed:
                    return
                tick, self._tick = self._tick, None
                if tick is not None:
                    await self._send(tick)
                if not self._frames and self._tick is None:
                    # No await since the check: nothing waits. A burst's queue goes too.
                    self._busy = False
                    self._frames = None
                    return
        finally:
            self._writer = None
