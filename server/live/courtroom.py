"""The courtroom service: the one path every command takes, from HTTP or WebSocket.

    command → rules (under the session's lock, inside the store's transaction)
            → append + projections → commit → publish → hooks (timer runner, record)

``create_session`` commits the first entry the same way and runs the same
hooks (there is nobody to publish to yet).

Commands are not serialised here: every command is a job of the store's batch
writer, which commits them in queue order, many sessions to a transaction,
under the database's row locks (which also serialise nodes). What this module
keeps in order is the publish: per session, entries reach the broker in
sequence order (see ``_publish``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from protocol import event_types as ev, session_integrity_hash
from server.live.broker import Broker
from server.live.metrics import METRICS
from server.rules.commands import CreateSession, SessionCommand
from server.rules.session import (
    RulesConfig,
    changes_state,
    create,
    evolve,
    handle,
    initial_state,
    next_action_ms,
)
from server.rules.state import Actor, SessionState, Status
from store import Committed, Decision, Head, SessionStore, TxInfo, ms_to_iso
from timers import Clock

CommitHook = Callable[[str, Committed], None]


class Courtroom:
    def __init__(
        self,
        store: SessionStore,
        broker: Broker,
        clock: Clock,
        rules: RulesConfig,
        *,
        node_id: str | None = None,
        lease_ms: int = 5000,
    ) -> None:
        self.node_id = node_id
        self.lease_ms = lease_ms
        self.store = store
        self.broker = broker
        self.clock = clock
        self.rules = rules
        # Per session publishing now: its lock and how many hold or await it.
        self._publishing: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._hooks: list[CommitHook] = []

    def on_commit(self, hook: CommitHook) -> None:
        self._hooks.append(hook)

    async def create_session(
        self,
        actor: Actor,
        *,
        assignment_id: str | None = None,
        title: str = "",
        allow_anonymous_observers: bool = True,
        expected: tuple[dict[str, Any], ...] = (),
        metadata: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Committed:
        sid = session_id or str(uuid.uuid4())
        now = self.clock()
        cmd = CreateSession(
            session_id=sid,
            assignment_id=assignment_id,
            title=title,
            allow_anonymous_observers=allow_anonymous_observers,
            expected=expected,
            metadata=metadata or {},
        )
        first = create(cmd, actor, now)
        state = initial_state(sid, first.details, now)
        evolve(state, first.event_type, first.details, first.actor_id, now)
        committed = await self.store.create(
            sid,
            first,
            state.to_dict(),
            now=now,
            assignment_id=assignment_id,
            title=title,
            metadata=metadata,
            created_by=actor.user_id,
        )
        METRICS.tally.appended(1)
        self._run_hooks(sid, committed)
        return committed

    async def execute(
        self,
        session_id: str,
        cmd: SessionCommand | Callable[[TxInfo], SessionCommand],
        actor: Actor,
        *,
        fence: int | None = None,
        live_user: str | None = None,
    ) -> Committed:
        """Decide, commit and publish one command. Raises a CourtroomError if refused.

        Args:
            cmd: the command, or a function that builds it from what the
                transaction read (``TxInfo``: e.g. the user's live connections).
            fence: for timer firings, the fencing token this node holds.
            live_user: count this user's live connections inside the transaction.
        """
        kind = getattr(cmd, "__name__", type(cmd).__name__)
        now = self.clock()
        started = time.perf_counter()
        rules = self.rules

        def decide(text: str, memo: Any, head: Head, at: int, info: TxInfo) -> Decision:
            command = cmd(info) if callable(cmd) else cmd
            state = memo if memo is not None else SessionState.from_dict(orjson.loads(text))
            events = handle(state, command, actor, at, rules)
            return _decision(session_id, state, events, at)

        try:
            committed = await self.store.execute(
                session_id,
                decide,
                now=now,
                node=self.node_id,
                fence=fence,
                live_user=live_user,
                lease_ms=self.lease_ms,
            )
        except Exception:
            METRICS.tally.command(kind, "refused")
            raise
        if committed.entries:
            METRICS.tally.appended(len(committed.entries), time.perf_counter() - started)
            await self._publish(session_id, committed)
        METRICS.tally.command(kind, "ok")
        if committed.entries:
            _count_round_metrics(committed)
            self._run_hooks(session_id, committed)
        return committed

    def _run_hooks(self, session_id: str, committed: Committed) -> None:
        """Every commit reaches every hook, a session's first entry included."""
        for hook in self._hooks:
            hook(session_id, committed)

    async def _publish(self, session_id: str, committed: Committed) -> None:
        """Hand committed entries to the broker, per session in sequence order.

        The writer resolves its jobs' futures in commit order, and each waiter
        reaches this lock with no await in between; ``asyncio.Lock`` is FIFO, so
        publishes of one session leave in the order their entries were chained
        even when the broker awaits (Redis). The lock lives while someone
        holds or awaits it (a plain dict and a count: a weak dictionary cost
        ~2 µs a command more).
        """
        entry = self._publishing.get(session_id)
        if entry is None:
            entry = self._publishing[session_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                await self.broker.publish(session_id, committed.entries)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._publishing[session_id]


def _decision(session_id: str, state: SessionState, events: list[Any], at: int) -> Decision:
    columns: dict[str, Any] = {}
    # One plain loop over the events (usually one): three comprehensions cost a
    # frame each, and this runs once a command.
    kinds: set[str] = set()
    touched: set[str] = set()
    same_state = True
    for e in events:
        t = e.event_type
        kinds.add(t)
        if same_state and changes_state(t):
            same_state = False
        if t.startswith(("ROUND_", "TURN_")) and "round_id" in e.details:
            touched.add(e.details["round_id"])
    if ev.SESSION_STARTED in kinds and state.started_at_ms is not None:
        columns["started_at"] = ms_to_iso(state.started_at_ms)
    after_chain = None
    if ev.SESSION_COMPLETED in kinds and state.status is Status.COMPLETED:
        columns["ended_at"] = ms_to_iso(at)

        def after_chain(head: Head) -> dict[str, Any]:
            return {"integrity_hash": integrity_hash(state, head)}

    round_rows = []
    for rid in sorted(touched):
        r = state.rounds.get(rid)
        if r is None:
            continue
        cur = r.current
        round_rows.append(
            {
                "id": rid,
                "status": r.status,
                "current_turn_id": r.current_turn_id,
                "current_speaker_participant_id": cur.participant_id if cur else None,
            }
        )
    return Decision(
        events=events,
        state=state,  # orjson writes the dataclass as to_dict() would
        status=state.status.value,
        next_action_ms=next_action_ms(state),
        session_columns=columns,
        rounds=round_rows,
        after_chain=after_chain,
        memo=state,
        same_state=same_state,
    )


def integrity_hash(state: SessionState, head: Head) -> str:
    """The seed's session integrity hash over the completed session (see protocol)."""
    return session_integrity_hash(
        session_id=state.session_id,
        assignment_id=state.assignment_id,
        status=state.status.value,
        started_at=None if state.started_at_ms is None else ms_to_iso(state.started_at_ms),
        ended_at=None if state.ended_at_ms is None else ms_to_iso(state.ended_at_ms),
        participations=[
            {
                "user_id": p.user_id,
                "role": p.role,
                "speaker": p.speaker,
                "joined_at": ms_to_iso(p.joined_at_ms),
                "left_at": None if p.left_at_ms is None else ms_to_iso(p.left_at_ms),
                "connection_count": p.connection_count,
            }
            for p in state.participants.values()
        ],
        log_entries=head.sequence_number,
        log_head_hash=head.hash,
    )


def _count_round_metrics(committed: Committed) -> None:
    for e in committed.entries:
        t = e.event_type
        if t == ev.ROUND_STARTED:
            METRICS.rounds_started.inc()
        elif t == ev.ROUND_COMPLETED:
            METRICS.rounds_completed.inc()
        elif t == ev.TURN_TIME_EXPIRED:
            METRICS.turns_timed_out.inc()
        elif t in (ev.TURN_SUBMITTED, ev.TURN_AUTO_SUBMITTED, ev.TURN_FORCE_SUBMITTED):
            METRICS.turns_submitted.inc()
            d = e.as_dict()["details"]
            state = committed.state
            duration = _turn_duration(state, d["turn_id"], d.get("submitted_at_ms", 0))
            METRICS.turn_ended(duration, bool(d.get("late", False)))


def _turn_duration(state: dict[str, Any], turn_id: str, ended_ms: int) -> int:
    for r in state.get("rounds", {}).values():
        for t in r.get("turns", []):
            if t["turn_id"] == turn_id and t.get("started_at_ms") is not None:
                return int(ended_ms - t["started_at_ms"])
    return 0
