"""Scheduling persistence: plain rows in and out, one transaction per operation.

The store knows tables, not rules: the server loads a version's rows (`ScheduleTx.snapshot`),
runs the pure scheduling core on them and writes the outcome back through the same
`ScheduleTx`, so a read-decide-write cycle is one transaction and nothing is half-written.

Locking (the same discipline as ``_sessions``): on SQLite every write transaction starts with
``BEGIN IMMEDIATE``, which serialises all writers; on PostgreSQL the `lock_*` methods take
``SELECT ... FOR UPDATE`` row locks, always in the order tournament row, then version rows by
ascending id, so two mutations of one version (two auto-assigns, say) run one after the
other and the second sees the first's result. Reads run in one snapshot (REPEATABLE READ on
PostgreSQL, a deferred ``BEGIN`` on SQLite's WAL reader), so a report never mixes two states.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Table, and_, bindparam, false, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.errors import NotFound
from store._db_errors import mapped as _mapped
from store._schedule_schema import (
    match_judges as MJ,
    match_schedule_assignments as A,
    schedule_slots,
    schedule_versions as V,
    tournament_courts,
    tournament_events as E,
    tournament_judges,
    tournament_matches as M,
    tournament_stages as ST,
    tournament_teams,
    tournaments as T,
)
from store._schema import courtroom_sessions, users
from store._sessions import SessionStore

Row = dict[str, Any]

# Tables with a ``tournament_id`` column, by the name the API uses.
KINDS: dict[str, Table] = {
    "event": E,
    "team": tournament_teams,
    "judge": tournament_judges,
    "court": tournament_courts,
    "slot": schedule_slots,
    "version": V,
}
_ORDER = {
    "event": (E.c.id,),
    "team": (tournament_teams.c.id,),
    "judge": (tournament_judges.c.id,),
    "court": (tournament_courts.c.number, tournament_courts.c.id),
    "slot": (schedule_slots.c.start_at, schedule_slots.c.court_id, schedule_slots.c.id),
    "version": (V.c.number,),
}
# Everything `ScheduleTx.insert`/`update` may write, by the same names.
TABLES: dict[str, Table] = {**KINDS, "tournament": T, "stage": ST}
_ASSIGNMENT_COLUMNS = ("slot_id", "locked", "assigned_by", "reason", "reason_code", "assigned_at")


@dataclass(frozen=True, slots=True)
class ScheduleRows:
    """Every row one schedule version depends on (each list sorted by id)."""

    tournament: Row
    version: Row
    events: list[Row]
    stages: list[Row]  # with event_id
    teams: list[Row]  # member_user_ids decoded to a list
    judges: list[Row]
    courts: list[Row]
    slots: list[Row]
    matches: list[Row]  # with event_id and judge_ids (panel order)
    assignments: list[Row]


def _team(row: Row) -> Row:
    raw = row.get("member_user_ids")
    return {**row, "member_user_ids": orjson.loads(raw) if raw else []}


class ScheduleTx:
    """Reads and writes on one connection inside one transaction."""

    def __init__(self, conn: AsyncConnection, *, sqlite: bool, writable: bool) -> None:
        self.c = conn
        self._sqlite = sqlite
        self.writable = writable

    async def _rows(self, query: Any) -> list[Row]:
        return [dict(r) for r in (await self.c.execute(query)).mappings()]

    async def _first(self, query: Any) -> Row | None:
        row = (await self.c.execute(query)).mappings().first()
        return None if row is None else dict(row)

    def _locking(self, query: Any) -> Any:
        return query.with_for_update() if self.writable and not self._sqlite else query

    # --- tournaments and their children ----------------------------------

    async def tournament(self, tournament_id: int, *, lock: bool = False) -> Row:
        q = select(T).where(T.c.id == tournament_id)
        row = await self._first(self._locking(q) if lock else q)
        if row is None:
            raise NotFound(f"tournament {tournament_id} not found")
        return row

    async def tournaments(self) -> list[Row]:
        return await self._rows(select(T).order_by(T.c.id))

    async def rows(self, kind: str, tournament_id: int, **equal: Any) -> list[Row]:
        table = KINDS[kind]
        q = select(table).where(table.c.tournament_id == tournament_id)
        for column, value in equal.items():
            q = q.where(table.c[column] == value)
        found = await self._rows(q.order_by(*_ORDER[kind]))
        return [_team(r) for r in found] if kind == "team" else found

    async def one(self, kind: str, tournament_id: int, row_id: int) -> Row:
        table = KINDS[kind]
        row = await self._first(
            select(table).where(table.c.id == row_id, table.c.tournament_id == tournament_id)
        )
        if row is None:
            raise NotFound(f"{kind} {row_id} not found in tournament {tournament_id}")
        return _team(row) if kind == "team" else row

    async def stages(self, tournament_id: int, event_id: int | None = None) -> list[Row]:
        q = select(ST).join(E, E.c.id == ST.c.event_id).where(E.c.tournament_id == tournament_id)
        if event_id is not None:
            q = q.where(ST.c.event_id == event_id)
        return await self._rows(q.order_by(ST.c.event_id, ST.c.stage_order, ST.c.id))

    async def stage(self, tournament_id: int, stage_id: int) -> Row | None:
        return await self._first(
            select(ST)
            .join(E, E.c.id == ST.c.event_id)
            .where(ST.c.id == stage_id, E.c.tournament_id == tournament_id)
        )

    async def matches(
        self,
        tournament_id: int,
        *,
        event_id: int | None = None,
        stage_id: int | None = None,
        match_ids: Sequence[int] | None = None,
    ) -> list[Row]:
        q = (
            select(M, ST.c.event_id)
            .join(ST, ST.c.id == M.c.stage_id)
            .where(M.c.tournament_id == tournament_id)
        )
        if event_id is not None:
            q = q.where(ST.c.event_id == event_id)
        if stage_id is not None:
            q = q.where(M.c.stage_id == stage_id)
        if match_ids is not None:
            q = q.where(M.c.id.in_(list(match_ids)))
        found = await self._rows(q.order_by(M.c.id))
        panels: dict[int, list[int]] = {r["id"]: [] for r in found}
        if found:
            jq = (
                select(MJ.c.match_id, MJ.c.judge_id)
                .join(M, M.c.id == MJ.c.match_id)
                .where(M.c.tournament_id == tournament_id)
                .order_by(MJ.c.match_id, MJ.c.position)
            )
            if match_ids is not None or event_id is not None or stage_id is not None:
                jq = jq.where(MJ.c.match_id.in_(list(panels)))
            for r in await self.c.execute(jq):
                panels[r.match_id].append(r.judge_id)
        return [{**r, "judge_ids": panels[r["id"]]} for r in found]

    async def existing_user_ids(self, user_ids: Iterable[int]) -> set[int]:
        ids = sorted(set(user_ids))
        if not ids:
            return set()
        return set((await self.c.scalars(select(users.c.id).where(users.c.id.in_(ids)))).all())

    # --- versions and assignments ------------------------------------------

    async def version(self, tournament_id: int, version_id: int, *, lock: bool = False) -> Row:
        q = select(V).where(V.c.id == version_id, V.c.tournament_id == tournament_id)
        row = await self._first(self._locking(q) if lock else q)
        if row is None:
            raise NotFound(f"schedule version {version_id} not found in tournament {tournament_id}")
        return row

    async def lock_draft_versions(self, tournament_id: int) -> list[int]:
        q = (
            select(V.c.id)
            .where(V.c.tournament_id == tournament_id, V.c.status == "DRAFT")
            .order_by(V.c.id)
        )
        return list((await self.c.scalars(self._locking(q))).all())

    async def latest_version(self, tournament_id: int, *, finalized_only: bool) -> Row | None:
        q = select(V).where(V.c.tournament_id == tournament_id)
        if finalized_only:
            q = q.where(V.c.status == "FINALIZED")
        return await self._first(q.order_by(V.c.number.desc()).limit(1))

    async def next_version_number(self, tournament_id: int) -> int:
        top = await self.c.scalar(
            select(func.max(V.c.number)).where(V.c.tournament_id == tournament_id)
        )
        return int(top or 0) + 1

    async def assignments(self, version_id: int) -> list[Row]:
        return await self._rows(
            select(A).where(A.c.schedule_version_id == version_id).order_by(A.c.match_id)
        )

    async def assignment(self, tournament_id: int | None, assignment_id: int) -> Row:
        """The row with its version's tournament id; NotFound if unknown or (given a
        ``tournament_id``) another tournament's."""
        row = await self._first(
            select(A, V.c.tournament_id)
            .join(V, V.c.id == A.c.schedule_version_id)
            .where(A.c.id == assignment_id)
        )
        if row is None or tournament_id not in (None, row["tournament_id"]):
            raise NotFound(f"assignment {assignment_id} not found")
        return row

    async def snapshot(
        self, tournament_id: int, version_id: int, *, lock: bool = False
    ) -> ScheduleRows:
        """The version (row-locked if ``lock``) and everything it depends on."""
        version = await self.version(tournament_id, version_id, lock=lock)
        tournament = await self.tournament(tournament_id)
        # Assignments first: rows they reference were committed before them and are never
        # deleted, so the later reads see them even outside a snapshot.
        assignments = await self.assignments(version_id)
        return ScheduleRows(
            tournament=tournament,
            version=version,
            events=await self.rows("event", tournament_id),
            stages=sorted(await self.stages(tournament_id), key=lambda r: r["id"]),
            teams=await self.rows("team", tournament_id),
            judges=await self.rows("judge", tournament_id),
            courts=sorted(await self.rows("court", tournament_id), key=lambda r: r["id"]),
            slots=sorted(await self.rows("slot", tournament_id), key=lambda r: r["id"]),
            matches=await self.matches(tournament_id),
            assignments=assignments,
        )

    async def sessions_for_assignments(self, assignment_ids: Iterable[int]) -> dict[int, Row]:
        """Live sessions opened from these assignments: assignment id -> {id, status}."""
        keys = [str(i) for i in sorted(set(assignment_ids))]
        if not keys:
            return {}
        S = courtroom_sessions  # noqa: N806
        found = await self._rows(
            select(S.c.id, S.c.status, S.c.assignment_id).where(S.c.assignment_id.in_(keys))
        )
        return {int(r["assignment_id"]): {"id": r["id"], "status": r["status"]} for r in found}

    # --- writes --------------------------------------------------------------

    async def _insert(self, table: Table, values: Row) -> int:
        key = (await self.c.execute(insert(table).values(**values))).inserted_primary_key
        assert key is not None
        return int(key[0])

    async def insert(self, kind: str, values: Row) -> int:
        if kind == "team" and "member_user_ids" in values:
            values = {**values, "member_user_ids": orjson.dumps(values["member_user_ids"]).decode()}
        return await self._insert(TABLES[kind], values)

    async def insert_many(self, kind: str, rows: Sequence[Row]) -> list[int]:
        if not rows:
            return []
        table = TABLES[kind]
        result = await self.c.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [int(r.id) for r in result]

    async def update(self, kind: str, row_id: int, values: Row) -> None:
        table = TABLES[kind]
        await self.c.execute(update(table).where(table.c.id == row_id).values(**values))

    async def insert_match(self, values: Row, judge_ids: Sequence[int]) -> int:
        match_id = await self._insert(M, values)
        if judge_ids:
            await self.c.execute(
                insert(MJ),
                [
                    {"match_id": match_id, "judge_id": j, "position": i}
                    for i, j in enumerate(judge_ids)
                ],
            )
        return match_id

    async def add_unassigned_rows(self, tournament_id: int, version_id: int) -> None:
        """One unassigned row for every match of the tournament that has none in the version."""
        have = select(A.c.id).where(
            and_(A.c.schedule_version_id == version_id, A.c.match_id == M.c.id)
        )
        await self.c.execute(
            insert(A).from_select(
                ["schedule_version_id", "match_id", "locked"],
                select(literal(version_id), M.c.id, false())
                .where(M.c.tournament_id == tournament_id, ~have.exists())
                .order_by(M.c.id),
            )
        )

    async def save_assignments(self, version_id: int, rows: Sequence[Row]) -> None:
        """Insert rows whose ``id`` is negative (provisional), update the others."""
        new = [
            {"schedule_version_id": version_id, **{k: v for k, v in r.items() if k != "id"}}
            for r in rows
            if r["id"] < 0
        ]
        changed = [
            {"b_id": r["id"], **{f"b_{k}": r[k] for k in _ASSIGNMENT_COLUMNS}}
            for r in rows
            if r["id"] > 0
        ]
        if new:
            await self.c.execute(insert(A), new)
        if changed:
            await self.c.execute(
                update(A)
                .where(A.c.id == bindparam("b_id"))
                .values({k: bindparam(f"b_{k}") for k in _ASSIGNMENT_COLUMNS}),
                changed,
            )


class ScheduleStore:
    """Transactions over the session store's engines (no engines of its own)."""

    def __init__(self, sessions: SessionStore) -> None:
        self._s = sessions

    @property
    def _sqlite(self) -> bool:
        return self._s.write_engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[ScheduleTx]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); commits on success."""
        async with _mapped(), self._s.write_engine.begin() as conn:
            yield ScheduleTx(conn, sqlite=self._sqlite, writable=True)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[ScheduleTx]:
        """One consistent read snapshot; never takes the write lock."""
        async with _mapped(), self._s.read_engine.connect() as conn:
            if self._sqlite:
                await conn.exec_driver_sql("BEGIN")
            else:
                await conn.execution_options(isolation_level="REPEATABLE READ")
                await conn.begin()
            try:
                yield ScheduleTx(conn, sqlite=self._sqlite, writable=False)
            finally:
                await conn.rollback()
