"""Scheduling service: load rows, run the pure core, write the outcome, in one transaction.

Every mutation of a version (auto-assign, manual move, finalize, clone) locks the version row
first (``store.ScheduleTx`` explains the locks), reads the version's rows, asks
`server.scheduling.core` what to do and writes the answer before committing; a refusal raises before
anything is written, so nothing is ever half-done. Every conflict report comes from
`ConflictReportBuilder.compute` (one implementation for GET conflicts, PATCH, auto-assign).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from protocol.errors import NotFound, Unauthorized
from server.scheduling import core
from server.scheduling.adapter import (
    ScheduleRejected,
    assignment_json,
    assignment_of,
    assignment_row,
    core_errors,
    court_of,
    plain,
    slot_json,
    slot_of,
    stage_json,
    to_input,
    tournament_of,
    utc_iso,
    version_json,
    version_of,
    violation_json,
)
from server.scheduling.entities import EntityService
from store import ScheduleRows, ScheduleTx, ms_to_iso

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewSlot:
    court_id: int
    start: datetime
    duration_minutes: int
    day_date: date | None = None


class ScheduleService(EntityService):
    """Versions, assignments, reports and the link to live sessions (entities: the base)."""

    # --- slots (validated together with the tournament's existing ones) ----------

    async def create_slots(self, tournament_id: int, items: Sequence[NewSlot]) -> list[Row]:
        """All or nothing: 422 with every reason (overlap, duration, unknown court)."""
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id, lock=True)  # serialise slot batches
            courts = [court_of(r) for r in await tx.rows("court", tournament_id)]
            existing = [slot_of(r) for r in await tx.rows("slot", tournament_id)]
            fresh = [
                core.Slot(
                    id=-(i + 1),
                    court_id=s.court_id,
                    day_date=s.day_date or s.start.astimezone(UTC).date(),
                    start=s.start,
                    duration_minutes=s.duration_minutes,
                )
                for i, s in enumerate(items)
            ]
            problems = [
                _new_slot_violation(v)
                for v in core.validate_slots([*existing, *fresh], courts)
                if (v.slot_id or 0) < 0 or (v.related_slot_id or 0) < 0
            ]
            if problems:
                raise ScheduleRejected(
                    f"{len(problems)} problem(s) with the new slots; nothing was created",
                    "INVALID_SLOTS",
                    problems,
                )
            now = self.now()
            ids = await tx.insert_many(
                "slot",
                [
                    {
                        "tournament_id": tournament_id,
                        "court_id": s.court_id,
                        "day_date": s.day_date.isoformat(),
                        "start_at": utc_iso(s.start),
                        "duration_minutes": s.duration_minutes,
                        "created_at": now,
                    }
                    for s in fresh
                ],
            )
            rows = await tx.rows("slot", tournament_id)
        wanted = set(ids)
        return [slot_json(r) for r in rows if r["id"] in wanted]

    # --- versions ----------------------------------------------------------------

    async def create_version(self, tournament_id: int, created_by: str | None) -> Row:
        """A new empty DRAFT (every match present, unassigned)."""
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id, lock=True)
            vid = await tx.insert(
                "version",
                {
                    "tournament_id": tournament_id,
                    "number": await tx.next_version_number(tournament_id),
                    "status": core.VersionStatus.DRAFT.value,
                    "created_at": self.now(),
                    "created_by": created_by,
                },
            )
            await tx.add_unassigned_rows(tournament_id, vid)
            return version_json(await tx.version(tournament_id, vid))

    async def list_versions(self, tournament_id: int) -> list[Row]:
        async with self.store.reading() as tx:
            await tx.tournament(tournament_id)
            return [version_json(r) for r in await tx.rows("version", tournament_id)]

    async def get_version(self, tournament_id: int, version_id: int, *, signed_in: bool) -> Row:
        async with self.store.reading() as tx:
            rows = await tx.snapshot(tournament_id, version_id)
        _check_readable(rows.tournament, rows.version, signed_in)
        slots = {r["id"]: slot_json(r) for r in rows.slots}
        return {
            **version_json(rows.version),
            "assignments": [
                {**assignment_json(a), "slot": slots.get(a["slot_id"])} for a in rows.assignments
            ],
        }

    async def clone(self, tournament_id: int, version_id: int, created_by: str | None) -> Row:
        """A new DRAFT copying every assignment of the source (locks and all)."""
        async with self.store.writing() as tx:
            await tx.tournament(tournament_id, lock=True)
            rows = await tx.snapshot(tournament_id, version_id, lock=True)
            number = await tx.next_version_number(tournament_id)
            new_id = await tx.insert(
                "version",
                {
                    "tournament_id": tournament_id,
                    "number": number,
                    "status": core.VersionStatus.DRAFT.value,
                    "parent_version_id": version_id,
                    "created_at": self.now(),
                    "created_by": created_by,
                },
            )
            with core_errors():
                _, copies = core.clone_version(to_input(rows), new_id, number)
            stamps = {r["match_id"]: r["assigned_at"] for r in rows.assignments}
            await tx.save_assignments(
                new_id, [assignment_row(a, stamps.get(a.match_id)) for a in copies]
            )
            await tx.add_unassigned_rows(tournament_id, new_id)
            return version_json(await tx.version(tournament_id, new_id))

    async def finalize(self, tournament_id: int, version_id: int, *, allow_unassigned: bool) -> Row:
        async with self.store.writing() as tx:
            rows = await tx.snapshot(tournament_id, version_id, lock=True)
            with core_errors():
                done = core.finalize(to_input(rows), allow_unassigned=allow_unassigned)
            await tx.update(
                "version",
                version_id,
                {"status": done.status.value, "finalized_at": self.now()},
            )
            return version_json(await tx.version(tournament_id, version_id))

    async def auto_assign(self, tournament_id: int, version_id: int) -> Row:
        async with self.store.writing() as tx:
            rows = await tx.snapshot(tournament_id, version_id, lock=True)
            inp = to_input(rows)
            with core_errors():
                result = core.auto_assign(inp)
            before = {r["match_id"]: r for r in rows.assignments}
            now = self.now()
            writes = [
                assignment_row(a, _stamp(before.get(a.match_id), a, now))
                for a in result.assignments
                if _changed(before.get(a.match_id), a)
            ]
            await tx.save_assignments(version_id, writes)
            saved = await tx.assignments(version_id)
        with core_errors():
            report = core.ConflictReportBuilder.compute(
                inp.with_assignments(tuple(assignment_of(r) for r in saved))
            )
        return {
            "schedule_version_id": version_id,
            "placed_count": result.placed_count,
            "locked_count": result.locked_count,
            "unassigned_count": len(result.unassigned),
            "changed_count": len(writes),
            "assignments": [assignment_json(r) for r in saved],
            "conflict_report": report.model_dump(mode="json"),
        }

    async def conflicts(
        self, tournament_id: int, version_id: int, event_id: int | None
    ) -> core.ConflictReportV1:
        async with self.store.reading() as tx:
            rows = await tx.snapshot(tournament_id, version_id)
        with core_errors():
            return core.ConflictReportBuilder.compute(to_input(rows), event_id=event_id)

    async def move(
        self, tournament_id: int, assignment_id: int, new_slot_id: int
    ) -> core.ManualAssignmentResponse:
        """The seed's manual move: validated, locked, MANUAL; 422 on a finalized version."""
        async with self.store.writing() as tx:
            found = await tx.assignment(tournament_id, assignment_id)
            rows = await tx.snapshot(tournament_id, found["schedule_version_id"], lock=True)
            inp = to_input(rows)
            with core_errors():
                moved = core.apply_manual_move(inp, assignment_id, new_slot_id)
            at = self.clock()
            await tx.save_assignments(moved.version_id, [assignment_row(moved, ms_to_iso(at))])
        with core_errors():
            return core.build_manual_response(
                inp.with_assignment(moved),
                moved,
                assigned_at=datetime.fromtimestamp(at / 1000, tz=UTC),
            )

    # --- reads for the day, and the link to live sessions ------------------------------

    async def day(
        self, tournament_id: int, day: date, version_id: int | None, *, signed_in: bool
    ) -> Row:
        """The day's assigned matches in (start, court) order, with any live session."""
        async with self.store.reading() as tx:
            vid = version_id or await _default_version(tx, tournament_id, signed_in)
            rows = await tx.snapshot(tournament_id, vid)
            _check_readable(rows.tournament, rows.version, signed_in)
            slots = {r["id"]: r for r in rows.slots if r["day_date"] == day.isoformat()}
            todays = [a for a in rows.assignments if a["slot_id"] in slots]
            live = await tx.sessions_for_assignments(a["id"] for a in todays)
        return {
            "tournament_id": tournament_id,
            "schedule_version_id": vid,
            "version_number": rows.version["number"],
            "version_status": rows.version["status"],
            "date": day.isoformat(),
            "items": _day_items(rows, todays, slots, live),
        }

    async def resolve_assignment(self, assignment_id: str) -> Row:
        """``assignment_resolver`` for POST /api/session/create: the match's teams and judges
        as the session's expected participants. NotFound if unknown or without a slot."""
        aid = int(assignment_id) if assignment_id.isdigit() else 0
        if str(aid) != assignment_id:  # one spelling per assignment: "12", never "012"
            raise NotFound(f"assignment {assignment_id!r} not found")
        async with self.store.reading() as tx:
            a = await tx.assignment(None, aid)
            if a["slot_id"] is None:
                raise NotFound(f"assignment {aid} has no slot yet: nothing to open")
            tid = a["tournament_id"]
            (match,) = await tx.matches(tid, match_ids=[a["match_id"]])
            teams = {r["id"]: r for r in await tx.rows("team", tid)}
            judges = {r["id"]: r for r in await tx.rows("judge", tid)}
            slot = await tx.one("slot", tid, a["slot_id"])
            court = await tx.one("court", tid, slot["court_id"])
        pet, res = teams[match["petitioner_team_id"]], teams[match["respondent_team_id"]]
        expected = [*_team_expected(pet, "petitioner"), *_team_expected(res, "respondent")]
        for jid in match["judge_ids"]:
            judge = judges[jid]
            entry: Row = {"judge_id": jid, "role": "judge", "name": judge["name"]}
            if judge["user_id"] is not None:
                entry = {"user_id": str(judge["user_id"]), **entry}
            expected.append(entry)
        start = slot_of(slot).start
        return {
            "expected": expected,
            "title": f"{pet['name']} v. {res['name']} — {court['label']}, {start:%H:%M}",
            "match_id": match["id"],
            "schedule_version_id": a["schedule_version_id"],
            "tournament_id": tid,
        }


