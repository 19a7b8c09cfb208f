"""Reads and writes of the record v2 tables (``store/_record_schema.py``).

The batch writer grows each tree in the log's own transaction
(``store/_tree.py``). Here: the reads of proofs and checkpoints, the
checkpoints signed after the commit, and ``catch_up``, which brings a tree
left behind its log (a database from before that path, a lost tree) to the
head under the session's lock, so the writer and two nodes never write the
same nodes twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text, update

from protocol.errors import Conflict
from protocol.event_types import SESSION_COMPLETED
from store._db_errors import mapped as _mapped
from store._record_schema import merkle_nodes as MN, session_checkpoints as CP
from store._schema import courtroom_sessions as S, session_log_entries as E
from store._sessions import SessionStore
from store._tree import TreeState


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    session_id: str
    tree_size: int
    root_hash: str
    chain_head: str
    time: str
    key_id: str
    reason: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "chain_head": self.chain_head,
            "time": self.time,
            "key_id": self.key_id,
            "reason": self.reason,
            "note": self.note,
        }


def _cp(r: Any) -> CheckpointRow:
    return CheckpointRow(
        str(r.session_id),
        int(r.tree_size),
        r.root_hash,
        r.chain_head,
        r.time,
        r.key_id,
        r.reason,
        r.note,
    )


@dataclass(slots=True)
class ProofRows:
    """What one proof reads: the tree's size, stored nodes, entry hashes by sequence."""

    tree_size: int
    nodes: dict[tuple[int, int], bytes]
    entries: dict[int, str]


Leaf = tuple[int, str, str]  # an entry as the tree needs it: sequence, event type, hash
# The keeper's pure step: a tree and the entries after it → the new tree, its
# stored nodes (level, idx, hash) and the checkpoints signed on the way.
Build = Callable[
    [TreeState, list[Leaf]],
    tuple[TreeState, list[tuple[int, int, bytes]], list["CheckpointRow"]],
]
_CHUNK = 20_000  # entries one catch-up transaction takes


