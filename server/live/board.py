"""The tournament channel ``/ws/tournaments/{tournament_id}``: one socket for a live board.

A board shows every court of a tournament's day at once. It must not open a
socket per court, and 200 courts must not cost the server 200 frames a tick
per board. So, per node and per (tournament, day), one :class:`Board`:

* **taps** each session of the day on the node's hub (``Hub.attach`` with an
  internal subscriber, :class:`_Tap`): the hub already receives the committed
  entries of those sessions from the broker (Redis across nodes), folds them
  into its mirror state, and hands each entry to its subscribers in sequence
  order. The tap turns an entry into a *summary* of its session (status,
  round, turn and clock anchor, warnings, observers, participants, the chain
  checked so far), encoded once and pushed to every board socket: the cost is
  O(changes), whatever the number of boards or courts;
* sends one **clocks** frame per tick interval (default 1 s, never more than
  2 a second) with the anchor of every running clock, encoded once for all
  boards: the page interpolates between them, so the frames a board receives
  do not grow with the number of courts;
* re-reads the day's schedule at once when a session is opened for one of the
  tournament's matches on any node (the news of it travels on the broker's
  ``tournament:<id>`` channel, Redis across nodes: :func:`announce_session`),
  and every ``rescan_ms`` for the rest (a match moved, a version finalized);
  it sends a ``schedule`` frame when the day changed.

The channel carries states, not events: a summary is the whole tile of a
session at ``sequence_number``. Resume is therefore by state: the client's
``hello`` names the sequence number it has per session (``known``) and the
``board`` welcome carries a fresh summary of every session whose log moved
past it, so no change is missed across a reconnect (the per-event history
stays on the session channel). docs/protocol.md section "Tournament channel".

Access (the seeds' organiser roles): ADMIN, SUPER_ADMIN and FACULTY see the
board of any tournament; anyone else — another signed-in account or no
account — only a tournament whose schedule is public (``public_schedule``),
read-only and from its finalized version. A refused hello closes with 4401
(anonymous) or 4403 (signed in); an unknown tournament with 4404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketState

from protocol import CloseCode
from protocol.errors import (
    CourtroomError,
)
from server.live.board_tiles import (
    _Tap,
    _Tile,
    summary_of,
)
from server.live.broker import Broker
from server.live.frames import OutFrame
from server.live.hub import Hub
from server.live.metrics import METRICS
from server.live.outbound import Outbound
from server.live.services import Services
from server.live.sockio import send_frame
from server.live.wire import wire_of
from server.rules.state import ADMIN, FACULTY, SUPER_ADMIN
from store import LogEntry

log = logging.getLogger("courtroom.board")

ORGANISER_ROLES = frozenset({ADMIN, SUPER_ADMIN, FACULTY})
MIN_CLOCK_INTERVAL_MS = 500  # at most 2 clocks frames a second, whatever the tick setting
NEWS = "tournament:"  # the broker channels of tournament news (after COURTROOM_REDIS_PREFIX)
QUEUE_FRAMES = 1024


# --- frames from the client ---------------------------------------------------------------


# --- summaries -------------------------------------------------------------------------------


class BoardConn:
    """One board socket and its outbound queue (a writer task runs only while frames wait)."""

    def __init__(self, ws: WebSocket, max_frames: int) -> None:
        self.ws = ws
        self.closed = False
        # The direct path when the server offers it (server/live/wire.py), as session sockets do.
        self.wire = wire_of(ws.scope)
        self.outbound = Outbound(
            self._send,
            self.too_slow,
            max_frames,
            direct=self.wire.try_write if self.wire is not None else None,
        )

    async def _send(self, frame: OutFrame) -> None:
        if not self.closed and not await send_frame(self.ws, self.wire, frame):
            self.closed = True

    def too_slow(self) -> None:
        task = asyncio.get_running_loop().create_task(
            self.close(CloseCode.TOO_SLOW, "too slow: resume with known")
        )
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        METRICS.ws_closed.labels(str(int(code))).inc()
        self.outbound.cancel()
        with contextlib.suppress(Exception):
            if self.ws.application_state != WebSocketState.DISCONNECTED:
                await self.ws.close(code=int(code), reason=reason[:120])


_background: set[asyncio.Task[Any]] = set()


class Board:
    """One tournament day on this node: its taps, its board sockets, its clock."""

    def __init__(
        self,
        registry: BoardRegistry,
        tournament_id: int,
        day: date,
        public: bool,
    ) -> None:
        self.registry = registry
        self.tournament_id = tournament_id
        self.day = day
        self.public = public
        self.subs: set[BoardConn] = set()
        self.tiles: dict[str, _Tile] = {}
        self.schedule: dict[str, Any] = {}
        self.schedule_bytes = b""
        self.ready = asyncio.Event()
        self.rescanning = asyncio.Lock()  # one re-read at a time (news and the timer race)
        self.rescans = 0  # re-reads done (tests: news, not the timer, brought a session)
        self.tasks: list[asyncio.Task[None]] = []
        self.frames_sent = 0  # frames pushed to sockets (bench and tests)
        self.clock_frames = 0

    # --- life ------------------------------------------------------------------

    async def open(self) -> None:
        await self._rescan()
        self.ready.set()
        self.tasks.append(asyncio.create_task(self._clock_loop(), name="board-clocks"))
        self.tasks.append(asyncio.create_task(self._rescan_loop(), name="board-rescan"))

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        hub = self.registry.hub
        for tile in list(self.tiles.values()):
            await hub.detach(tile.tap, tile.session_id)
        self.tiles.clear()

    async def _rescan(self) -> None:
        async with self.rescanning:
            self.rescans += 1
            day = await self.registry.schedule.day(
                self.tournament_id, self.day, None, signed_in=not self.public
            )
            encoded = orjson.dumps(day, option=orjson.OPT_NON_STR_KEYS)
            # The schedule first: a page learns which match a session belongs to before
            # that session's first summary arrives.
            if encoded != self.schedule_bytes:
                first = not self.schedule_bytes
                self.schedule, self.schedule_bytes = day, encoded
                if not first:
                    self._broadcast(OutFrame(b'{"type":"schedule","schedule":' + encoded + b"}"))
            wanted = {str(i["session_id"]) for i in day["items"] if i.get("session_id")}
            for sid in sorted(wanted):
                if sid not in self.tiles:
                    await self._attach(sid)
            for sid in [s for s in self.tiles if s not in wanted]:
                tile = self.tiles.pop(sid)
                await self.registry.hub.detach(tile.tap, sid)

    def session_opened(self, session_id: str) -> None:
        """News: a session was opened for a match of this tournament (on some node)."""
        if session_id in self.tiles:
            return  # the echo of news already acted on, or the timer was quicker
        task = asyncio.create_task(self._rescan_logged(), name="board-news")
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _attach(self, sid: str) -> None:
        tile = _Tile(sid, _Tap(sid, self._on_entry))
        self.tiles[sid] = tile
        try:
            ch = await self.registry.hub.attach(tile.tap, sid)
        except CourtroomError as exc:  # e.g. deleted meanwhile: the tile stays "not opened"
            log.info("board %s: session %s not tapped: %s", self.tournament_id, sid, exc)
            del self.tiles[sid]
            return
        tile.channel = ch
        # No await since attach: the state is exactly at ch.head; later entries come
        # through the tap, in order.
        self._refresh(tile)
        task = asyncio.create_task(self._verify(tile, ch.head.sequence_number))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _verify(self, tile: _Tile, upto: int) -> None:
        """Check the chain up to the head at attach, then the entries that came meanwhile."""
        feed = tile.verifier.feed_canonical
        try:
            async for e in self.registry.store.stream_entries(tile.session_id, 1):
                if e.sequence_number > upto:
                    break
                if not feed(
                    e.session_id,
                    e.sequence_number,
                    e.timestamp,
                    e.event_type,
                    e.actor_id,
                    e.details_json,
                    e.previous_hash,
                    e.hash,
                ):
                    break
        except Exception:
            log.exception("board: verifying %s failed", tile.session_id)
            return
        for entry in tile.waiting:
            if entry["sequence_number"] > upto:
                tile.verifier.feed(entry)
        tile.waiting.clear()
        tile.verifying = False
        self._refresh(tile)

    def _on_entry(self, sid: str, frame: OutFrame) -> None:
        tile = self.tiles.get(sid)
        if tile is None or tile.channel is None:
            return
        entry = orjson.loads(frame.text)
        if entry.get("type") != "event":
            # The record's signed checkpoints come the same way (server/live/record.py): not
            # entries of the chain, and nothing a tile shows.
            return
        if tile.verifying:
            tile.waiting.append(entry)
        else:
            tile.verifier.feed(entry)
        self._refresh(tile)

    def _refresh(self, tile: _Tile) -> None:
        ch = tile.channel
        if ch is None or ch.state is None:
            return
        # "type" first, so a client can dispatch on the frame's first bytes.
        body = {"type": "summary", **summary_of(ch.state, ch.head.sequence_number, tile.check())}
        body["server_time_ms"] = self.registry.clock()
        tile.summary = OutFrame(orjson.dumps(body))
        tile.summary_seq = ch.head.sequence_number
        self._broadcast(tile.summary)

    def _broadcast(self, frame: OutFrame) -> None:
        for conn in list(self.subs):
            if conn.outbound.push(frame):
                self.frames_sent += 1

    # --- clocks ----------------------------------------------------------------

    def clocks_frame(self, now: int) -> OutFrame | None:
        clocks: dict[str, tuple[int, int]] = {}
        for sid, tile in self.tiles.items():
            ch = tile.channel
            state = ch.state if ch is not None else None
            if ch is None or state is None:
                continue
            t = state.running_turn()
            if t is None or t.deadline_ms is None:
                continue
            # Compact: [remaining_ms, sequence_number]; the turn is in the tile's summary.
            clocks[sid] = (max(0, t.deadline_ms - now), ch.head.sequence_number)
        if not clocks:
            return None
        return OutFrame(orjson.dumps({"type": "clocks", "server_time_ms": now, "clocks": clocks}))

    async def _clock_loop(self) -> None:
        every = max(MIN_CLOCK_INTERVAL_MS, self.registry.tick_ms)
        while True:
            now = self.registry.clock()
            await asyncio.sleep((every - now % every) / 1000)
            frame = self.clocks_frame(self.registry.clock())
            if frame is None or not self.subs:
                continue
            self.clock_frames += 1
            for conn in list(self.subs):
                conn.outbound.push_tick(frame)
                self.frames_sent += 1

    async def _rescan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.registry.rescan_ms / 1000)
            await self._rescan_logged()

    async def _rescan_logged(self) -> None:
        try:
            await self._rescan()
        except Exception as exc:  # the database may be away: the timer tries again
            log.info("board %s: rescan failed: %s", self.tournament_id, exc)

    # --- a board socket joins -----------------------------------------------------

    def welcome(
        self, known: Mapping[str, int], access: str, tournament: Mapping[str, Any]
    ) -> bytes:
        """The ``board`` frame: the schedule, every head, and the summaries past ``known``."""
        summaries = []
        heads: dict[str, int] = {}
        for sid, tile in self.tiles.items():
            if tile.summary is None:
                continue
            heads[sid] = tile.summary_seq
            if known.get(sid, -1) < tile.summary_seq:
                summaries.append(orjson.Fragment(tile.summary.data))
        return orjson.dumps(
            {
                "type": "board",
                "tournament": {
                    "id": self.tournament_id,
                    "name": tournament.get("name"),
                    "public_schedule": bool(tournament.get("public_schedule")),
                },
                "access": access,
                "date": self.day.isoformat(),
                "schedule": orjson.Fragment(self.schedule_bytes),
                "heads": heads,
                "summaries": summaries,
                "clock_interval_ms": max(MIN_CLOCK_INTERVAL_MS, self.registry.tick_ms),
                "server_time_ms": self.registry.clock(),
            }
        )


class BoardRegistry:
    """The node's boards, one per (tournament, day, public or not), opened on demand."""

    def __init__(self, services: Services, *, rescan_ms: int | None = None) -> None:
        self.hub: Hub = services.hub
        self.store = services.store
        self.schedule: Any = services.extras["schedule"]
        self.news: Broker | None = services.extras.get("tournament_news")
        self.clock: Callable[[], int] = services.courtroom.clock
        self.tick_ms = services.settings.tick_interval_ms
        self.rescan_ms = rescan_ms if rescan_ms is not None else services.settings.board_rescan_ms
        self.boards: dict[tuple[int, date, bool], Board] = {}
        self._lock = asyncio.Lock()

    async def join(self, tournament_id: int, day: date, public: bool) -> Board:
        key = (tournament_id, day, public)
        async with self._lock:
            board = self.boards.get(key)
            if board is None:
                if self.news is not None and not self._watching(tournament_id):
                    # Before the first read, so no session opened after it goes unheard.
                    await self.news.subscribe(str(tournament_id))
                board = Board(self, tournament_id, day, public)
                await board.open()
                self.boards[key] = board
        return board

    async def leave(self, board: Board, conn: BoardConn) -> None:
        board.subs.discard(conn)
        async with self._lock:
            key = (board.tournament_id, board.day, board.public)
            if not board.subs and self.boards.get(key) is board:
                del self.boards[key]
                await board.close()
                if self.news is not None and not self._watching(board.tournament_id):
                    await self.news.unsubscribe(str(board.tournament_id))

    def _watching(self, tournament_id: int) -> bool:
        return any(k[0] == tournament_id for k in self.boards)

    def on_news(self, topic: str, entries: Sequence[LogEntry]) -> None:
        """The broker's receiver: ``entries`` open a session for a match of ``topic``."""
        sids = {e.session_id for e in entries}
        for board in list(self.boards.values()):
            if str(board.tournament_id) == topic:
                for sid in sids:
                    board.session_opened(sid)


# --- the endpoint ------------------------------------------------------------------------------