# --- helpers -----------------------------------------------------------------------


def _new_slot_violation(v: core.Violation) -> Row:
    out = violation_json(v)
    for key, index_key in (
        ("slot_id", "new_slot_index"),
        ("related_slot_id", "related_new_slot_index"),
    ):
        value = out.get(key)
        if isinstance(value, int) and value < 0:
            out[index_key] = -value - 1
    return out


def _changed(before: Row | None, a: core.Assignment) -> bool:
    if before is None:
        return True
    return (
        before["slot_id"],
        bool(before["locked"]),
        before["assigned_by"],
        before["reason"],
        before["reason_code"],
    ) != (a.slot_id, a.locked, a.assigned_by, a.reason, a.reason_code)


def _stamp(before: Row | None, a: core.Assignment, now: str) -> str | None:
    """``assigned_at`` moves only when the slot (or who placed it) does."""
    if a.slot_id is None:
        return None
    if before is not None and (before["slot_id"], before["assigned_by"]) == (
        a.slot_id,
        a.assigned_by,
    ):
        stamp: str | None = before["assigned_at"]
        return stamp
    return now


def _check_readable(tournament: Row, version: Row, signed_in: bool) -> None:
    if signed_in:
        return
    if not core.publicly_visible(tournament_of(tournament), version_of(version)):
        raise Unauthorized("sign in to see this schedule")