class RecordStore:
    def __init__(self, sessions: SessionStore) -> None:
        self._s = sessions

    async def tree(self, session_id: str) -> TreeState:
        """The session's stored tree (an unknown session: the empty tree)."""
        async with _mapped(), self._s.read_engine.connect() as c:
            row = (
                await c.execute(
                    select(S.c.tree_size, S.c.tree_frontier).where(S.c.id == session_id)
                )
            ).first()
        return TreeState(0) if row is None else TreeState.stored(row.tree_size, row.tree_frontier)

    async def catch_up(self, session_id: str, build: Build) -> tuple[int, list[CheckpointRow]]:
        """Extend the session's stored tree from its log, under the session's lock.

        The batch writer grows a tree only while it is at its log's head;
        this brings one that was left behind there, in transactions that hold
        the session's row (PostgreSQL; SQLite: the database) so no entry is
        committed meanwhile: the last one ends at the head, and the writer
        takes over from it. Returns the tree's size and the checkpoints
        stored (one already stored at a size stands, and is not signed twice).
        """
        stored: list[CheckpointRow] = []
        while True:
            async with _mapped(), self._s.write_engine.begin() as c:
                r = (
                    await c.execute(
                        select(S.c.head_seq, S.c.tree_size, S.c.tree_frontier)
                        .where(S.c.id == session_id)
                        .with_for_update()
                    )
                ).first()
                if r is None:
                    return 0, stored
                head = int(r.head_seq)
                tree = TreeState.stored(r.tree_size, r.tree_frontier)
                if tree.size >= head:
                    return tree.size, stored
                leaves = [
                    (int(e.sequence_number), str(e.event_type), str(e.hash_chain))
                    for e in await c.execute(
                        select(E.c.sequence_number, E.c.event_type, E.c.hash_chain)
                        .where(E.c.session_id == session_id, E.c.sequence_number > tree.size)
                        .order_by(E.c.sequence_number)
                        .limit(_CHUNK)
                    )
                ]
                new, nodes, cps = build(tree, leaves)
                await c.execute(
                    update(S)
                    .where(S.c.id == session_id)
                    .values(tree_size=new.size, tree_frontier=new.edge)
                )
                if nodes:
                    await c.execute(
                        insert(MN),
                        [
                            {"session_id": session_id, "level": lv, "idx": i, "hash": h}
                            for lv, i, h in nodes
                        ],
                    )
                stored += await self._checkpoints_in(c, cps)
            if new.size >= head:
                return new.size, stored

    async def add_checkpoints(self, rows: Sequence[CheckpointRow]) -> list[CheckpointRow]:
        """Store checkpoints in one transaction; those whose size is stored already stand."""
        if not rows:
            return []
        for attempt in range(2):
            try:
                async with _mapped(), self._s.write_engine.begin() as c:
                    return await self._checkpoints_in(c, rows)
            except Conflict:  # another node stored one of them first: look again
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _checkpoints_in(self, c: Any, rows: Sequence[CheckpointRow]) -> list[CheckpointRow]:
        """Insert the checkpoints not stored yet (by session and size); the inserted ones."""
        fresh: list[CheckpointRow] = []
        by_session: dict[str, list[CheckpointRow]] = {}
        for cp in rows:
            by_session.setdefault(cp.session_id, []).append(cp)
        for sid, cps in by_session.items():
            sizes = [cp.tree_size for cp in cps]
            have = {
                int(r.tree_size)
                for r in await c.execute(
                    select(CP.c.tree_size).where(
                        CP.c.session_id == sid,
                        CP.c.tree_size >= min(sizes),
                        CP.c.tree_size <= max(sizes),
                    )
                )
            }
            for cp in cps:
                if cp.tree_size not in have:
                    have.add(cp.tree_size)
                    fresh.append(cp)
        if fresh:
            await c.execute(insert(CP), [cp.as_dict() for cp in fresh])
        return fresh

    async def unsigned(
        self, event_types: Sequence[str], reasons: Sequence[str]
    ) -> list[tuple[str, Leaf]]:
        """Boundary entries after each session's last checkpoint of a boundary ``reason``.

        Checkpoints at boundaries are signed after the commit, in order: a
        crash between the two loses only the last ones of a session, which
        are these (at start-up, to sign them then).
        """
        last = (
            select(CP.c.session_id, func.max(CP.c.tree_size).label("size"))
            .where(CP.c.reason.in_(list(reasons)))
            .group_by(CP.c.session_id)
            .subquery()
        )
        q = (
            select(E.c.session_id, E.c.sequence_number, E.c.event_type, E.c.hash_chain)
            .select_from(E.outerjoin(last, last.c.session_id == E.c.session_id))
            .where(
                E.c.event_type.in_(list(event_types)),
                E.c.sequence_number > func.coalesce(last.c.size, 0),
            )
            .order_by(E.c.session_id, E.c.sequence_number)
        )
        async with _mapped(), self._s.read_engine.connect() as c:
            return [
                (str(r.session_id), (int(r.sequence_number), str(r.event_type), str(r.hash_chain)))
                for r in await c.execute(q)
            ]

    async def nodes(
        self, session_id: str, wanted: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        return (await self.proof_reads(session_id, wanted, ())).nodes

    async def proof_reads(
        self, session_id: str, wanted: Sequence[tuple[int, int]], blocks: Sequence[tuple[int, int]]
    ) -> ProofRows:
        """In one query: the stored tree's size, the stored nodes ``wanted`` and the
        chain hashes of the entries in each ``(first, last)`` sequence range of ``blocks``.

        One round trip for a whole proof (each costs ~1 ms through the pool on
        PostgreSQL, where the statement's text is fixed, so it is prepared once).
        """
        if self._s.read_engine.dialect.name == "postgresql":
            sql, params = _PG_PROOF, _pg_proof_params(session_id, wanted, blocks)
        else:
            sql, params = _sqlite_proof(wanted, blocks), {"sid": session_id}
        out = ProofRows(0, {}, {})
        async with _mapped(), self._s.read_engine.connect() as c:
            for kind, a, b, node, entry in await c.execute(text(sql), params):
                if kind == 0:
                    out.tree_size = int(a)
                elif kind == 1:
                    out.nodes[(int(a), int(b))] = bytes(node)
                else:
                    out.entries[int(a)] = str(entry)
        return out

    async def add_checkpoint(self, row: CheckpointRow) -> CheckpointRow:
        """Store a checkpoint; if one exists at that size already, that one stands."""
        try:
            async with _mapped(), self._s.write_engine.begin() as c:
                have = await self._at(c, row.session_id, row.tree_size)
                if have is not None:
                    return have
                await c.execute(insert(CP).values(**row.as_dict()))
                return row
        except Conflict:  # another node stored one at that size first
            async with _mapped(), self._s.read_engine.connect() as c:
                have = await self._at(c, row.session_id, row.tree_size)
            if have is None:
                raise
            return have

    async def _at(self, c: Any, session_id: str, size: int) -> CheckpointRow | None:
        r = (
            await c.execute(select(CP).where(CP.c.session_id == session_id, CP.c.tree_size == size))
        ).first()
        return None if r is None else _cp(r)

    async def checkpoints(self, session_id: str) -> list[CheckpointRow]:
        async with _mapped(), self._s.read_engine.connect() as c:
            rows = await c.execute(
                select(CP).where(CP.c.session_id == session_id).order_by(CP.c.tree_size)
            )
            return [_cp(r) for r in rows]

    async def covering(self, session_id: str, size: int) -> CheckpointRow | None:
        """The earliest checkpoint whose tree contains entry ``size``."""
        async with _mapped(), self._s.read_engine.connect() as c:
            r = (
                await c.execute(
                    select(CP)
                    .where(CP.c.session_id == session_id, CP.c.tree_size >= size)
                    .order_by(CP.c.tree_size)
                    .limit(1)
                )
            ).first()
        return None if r is None else _cp(r)

    async def final(self, session_id: str) -> CheckpointRow | None:
        """The checkpoint at the session's ``SESSION_COMPLETED`` entry, if signed yet."""
        at = (E.c.session_id == CP.c.session_id) & (E.c.sequence_number == CP.c.tree_size)
        q = (
            select(CP)
            .join(E, at)
            .where(CP.c.session_id == session_id, E.c.event_type == SESSION_COMPLETED)
            .limit(1)
        )
        async with _mapped(), self._s.read_engine.connect() as c:
            r = (await c.execute(q)).first()
        return None if r is None else _cp(r)

    async def behind(self) -> list[str]:
        """Sessions whose tree is shorter than their log (to catch up after a restart)."""
        q = select(S.c.id).where(S.c.head_seq > S.c.tree_size)
        async with _mapped(), self._s.read_engine.connect() as c:
            return [str(r.id) for r in await c.execute(q)]


# The tree's size, the wanted nodes (joined on the (level, idx) pairs) and the
# blocks' entries: one fixed statement, prepared once per connection.
_PG_PROOF = (
    "SELECT 0 AS kind, tree_size AS a, 0::bigint AS b, NULL::bytea AS node,"
    " NULL::varchar AS entry FROM courtroom_sessions WHERE id = :sid"
    " UNION ALL SELECT 1, n.level, n.idx, n.hash, NULL FROM merkle_nodes AS n"
    " JOIN unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[])) AS w(level, idx)"
    " ON n.level = w.level AND n.idx = w.idx WHERE n.session_id = :sid"
    " UNION ALL SELECT 2, e.sequence_number, 0, NULL, e.hash_chain FROM session_log_entries AS e"
    " WHERE e.session_id = :sid AND e.sequence_number = ANY(CAST(:seqs AS bigint[]))"
)


def _pg_proof_params(
    session_id: str, wanted: Sequence[tuple[int, int]], blocks: Sequence[tuple[int, int]]
) -> dict[str, Any]:
    pairs = list(dict.fromkeys((int(lv), int(ix)) for lv, ix in wanted))
    return {
        "sid": session_id,
        "levels": [lv for lv, _ in pairs],
        "idxs": [ix for _, ix in pairs],
        "seqs": [q for lo, hi in blocks for q in range(int(lo), int(hi) + 1)],
    }


def _sqlite_proof(wanted: Sequence[tuple[int, int]], blocks: Sequence[tuple[int, int]]) -> str:
    """The same, written out: one indexed lookup per node level and per block, UNION ALL'd.

    A row-value IN over (level, idx) makes SQLite scan every node of the
    session; parsing a statement is cheap here. The numbers are ints from the
    proof's shape, never input text.
    """
    by_level: dict[int, list[int]] = {}
    for lv, ix in dict.fromkeys(wanted):
        by_level.setdefault(int(lv), []).append(int(ix))
    parts = [
        "SELECT 0 AS kind, tree_size AS a, 0 AS b, NULL AS node, NULL AS entry"
        " FROM courtroom_sessions WHERE id = :sid"
    ]
    parts += [
        "SELECT 1, level, idx, hash, NULL FROM merkle_nodes"
        f" WHERE session_id = :sid AND level = {lv} AND idx IN ({', '.join(map(str, ixs))})"
        for lv, ixs in by_level.items()
    ]
    parts += [
        "SELECT 2, sequence_number, 0, NULL, hash_chain FROM session_log_entries"
        f" WHERE session_id = :sid AND sequence_number BETWEEN {int(lo)} AND {int(hi)}"
        for lo, hi in blocks
    ]
    return " UNION ALL ".join(parts)
