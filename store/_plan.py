"""Plan a batch of jobs in memory: the pure core of the batch writer.

The writer reads the batch's session rows under their locks (``Row``), then
this module runs every job in queue order against them, as if each were its
own transaction: a job's ``decide`` sees the state and chain head that the
jobs before it left, and a job that raises leaves nothing behind (decide
before write: a refused command never touches the database). What comes out
is the batch's writes (new sessions, entries, projection rows, the final row
of each session) and one outcome per job. No I/O here; the backends in
``store/_writer_sqlite.py`` and ``store/_writer_pg.py`` do the reading and
writing, in one transaction per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson

from protocol import GENESIS_HASH, canonical_details, entry_hash_canonical
from protocol.errors import Conflict, NotFound
from store._entries import LogEntry
from store._ops import Insert, Op, Update
from store._projections import projections
from store._time import ms_to_iso
from store._tree import NodeRow, grow


class PendingEvent(Protocol):
    """What a decision appends: the rules' ``NewEvent`` has this shape."""

    @property
    def event_type(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def actor_id(self) -> str | None: ...


@dataclass(slots=True)
class Decision:
    """The outcome of a command, computed under the lock by the caller's pure code."""

    events: Sequence[PendingEvent]
    # The state after the command: a dict, or any object orjson serialises to
    # the same JSON (the rules hand over their dataclass; no dict is built).
    state: Any
    status: str
    next_action_ms: int | None
    session_columns: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    # Columns that depend on the new chain head (the integrity hash on completion).
    after_chain: Callable[[Head], dict[str, Any]] | None = None
    # The decoded form of ``state`` (the rules' object), handed to the session's
    # next command so that it need not parse the state again (``Memos``).
    memo: Any = None
    # The events changed nothing in the state (annotations): the stored text
    # stands, and is neither serialised again nor compared.
    same_state: bool = False


class Head(NamedTuple):  # a tuple, as ``LogEntry``: made twice a command
    sequence_number: int
    hash: str


class TxInfo(NamedTuple):
    """What the transaction read besides the state, for the caller's ``decide``."""

    live_connections: int | None  # of ``live_user`` across all nodes, when asked
    timer_owner: str | None


@dataclass(slots=True)
class Committed:
    """What a job left: its entries, the session's state and head after it, its result.

    ``state`` is decoded from ``state_json`` on first use when only that is
    given: most callers never read it, and the writer has the JSON anyway (the
    row it writes).
    """

    entries: list[LogEntry]
    decoded: dict[str, Any] | None
    head: Head
    result: Any
    timer_owner: str | None = None
    timer_fence: int = 0
    fenced: bool = False  # a timer presented a stale fencing token: nothing was done
    next_action_ms: int | None = None  # as decided (None when fenced)
    state_json: str | bytes | None = None
    # The session's Merkle tree just before these entries (its size and edge, as
    # ``TreeState`` holds them), when the same transaction appended them to it
    # (``store/_tree.py``); None: it did not.
    tree: tuple[int, bytes] | None = None

    @property
    def state(self) -> dict[str, Any]:
        if self.decoded is None:
            if self.state_json is None:
                raise ValueError("Committed has neither a state nor its JSON")
            self.decoded = orjson.loads(self.state_json)
        return self.decoded


# ``decide(state_text, memo, head, now, info)``: ``memo`` is the decoded form of
# ``state_text`` that the session's previous command left (``Decision.memo``),
# or None; the decider may change it in place, it is never used again.
Decide = Callable[[str, Any, Head, int, TxInfo], Decision]


class Memos:
    """Decoded states the writer keeps between commands, up to ``size`` sessions.

    A memo is taken (removed) before its command runs and put back only with
    the text its decision produced, so one that a refused command changed in
    place, or one from a batch that rolled back, can never be used: a memo is
    used only while its text equals the session's stored state, compared by
    value, so a row read anew from the database still finds it.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._memos: dict[str, tuple[str, Any]] = {}

    def take(self, session_id: str, text: str) -> Any:
        kept = self._memos.pop(session_id, None)
        return kept[1] if kept is not None and kept[0] == text else None

    def put(self, session_id: str, text: str, memo: Any) -> None:
        if memo is None:
            return
        self._memos.pop(session_id, None)  # re-inserted last: the oldest go first
        self._memos[session_id] = (text, memo)
        if len(self._memos) > self._size:
            del self._memos[next(iter(self._memos))]

    def __len__(self) -> int:
        return len(self._memos)


# --- jobs -------------------------------------------------------------------


@dataclass(slots=True)
class Command:
    """Run ``decide`` on one session under its lock; outcome: ``Committed``."""

    session_id: str
    decide: Decide
    now: int
    node: str | None = None
    fence: int | None = None
    live_user: str | None = None
    lease_ms: int = 5000


@dataclass(slots=True)
class Create:
    """A new session with its first entry; outcome: ``Committed``."""

    session_id: str
    first: PendingEvent
    state: dict[str, Any]
    now: int
    columns: dict[str, Any]


@dataclass(slots=True)
class Connect:
    """A live connection's presence row (``live_connections``); outcome: None."""

    row: dict[str, Any]


@dataclass(slots=True)
class Disconnect:
    """Forget a connection; outcome: whether this call removed the row."""

    connection_id: str


Job = Command | Create | Connect | Disconnect


# --- what the backends read and write ----------------------------------------

SESSION_COLUMNS = (
    "id",
    "head_seq",
    "head_hash",
    "state",
    "timer_owner",
    "timer_fence",
    "timer_lease_until",
    "tree_size",
    "tree_frontier",
    "status",
    "next_action_ms",
)
ENTRY_COLUMNS = (
    "session_id",
    "sequence_number",
    "timestamp",
    "event_type",
    "actor_id",
    "details",
    "previous_hash",
    "hash_chain",
    "created_at",
)
# The columns every command may change; written for each touched session.
HEAD_COLUMNS = (
    "head_seq",
    "head_hash",
    "state",
    "status",
    "next_action_ms",
    "timer_owner",
    "timer_fence",
    "timer_lease_until",
    "tree_size",
    "tree_frontier",
)
# The head columns a command that moves no timer and keeps the status changes: the
# narrow head update (``Row.moved`` False) writes only these, so that SQLite leaves
# the indexes of the others (status, next action, timer owner) untouched.
NARROW_HEAD = (0, 1, 2, 8, 9, 10)  # positions in ``Row.head_values``: these, then the id


@dataclass(slots=True)
class Row:
    """A session row as the batch sees it; updated in place as jobs run."""

    head_seq: int
    head_hash: str
    state: str
    timer_owner: str | None
    timer_fence: int
    timer_lease_until: int | None
    status: str = ""
    next_action_ms: int | None = None
    dirty: bool = False
    # The session's Merkle tree (``store/_tree.py``): the writer grows it while
    # it is at the head (``tree_size == head_seq``).
    tree_size: int = 0
    tree_frontier: bytes = b""
    # A job of this batch changed a column besides the head, the state and the tree
    # (status, next action, timer owner, fence or lease): the full head update.
    moved: bool = False

    def head_values(self, session_id: str) -> tuple[Any, ...]:
        return (
            self.head_seq,
            self.head_hash,
            self.state,
            self.status,
            self.next_action_ms,
            self.timer_owner,
            self.timer_fence,
            self.timer_lease_until,
            self.tree_size,
            self.tree_frontier,
            session_id,
        )


@dataclass(slots=True)
class Plan:
    new_sessions: list[Op] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    heads: list[tuple[Any, ...]] = field(default_factory=list)
    moved: list[bool] = field(default_factory=list)  # per head: ``Row.moved``
    nodes: list[NodeRow] = field(default_factory=list)  # the trees' new stored nodes
    outcomes: list[Any] = field(default_factory=list)  # per job: a value or an exception


def plan(
    jobs: Sequence[Job],
    rows: dict[str, Row],
    live: dict[tuple[str, str], int],
    removed: set[str],
    memos: Memos | None = None,
    trees: bool = True,
) -> Plan:
    """Run the batch's jobs in order against the locked ``rows``.

    Args:
        rows: the batch's sessions, as read under their locks.
        live: ``(session_id, user_id)`` → live participant connections, for the
            commands that ask (read after this batch's presence writes).
        removed: the connection ids whose rows this batch's ``Disconnect``s
            actually deleted.
        memos: the writer's decoded states (taken and refilled as commands run).
        trees: grow each session's Merkle tree that is at its head.
    """
    out = Plan()
    memos = Memos(0) if memos is None else memos
    for job in jobs:
        try:
            if isinstance(job, Command):
                out.outcomes.append(_command(job, rows, live, out, memos, trees))
            elif isinstance(job, Create):
                out.outcomes.append(_create(job, rows, out, trees))
            elif isinstance(job, Connect):
                out.outcomes.append(None)
            else:
                out.outcomes.append(job.connection_id in removed)
        except Exception as exc:  # the job's own refusal or bug: it fails alone
            out.outcomes.append(exc)
    out.heads = [r.head_values(sid) for sid, r in rows.items() if r.dirty]
    out.moved = [r.moved for r in rows.values() if r.dirty]
    return out


def _command(
    job: Command,
    rows: dict[str, Row],
    live: dict[tuple[str, str], int],
    out: Plan,
    memos: Memos,
    trees: bool,
) -> Committed:
    sid = job.session_id
    row = rows.get(sid)
    if row is None:
        raise NotFound("session not found")
    head = Head(row.head_seq, row.head_hash)
    if job.fence is not None and (row.timer_owner != job.node or row.timer_fence != job.fence):
        return Committed(
            [], orjson.loads(row.state), head, None, row.timer_owner, row.timer_fence, True
        )
    count = None if job.live_user is None else live.get((sid, job.live_user), 0)
    memo = memos.take(sid, row.state)
    decision = job.decide(row.state, memo, head, job.now, TxInfo(count, row.timer_owner))
    if not decision.events:
        return Committed(
            [],
            None,
            head,
            decision.result,
            row.timer_owner,
            row.timer_fence,
            next_action_ms=decision.next_action_ms,
            state_json=orjson.dumps(decision.state),
        )
    ts = ms_to_iso(job.now)
    entries: list[LogEntry] = []
    ops: list[Op] = []
    prev = head.hash
    for seq, e in enumerate(decision.events, start=head.sequence_number + 1):
        entry = chain(job.session_id, seq, ts, e, prev)
        entries.append(entry)
        ops += projections(job.session_id, e.event_type, e.details, e.actor_id, ts, seq)
        prev = entry.hash
    for r in decision.rounds:
        ops.append(
            Update.by("classroom_rounds", "id", r["id"], {k: v for k, v in r.items() if k != "id"})
        )
    new_head = Head(entries[-1].sequence_number, entries[-1].hash)
    # The tree just before these entries, if this batch grows it (at its head).
    tree = (row.tree_size, row.tree_frontier) if trees and row.tree_size == row.head_seq else None
    sealed = decision.after_chain(new_head) if decision.after_chain else {}
    extra = {**decision.session_columns, **sealed}
    if extra:
        ops.append(Update.by("courtroom_sessions", "id", job.session_id, extra))
    owner, fence, lease = row.timer_owner, row.timer_fence, row.timer_lease_until
    if decision.next_action_ms is None:
        owner, lease = None, None
    elif job.node is not None:
        # The node that last set a session's clock drives it.
        if owner != job.node:
            owner, fence = job.node, fence + 1
        lease = job.now + job.lease_ms
    # Nothing can fail past this point: only now does the job touch the batch.
    if not row.moved and (
        decision.status != row.status
        or decision.next_action_ms != row.next_action_ms
        or (owner, fence, lease) != (row.timer_owner, row.timer_fence, row.timer_lease_until)
    ):
        row.moved = True
    row.head_seq, row.head_hash = new_head.sequence_number, new_head.hash
    state_json: str | bytes = row.state
    if not decision.same_state:
        state_json = orjson.dumps(decision.state)
        row.state = state_json.decode()
    row.status, row.next_action_ms = decision.status, decision.next_action_ms
    row.timer_owner, row.timer_fence, row.timer_lease_until = owner, fence, lease
    if tree is not None:
        row.tree_size, row.tree_frontier = grow(
            sid, row.tree_size, row.tree_frontier, entries, out.nodes
        )
    row.dirty = True
    memos.put(sid, row.state, decision.memo)
    out.entries += [entry_values(e, ts) for e in entries]
    out.ops += ops
    return Committed(
        entries,
        None,
        new_head,
        decision.result,
        owner,
        fence,
        next_action_ms=decision.next_action_ms,
        state_json=state_json,
        tree=tree,
    )


def _create(job: Create, rows: dict[str, Row], out: Plan, trees: bool) -> Committed:
    if job.session_id in rows:
        raise Conflict("a session with this id exists already")
    ts = ms_to_iso(job.now)
    entry = chain(job.session_id, 1, ts, job.first, GENESIS_HASH)
    state_text = orjson.dumps(job.state).decode()
    empty = (0, b"")
    tree = grow(job.session_id, *empty, [entry], out.nodes) if trees else empty
    row = {
        **job.columns,
        "id": job.session_id,
        "status": job.state["status"],
        "created_at": ts,
        "head_seq": 1,
        "head_hash": entry.hash,
        "state": state_text,
        "next_action_ms": None,
        "timer_fence": 0,
        "tree_size": tree[0],
        "tree_frontier": tree[1],
    }
    out.new_sessions.append(Insert.row("courtroom_sessions", row))
    out.entries.append(entry_values(entry, ts))
    rows[job.session_id] = Row(
        1, entry.hash, state_text, None, 0, None, job.state["status"], None, False, *tree
    )
    return Committed([entry], job.state, Head(1, entry.hash), None, tree=empty if trees else None)


def chain(session_id: str, seq: int, ts: str, e: PendingEvent, prev: str) -> LogEntry:
    details_json = canonical_details(e.details)
    return LogEntry(
        session_id=session_id,
        sequence_number=seq,
        timestamp=ts,
        event_type=e.event_type,
        actor_id=e.actor_id,
        details_json=details_json,
        previous_hash=prev,
        hash=entry_hash_canonical(
            session_id, seq, ts, e.event_type, e.actor_id, details_json, prev
        ),
    )


def entry_values(e: LogEntry, created_at: str) -> tuple[Any, ...]:
    return (
        e.session_id,
        e.sequence_number,
        e.timestamp,
        e.event_type,
        e.actor_id,
        e.details_json,
        e.previous_hash,
        e.hash,
        created_at,
    )
