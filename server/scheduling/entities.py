"""Tournament entities: tournaments, events, stages, teams, judges, courts, matches.

Each create is one transaction that checks its references inside that transaction: an id in
the path that does not exist is a 404, an id in the body that does not belong to the
tournament is a 422 with the reason; a duplicate name or number is a 409 (the unique
constraints, mapped by the store).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocol.errors import ValidationFailed
from server.scheduling.adapter import plain, slot_json, stage_json, tournament_json
from store import ScheduleStore, ms_to_iso
from timers import Clock

Row = dict[str, Any]


def _distinct(ids: Sequence[int], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise ValidationFailed(f"{what} lists an id twice")


def team_json(row: Row) -> Row:
    return plain(row, "created_at")


def match_json(row: Row) -> Row:
    return plain(row, "created_at")


class EntityService:
    def __init__(self, store: ScheduleStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def now(self) -> str:
        return ms_to_iso(self.clock())

    # --- tournaments ---------------------------------------------------------------

    async def create_tournament(
        self, name: str, public_schedule: bool, min_rest_minutes: int, created_by: str | None
    ) -> Row:
        async with self.store.writing() as tx:
            tid = await tx.insert(
                "tournament",
                {
                    "name": name,
                    "public_schedule": public_schedule,
                    "min_rest_minutes": min_rest_minutes,
                    "created_at": self.now(),
                    "created_by": created_by,
                },
            )
            return tournament_json(await tx.tournament(tid))

    async def list_tournaments(self) -> list[Row]:
        async with self.store.reading() as tx:
            return [tournament_json(r) for r in await tx.tournaments()]

    async def get_tournament(self, tournament_id: int) -> Row:
        async with self.store.reading() as tx:
            return tournament_json(await tx.tournament(tournament_id))

    async def update_tournament(self, tournament_id: int, changes: Row) -> Row:
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id, lock=True)
            if changes:
                await tx.update("tournament", tournament_id, changes)
            return tournament_json(await tx.tournament(tournament_id))

    # --- simple children ------------------------------------------------------------

    async def create_event(self, tournament_id: int, name: str) -> Row:
        return await self._create(
            "event", tournament_id, {"name": name}, lambda r: plain(r, "created_at")
        )

    async def create_team(
        self,
        tournament_id: int,
        name: str,
        institution: str | None,
        member_user_ids: Sequence[int],
    ) -> Row:
        _distinct(member_user_ids, "member_user_ids")
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id)
            unknown = sorted(set(member_user_ids) - await tx.existing_user_ids(member_user_ids))
            if unknown:
                raise ValidationFailed(f"unknown user id(s) in member_user_ids: {unknown}")
            row_id = await tx.insert(
                "team",
                {
                    "tournament_id": tournament_id,
                    "name": name,
                    "institution": institution,
                    "member_user_ids": list(member_user_ids),
                    "created_at": self.now(),
                },
            )
            return team_json(await tx.one("team", tournament_id, row_id))

    async def create_judge(self, tournament_id: int, name: str, user_id: int | None) -> Row:
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id)
            if user_id is not None and not await tx.existing_user_ids([user_id]):
                raise ValidationFailed(f"unknown user id {user_id}")
            row_id = await tx.insert(
                "judge",
                {
                    "tournament_id": tournament_id,
                    "name": name,
                    "user_id": user_id,
                    "created_at": self.now(),
                },
            )
            return plain(await tx.one("judge", tournament_id, row_id), "created_at")

    async def create_court(
        self, tournament_id: int, label: str, number: int, capacity: int | None
    ) -> Row:
        return await self._create(
            "court",
            tournament_id,
            {"label": label, "number": number, "capacity": capacity},
            lambda r: plain(r, "created_at"),
        )

    async def _create(self, kind: str, tournament_id: int, values: Row, shape: Any) -> Row:
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id)
            row_id = await tx.insert(
                kind, {"tournament_id": tournament_id, **values, "created_at": self.now()}
            )
            result: Row = shape(await tx.one(kind, tournament_id, row_id))
            return result

    async def list_kind(self, kind: str, tournament_id: int) -> list[Row]:
        """Events, teams, judges, courts or slots of a tournament (404 if unknown)."""
        async with self.store.reading() as tx:
            await tx.tournament(tournament_id)
            rows = await tx.rows(kind, tournament_id)
        if kind == "slot":
            return [slot_json(r) for r in rows]
        return [plain(r, "created_at") for r in rows]

    # --- stages ---------------------------------------------------------------------

    async def create_stage(self, tournament_id: int, event_id: int, name: str, order: int) -> Row:
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id)
            if not await tx.rows("event", tournament_id, id=event_id):
                raise ValidationFailed(f"event {event_id} is not in tournament {tournament_id}")
            row_id = await tx.insert(
                "stage",
                {
                    "event_id": event_id,
                    "name": name,
                    "stage_order": order,
                    "created_at": self.now(),
                },
            )
            row = await tx.stage(tournament_id, row_id)
            assert row is not None
            return stage_json(row)

    async def list_stages(self, tournament_id: int, event_id: int | None) -> list[Row]:
        async with self.store.reading() as tx:
            await tx.tournament(tournament_id)
            return [stage_json(r) for r in await tx.stages(tournament_id, event_id)]

    # --- matches --------------------------------------------------------------------

    async def create_match(
        self,
        tournament_id: int,
        stage_id: int,
        petitioner_team_id: int,
        respondent_team_id: int,
        judge_ids: Sequence[int],
        duration_minutes: int,
    ) -> Row:
        """The match, plus an unassigned row in every DRAFT version (so it can be moved)."""
        if petitioner_team_id == respondent_team_id:
            raise ValidationFailed("a match needs two different teams")
        _distinct(judge_ids, "judge_ids")
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id, lock=True)
            drafts = await tx.lock_draft_versions(tournament_id)
            if await tx.stage(tournament_id, stage_id) is None:
                raise ValidationFailed(f"stage {stage_id} is not in tournament {tournament_id}")
            teams = {r["id"] for r in await tx.rows("team", tournament_id)}
            missing = sorted({petitioner_team_id, respondent_team_id} - teams)
            if missing:
                raise ValidationFailed(f"team(s) {missing} not in tournament {tournament_id}")
            judges = {r["id"] for r in await tx.rows("judge", tournament_id)}
            missing = sorted(set(judge_ids) - judges)
            if missing:
                raise ValidationFailed(f"judge(s) {missing} not in tournament {tournament_id}")
            match_id = await tx.insert_match(
                {
                    "tournament_id": tournament_id,
                    "stage_id": stage_id,
                    "petitioner_team_id": petitioner_team_id,
                    "respondent_team_id": respondent_team_id,
                    "duration_minutes": duration_minutes,
                    "created_at": self.now(),
                },
                judge_ids,
            )
            for vid in drafts:
                await tx.add_unassigned_rows(tournament_id, vid)
            (row,) = await tx.matches(tournament_id, match_ids=[match_id])
            return match_json(row)

    async def list_matches(
        self, tournament_id: int, event_id: int | None, stage_id: int | None
    ) -> list[Row]:
        async with self.store.reading() as tx:
            await tx.tournament(tournament_id)
            rows = await tx.matches(tournament_id, event_id=event_id, stage_id=stage_id)
        return [match_json(r) for r in rows]
