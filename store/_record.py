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

from sqlalchemy import func, insert, select, tuple_, update

from protocol.errors import Conflict
from store._record_schema import merkle_nodes as MN, merkle_trees as MT, session_checkpoints as CP
from store._schema import courtroom_sessions as S
from store._sessions import SessionStore, _mapped


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
        """Write nodes and checkpoints and move the size; None if the tree moved meanwhile.

        Returns the checkpoints written: one already stored at a size (a tree
        rebuilt from the log after it was lost) stands, and is not signed twice.
        """
        frontier = ",".join(h.hex() for h in new.frontier)
        async with _mapped(), self._s.write_engine.begin() as c:
            if old_size == 0:
                have = (
                    await c.execute(select(MT.c.size).where(MT.c.session_id == session_id))
                ).first()
                if have is not None:
                    return None
                await c.execute(
                    insert(MT).values(session_id=session_id, size=new.size, frontier=frontier)
                )
            else:
                moved = await c.execute(
                    update(MT)
                    .where(MT.c.session_id == session_id, MT.c.size == old_size)
                    .values(size=new.size, frontier=frontier)
                )
                if moved.rowcount != 1:
                    return None
            if nodes:
                await c.execute(
                    insert(MN),
                    [
                        {"session_id": session_id, "level": lv, "idx": i, "hash": h}
                        for lv, i, h in nodes
                    ],
                )
            if checkpoints:
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
                checkpoints = [cp for cp in checkpoints if cp.tree_size not in stored]
            if checkpoints:
                await c.execute(insert(CP), [cp.as_dict() for cp in checkpoints])
        return list(checkpoints)

    async def nodes(
        self, session_id: str, wanted: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        if not wanted:
            return {}
        out: dict[tuple[int, int], bytes] = {}
        async with _mapped(), self._s.read_engine.connect() as c:
            # Chunks keep the statement's parameter count within SQLite's limit.
            for start in range(0, len(wanted), 400):
                chunk = wanted[start : start + 400]
                rows = await c.execute(
                    select(MN.c.level, MN.c.idx, MN.c.hash).where(
                        MN.c.session_id == session_id,
                        tuple_(MN.c.level, MN.c.idx).in_(chunk),
                    )
                )
                for r in rows:
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
