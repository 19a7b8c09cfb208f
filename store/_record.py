"""Reads and writes of the record v2 tables (``store/_record_schema.py``).

The tree is extended in transactions of its own, after the log's commit (the
batch writer is not touched): ``extend`` moves ``merkle_trees.size`` from the
size it read to the new one, or does nothing when another node got there
first (compare-and-set), so two nodes never write the same nodes twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update

from protocol.errors import Conflict
from store._db_errors import mapped as _mapped
from store._record_schema import merkle_nodes as MN, merkle_trees as MT, session_checkpoints as CP
from store._schema import courtroom_sessions as S
from store._sessions import SessionStore


@dataclass(frozen=True, slots=True)
class TreeState:
    size: int
    frontier: list[bytes]


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


Extension = tuple[str, int, TreeState, Sequence[tuple[int, int, bytes]], Sequence[CheckpointRow]]


class _Moved(Exception):
    """A tree's size was not the one read: roll the whole batch back."""


class RecordStore:
    def __init__(self, sessions: SessionStore) -> None:
        self._s = sessions

    async def tree(self, session_id: str) -> TreeState:
        async with _mapped(), self._s.read_engine.connect() as c:
            row = (
                await c.execute(
                    select(MT.c.size, MT.c.frontier).where(MT.c.session_id == session_id)
                )
            ).first()
        if row is None:
            return TreeState(0, [])
        f = str(row.frontier)
        return TreeState(int(row.size), [bytes.fromhex(h) for h in f.split(",")] if f else [])

    async def extend(
        self,
        session_id: str,
        old_size: int,
        new: TreeState,
        nodes: Sequence[tuple[int, int, bytes]],
        checkpoints: Sequence[CheckpointRow],
    ) -> list[CheckpointRow] | None:
        """``extend_many`` of one session."""
        done = await self.extend_many([(session_id, old_size, new, nodes, checkpoints)])
        return None if done is None else done[0]

    async def extend_many(self, items: Sequence[Extension]) -> list[list[CheckpointRow]] | None:
        """For each session: write its nodes and checkpoints and move its size, in one transaction.

        None (and nothing written) if any tree moved meanwhile (compare-and-set on
        ``size``). Returns each session's checkpoints written: one already stored
        at a size (a tree rebuilt from the log after it was lost) stands, and is
        not signed twice.
        """
        try:
            async with _mapped(), self._s.write_engine.begin() as c:
                if not await self._move_all(c, items):
                    raise _Moved
                out = [await self._checkpoints_in(c, sid, cps) for sid, _, _, _, cps in items]
                nodes = [
                    {"session_id": sid, "level": lv, "idx": i, "hash": h}
                    for sid, _, _, ns, _ in items
                    for lv, i, h in ns
                ]
                if nodes:
                    await c.execute(insert(MN), nodes)
                cps = [cp.as_dict() for written in out for cp in written]
                if cps:
                    await c.execute(insert(CP), cps)
                return out
        except (_Moved, Conflict):  # Conflict: another node inserted a new tree's row first
            return None

    async def _move_all(self, c: Any, items: Sequence[Extension]) -> bool:
        """Compare-and-set every tree's size: a few statements whatever the batch's size."""
        sids = [it[0] for it in items]
        q = select(MT.c.session_id, MT.c.size).where(MT.c.session_id.in_(sids))
        # PostgreSQL: lock the rows; SQLite: the write transaction holds the database.
        have = {str(r.session_id): int(r.size) for r in await c.execute(q.with_for_update())}
        if any(have.get(sid, 0) != old for sid, old, _, _, _ in items):
            return False
        fresh: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        for sid, _old, new, _, _ in items:
            row = {
                "sid": sid,
                "size": new.size,
                "frontier": ",".join(h.hex() for h in new.frontier),
            }
            (moved if sid in have else fresh).append(row)
        if fresh:
            await c.execute(
                insert(MT),
                [
                    {"session_id": r["sid"], "size": r["size"], "frontier": r["frontier"]}
                    for r in fresh
                ],
            )
        if moved:
            await c.execute(
                update(MT)
                .where(MT.c.session_id == bindparam("sid"))
                .values(size=bindparam("size"), frontier=bindparam("frontier")),
                moved,
            )
        return True

    async def _checkpoints_in(
        self, c: Any, session_id: str, checkpoints: Sequence[CheckpointRow]
    ) -> list[CheckpointRow]:
        if not checkpoints:
            return []
        sizes = [cp.tree_size for cp in checkpoints]
        stored = {
            int(r.tree_size)
            for r in await c.execute(
                select(CP.c.tree_size).where(
                    CP.c.session_id == session_id,
                    CP.c.tree_size >= min(sizes),
                    CP.c.tree_size <= max(sizes),
                )
            )
        }
        return [cp for cp in checkpoints if cp.tree_size not in stored]

    async def nodes(
        self, session_id: str, wanted: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        if not wanted:
            return {}
        by_level: dict[int, list[int]] = {}
        for lv, ix in dict.fromkeys(wanted):
            by_level.setdefault(int(lv), []).append(int(ix))
        # One indexed lookup per level, UNION ALL'd (a row-value IN over
        # (level, idx) makes SQLite scan every node of the session). The SQL is
        # written out: building it as expressions cost more than running it. The
        # numbers are ints from the proof's shape, never input text.
        sql = " UNION ALL ".join(
            "SELECT level, idx, hash FROM merkle_nodes WHERE session_id = :sid"
            f" AND level = {lv} AND idx IN ({', '.join(map(str, ixs))})"
            for lv, ixs in by_level.items()
        )
        out: dict[tuple[int, int], bytes] = {}
        async with _mapped(), self._s.read_engine.connect() as c:
            for r in await c.execute(text(sql), {"sid": session_id}):
                out[(int(r.level), int(r.idx))] = bytes(r.hash)
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

    async def behind(self) -> list[str]:
        """Sessions whose tree is shorter than their log (to catch up after a restart)."""
        q = (
            select(S.c.id)
            .select_from(S.outerjoin(MT, MT.c.session_id == S.c.id))
            .where(S.c.head_seq > func.coalesce(MT.c.size, 0))
        )
        async with _mapped(), self._s.read_engine.connect() as c:
            return [str(r.id) for r in await c.execute(q)]
