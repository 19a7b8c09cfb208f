"""The node's hub: per-session channels, ordered delivery, and the clock's ticks.

Each channel mirrors its session's state by folding the entries it delivers
(the same ``evolve`` the rules use), so every node derives its clients' ticks
from state and ticks never cross the broker. Delivery per session is in
sequence order: a duplicate is dropped, a gap is filled from the log before
anything after it is delivered (DESIGN.md invariant 3).

Each entry is encoded once per node; the same ``OutFrame`` goes to every
subscriber, written straight to its socket when the socket is idle and
writable, else queued, never awaiting any socket (``server/live/outbound.py``).
A clock event and the tick it causes leave as one write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from protocol import event_types as ev, tick_frame
from server.live.broker import Broker
from server.live.frames import OutFrame
from server.live.metrics import METRICS
from server.live.outbound import Outbound
from server.live.singleflight import SingleFlight
from server.rules.session import evolve
from server.rules.state import SessionState
from store import Head, LogEntry, SessionStore
from timers import Clock

log = logging.getLogger("courtroom.hub")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CLOCK_EVENTS = frozenset(
    {
        ev.SESSION_PAUSED,
        ev.SESSION_RESUMED,
        ev.SESSION_COMPLETED,
        ev.TURN_STARTED,
        ev.TURN_TIME_EXPIRED,
        ev.TURN_SUBMITTED,
        ev.TURN_AUTO_SUBMITTED,
        ev.TURN_FORCE_SUBMITTED,
        ev.ROUND_ABORTED,
    }
)


def timestamp_ms(ts: str) -> int:
    return (datetime.fromisoformat(ts) - _EPOCH) // _MS


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH


class Subscriber(Protocol):
    """A connection as the hub sees it."""

    outbound: Outbound
    syncing: bool
    backlog: list[tuple[int, OutFrame]]
    is_observer: bool

    def too_slow(self) -> None: ...


class Channel:
    __slots__ = (
        "session_id",
        "subs",
        "state",
        "head",
        "pending",
        "refs",
        "ready",
        "filling",
        "frames",
        "frames_after",
    )

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.subs: set[Subscriber] = set()
        self.state: SessionState | None = None
        self.head = Head(0, "")
        self.pending: dict[int, LogEntry] = {}
        self.refs = 0
        self.ready = asyncio.Event()
        self.filling: asyncio.Task[None] | None = None
        # Frames that follow entries (checkpoints): (after sequence, frame), held
        # until the channel has delivered that entry; the largest ``after`` seen.
        self.frames: list[tuple[int, OutFrame]] = []
        self.frames_after = 0

    @property
    def observers_here(self) -> int:
        return sum(1 for s in self.subs if s.is_observer)


class Hub:
    def __init__(
        self,
        store: SessionStore,
        broker: Broker,
        clock: Clock,
        *,
        tick_interval_ms: int = 1000,
        backlog_limit: int = 1024,
        reconcile_ms: int | None = None,
        after_tick: Callable[[int, int], None] | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._reads: SingleFlight[str, dict[str, Any]] = SingleFlight()
        self._clock = clock
        self._tick_ms = tick_interval_ms
        self._backlog_limit = backlog_limit
        self._channels: dict[str, Channel] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._reconcile_ms = reconcile_ms
        self._reconciler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Housekeeping that must not delay a tick runs right after one (server/common/heap.py).
        self._after_tick = after_tick

    # --- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        await self._broker.start(self.receive, self.receive_frame)
        self._ticker = asyncio.create_task(self._tick_loop(), name="hub-ticker")
        if self._reconcile_ms:
            self._reconciler = asyncio.create_task(self._reconcile_loop(), name="hub-reconcile")

    async def close(self) -> None:
        for task in (self._ticker, self._reconciler):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for ch in self._channels.values():
            if ch.filling is not None:
                ch.filling.cancel()
        self._channels.clear()

    def channel(self, session_id: str) -> Channel | None:
        return self._channels.get(session_id)

    async def stored_state(self, session_id: str) -> dict[str, Any]:
        """The session's state as stored (NotFound if none): one read for all the
        callers that ask while it runs (the arrivals before a channel is ready)."""
        return await self._reads.do(session_id, lambda: self._state_of(session_id))

    async def _state_of(self, session_id: str) -> dict[str, Any]:
        state, _ = await self._store.load(session_id)
        return state

    def connection_count(self) -> int:
        return sum(len(ch.subs) for ch in self._channels.values())

    def audience(self, session_id: str) -> int:
        """How many connections a session's entry goes to, as far as this node knows:
        its own, or the observers the log counts on every node, whichever is more."""
        ch = self._channels.get(session_id)
        if ch is None:
            return 0
        logged = 0 if ch.state is None else ch.state.observers_now
        return max(len(ch.subs), logged)

    # --- subscribers --------------------------------------------------------

    async def attach(self, sub: Subscriber, session_id: str) -> Channel:
        """Add ``sub`` to the session's channel; returns with the channel ready.

        The subscriber should be ``syncing``: live entries then collect in its
        backlog until it has sent its welcome and replay (subscribe first, then
        read, then flush: no entry falls between the two).
        """
        # Join the session's channel once it is ready; if there is none (or its first
        # attach failed to load it and dropped it), make one and load it here.
        while (ch := self._channels.get(session_id)) is not None:
            ch.refs += 1
            try:
                await ch.ready.wait()
            except BaseException:  # this attach was cancelled while the channel loaded
                ch.refs -= 1
                await self._drop_if_unused(ch)
                raise
            if ch.state is not None:
                break
            # Its first attach could not load it (and dropped it): load it anew.
            ch.refs -= 1
        else:
            ch = self._channels[session_id] = Channel(session_id)
            ch.refs += 1
            try:
                await self._broker.subscribe(session_id)
                state, head = await self._store.load(session_id)
            except BaseException:
                await self._abandon(ch)
                raise
            ch.state = SessionState.from_dict(state)
            # Entries that arrived while loading and are already in the state are dropped.
            ch.head = head
            ch.ready.set()
            self._drain(ch)
            self._release_frames(ch)
        ch.subs.add(sub)
        METRICS.ws_subscribers.inc()
        return ch

    async def detach(self, sub: Subscriber, session_id: str) -> None:
        ch = self._channels.get(session_id)
        if ch is None or sub not in ch.subs:
            return
        ch.subs.discard(sub)
        METRICS.ws_subscribers.dec()
        ch.refs -= 1
        await self._drop_if_unused(ch)

    async def _abandon(self, ch: Channel) -> None:
        """A channel whose first load failed: unsubscribe, drop it, then wake the attaches
        that wait for it (in that order: one of them may subscribe a new channel at once)."""
        try:
            await self._broker.unsubscribe(ch.session_id)
        finally:
            if self._channels.get(ch.session_id) is ch:
                del self._channels[ch.session_id]
            ch.ready.set()  # with no state: each waiter tries again

    async def _drop_if_unused(self, ch: Channel) -> None:
        if ch.refs > 0 or self._channels.get(ch.session_id) is not ch:
            return
        del self._channels[ch.session_id]
        if ch.filling is not None:
            ch.filling.cancel()
        await self._broker.unsubscribe(ch.session_id)

    # --- delivery -----------------------------------------------------------

    def receive(self, session_id: str, entries: Sequence[LogEntry]) -> None:
        """The broker's receiver: called with committed entries, possibly out of order."""
        ch = self._channels.get(session_id)
        if ch is None:
            return
        for e in entries:
            if e.sequence_number > ch.head.sequence_number:
                ch.pending[e.sequence_number] = e
        if ch.ready.is_set():
            self._drain(ch)

    def receive_frame(self, session_id: str, after: int, data: bytes) -> None:
        """The broker's frame receiver: a frame for subscribers once entry ``after`` is out.

        Subscribers still catching up (``syncing``) skip it: what it says is
        served by HTTP (``/checkpoints``) too. A repeat (an echo) is dropped.
        """
        ch = self._channels.get(session_id)
        if ch is None or after <= ch.frames_after:
            return
        ch.frames_after = after
        ch.frames.append((after, OutFrame(data)))
        if ch.ready.is_set():
            self._release_frames(ch)

    def _release_frames(self, ch: Channel) -> None:
        head = ch.head.sequence_number
        while ch.frames and ch.frames[0][0] <= head:
            _, frame = ch.frames.pop(0)
            slow = [s for s in ch.subs if not s.syncing and not s.outbound.push(frame)]
            for sub in slow:
                sub.too_slow()

    def _drain(self, ch: Channel) -> None:
        pending = ch.pending
        for seq in [s for s in pending if s <= ch.head.sequence_number]:
            del pending[seq]
        while pending:
            nxt = pending.pop(ch.head.sequence_number + 1, None)
            if nxt is None:
                self._fill_gap(ch)
                return
            self._deliver(ch, nxt)

    async def reconcile(self) -> int:
        """Fill every channel that is behind the log's head; returns how many were.

        Pub/sub is at most once: a lost last message has no successor to reveal
        the gap, so the hub also asks the log for the heads now and then.
        """
        ready = [ch for ch in self._channels.values() if ch.ready.is_set()]
        if not ready:
            return 0
        heads = await self._store.heads([ch.session_id for ch in ready])
        behind = 0
        for ch in ready:
            if heads.get(ch.session_id, 0) > ch.head.sequence_number:
                behind += 1
                self._fill_gap(ch)
        return behind

    async def _reconcile_loop(self) -> None:
        assert self._reconcile_ms
        while True:
            await asyncio.sleep(self._reconcile_ms / 1000)
            try:
                await self.reconcile()
            except Exception as exc:  # the database may be down; try again
                log.debug("reconcile failed: %s", exc)

    def resync(self) -> None:
        """Catch every channel up from the log (after the broker lost messages)."""
        for ch in list(self._channels.values()):
            if ch.ready.is_set():
                self._fill_gap(ch)

    def _fill_gap(self, ch: Channel) -> None:
        if ch.filling is not None and not ch.filling.done():
            return
        ch.filling = asyncio.create_task(self._fill(ch), name=f"fill-{ch.session_id}")

    async def _fill(self, ch: Channel) -> None:
        """Read the missing entries from the log, then deliver everything in order."""
        METRICS.gap_fills.inc()
        try:
            entries = await self._store.entries(ch.session_id, ch.head.sequence_number + 1)
        except Exception:
            log.exception("gap fill for %s failed; retrying on the next entry", ch.session_id)
            ch.filling = None
            return
        ch.filling = None
        for e in entries:
            if e.sequence_number > ch.head.sequence_number:
                ch.pending.setdefault(e.sequence_number, e)
        self._drain(ch)

    def _deliver(self, ch: Channel, e: LogEntry) -> None:
        state = ch.state
        assert state is not None
        try:
            evolve(
                state,
                e.event_type,
                orjson.loads(e.details_json),
                e.actor_id,
                timestamp_ms(e.timestamp),
            )
        except Exception:
            # The mirror only feeds ticks and snapshots; the entry itself is
            # committed and must still be delivered. Re-read the state instead.
            log.exception(
                "mirror of %s failed on entry %d; reloading", ch.session_id, e.sequence_number
            )
            self._reload_state(ch)
        ch.head = Head(e.sequence_number, e.hash)
        frame = OutFrame(e.frame())
        # A clock event changes the clock: its tick follows in the same write.
        tick = self.tick_for(ch, self._clock()) if e.event_type in _CLOCK_EVENTS else None
        seq = e.sequence_number
        slow: list[Subscriber] = []
        for sub in ch.subs:
            if sub.syncing:
                sub.backlog.append((seq, frame))
                if len(sub.backlog) > self._backlog_limit:
                    slow.append(sub)
            elif not sub.outbound.push(frame, tick):
                slow.append(sub)
        METRICS.deliveries.inc(len(ch.subs))
        for sub in slow:
            sub.too_slow()
        if ch.frames:
            self._release_frames(ch)

    def _reload_state(self, ch: Channel) -> None:
        async def reload() -> None:
            state, head = await self._store.load(ch.session_id)
            if head.sequence_number >= ch.head.sequence_number:
                ch.state = SessionState.from_dict(state)

        task = asyncio.create_task(reload(), name=f"reload-{ch.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- ticks --------------------------------------------------------------

    def tick_for(self, ch: Channel, now: int) -> OutFrame | None:
        """The tick frame of the channel's clock at ``now`` (None when no turn has a clock)."""
        state = ch.state
        if state is None:
            return None
        r = state.active_round()
        t = r.current if r is not None else None
        if t is None or t.status not in ("running", "expired"):
            return None
        running = t.deadline_ms is not None and t.status == "running"
        remaining = max(0, t.deadline_ms - now) if running and t.deadline_ms else t.remaining_ms
        return OutFrame(
            tick_frame(
                turn_id=t.turn_id,
                remaining_ms=remaining,
                running=running,
                sequence_number=ch.head.sequence_number,
                server_time_ms=now,
            )
        )

    def _tick_channel(self, ch: Channel, now: int) -> None:
        frame = self.tick_for(ch, now)
        if frame is None:
            return
        for sub in ch.subs:
            if not sub.syncing:
                sub.outbound.push_tick(frame)

    def tick_all(self, now: int) -> int:
        """Send the tick of every channel whose clock runs; returns how many ticked.

        A paused session's turn keeps status "running" with its clock frozen
        (no deadline): it got its one tick with SESSION_PAUSED and gets no more
        until a clock event (docs/protocol.md, "tick").
        """
        n = 0
        for ch in list(self._channels.values()):
            t = ch.state.running_turn() if ch.state is not None else None
            if (
                t is not None
                and t.deadline_ms is not None
                # A channel watched only by boards' taps (server/live/board.py) needs no tick
                # frame: the boards send one coalesced clocks frame for all their courts.
                and any(getattr(s, "wants_ticks", True) for s in ch.subs)
            ):
                self._tick_channel(ch, now)
                n += 1
        return n

    async def _tick_loop(self) -> None:
        while True:
            now = self._clock()
            # Sleep to the next whole interval of the clock, so ticks do not drift.
            wait = self._tick_ms - (now % self._tick_ms)
            await asyncio.sleep(wait / 1000)
            try:
                running = self.tick_all(self._clock())
                if self._after_tick is not None:
                    self._after_tick(self.connection_count(), running)
            except Exception:  # pragma: no cover - a bug here must not stop the clock
                log.exception("tick failed")

    def snapshot(self, ch: Channel) -> dict[str, Any]:
        assert ch.state is not None
        return ch.state.to_dict()