async def _default_version(tx: ScheduleTx, tournament_id: int, signed_in: bool) -> int:
    """The latest finalized version; signed-in users fall back to the latest draft."""
    await tx.tournament(tournament_id)
    row = await tx.latest_version(tournament_id, finalized_only=True)
    if row is None and signed_in:
        row = await tx.latest_version(tournament_id, finalized_only=False)
    if row is None:
        if not signed_in:
            raise Unauthorized("sign in to see this schedule")
        raise NotFound(f"tournament {tournament_id} has no schedule version yet")
    return int(row["id"])


def _team_expected(team: Row, side: str) -> list[Row]:
    base: Row = {"team_id": team["id"], "side": side, "role": side, "name": team["name"]}
    members = team["member_user_ids"]
    if not members:
        return [base]
    return [{"user_id": str(uid), **base} for uid in members]


def _day_items(
    rows: ScheduleRows, todays: list[Row], slots: dict[int, Row], live: dict[int, Row]
) -> list[Row]:
    courts = {r["id"]: r for r in rows.courts}
    teams = {r["id"]: r for r in rows.teams}
    judges = {r["id"]: r for r in rows.judges}
    stages = {r["id"]: r for r in rows.stages}
    events = {r["id"]: r for r in rows.events}
    matches = {r["id"]: r for r in rows.matches}
    items = []
    for a in todays:
        slot = slots[a["slot_id"]]
        court = courts[slot["court_id"]]
        match = matches[a["match_id"]]
        session = live.get(a["id"])
        items.append(
            {
                "assignment_id": a["id"],
                "match_id": match["id"],
                "event": plain(events[match["event_id"]], "created_at", "tournament_id"),
                "stage": stage_json(stages[match["stage_id"]]),
                "slot": slot_json(slot),
                "court": {"id": court["id"], "label": court["label"], "number": court["number"]},
                "petitioner": _team_brief(teams[match["petitioner_team_id"]]),
                "respondent": _team_brief(teams[match["respondent_team_id"]]),
                "judges": [{"id": j, "name": judges[j]["name"]} for j in match["judge_ids"]],
                "locked": bool(a["locked"]),
                "assigned_by": a["assigned_by"],
                "session_id": None if session is None else session["id"],
                "session_status": None if session is None else session["status"],
            }
        )
    items.sort(
        key=lambda i: (i["slot"]["start"], i["court"]["number"], i["court"]["id"], i["match_id"])
    )
    return items


def _team_brief(team: Row) -> Row:
    return {"id": team["id"], "name": team["name"], "institution": team["institution"]}


__all__ = ["NewSlot", "ScheduleService"]
