"""Issue 4 routes: ``/api/tournaments/...`` (entities, slots, schedule versions, reports).

Thin handlers over `server.schedule_service`. Roles: ADMIN and SUPER_ADMIN edit; every
signed-in user reads; anonymous callers may read a finalized version (its assignments and its
day schedule) when the tournament has ``public_schedule``. The conflict report and the PATCH
response are serialised with ``model_dump_json`` so identical state gives identical bytes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from pydantic import BaseModel, Field, field_validator

from server.auth import Principal
from server.routes.deps import MaybeUser, Svc, User, feature, require_roles
from server.schedule_adapter import ScheduleRejected, schedule_rejected_handler
from server.schedule_service import NewSlot, ScheduleService

router = APIRouter(
    prefix="/api/tournaments", tags=["scheduling"], dependencies=[Depends(feature("scheduling"))]
)
Editor = Annotated[Principal, Depends(require_roles("ADMIN", "SUPER_ADMIN"))]
Id = Annotated[int, Field(ge=1)]
Minutes = Annotated[int, Field(le=24 * 60)]


def _service(svc: Svc) -> ScheduleService:
    service: ScheduleService = svc.extras["schedule"]
    return service


Sched = Annotated[ScheduleService, Depends(_service)]


def install(app: FastAPI) -> None:
    """Mount the routes and the handler that renders 422 reasons."""
    app.include_router(router)
    app.add_exception_handler(ScheduleRejected, schedule_rejected_handler)


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


# --- bodies -------------------------------------------------------------------------


class TournamentBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    public_schedule: bool = False
    min_rest_minutes: int = Field(default=0, ge=0, le=24 * 60)


class TournamentPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    public_schedule: bool | None = None
    min_rest_minutes: int | None = Field(default=None, ge=0, le=24 * 60)


class EventBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class StageBody(BaseModel):
    event_id: Id
    name: str = Field(min_length=1, max_length=200)
    order: int = Field(ge=0, le=10_000)


class TeamBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    institution: str | None = Field(default=None, max_length=200)
    member_user_ids: list[Id] = Field(default_factory=list, max_length=20)


class JudgeBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    user_id: Id | None = None


class CourtBody(BaseModel):
    label: str = Field(min_length=1, max_length=100)
    number: int = Field(ge=0, le=100_000)
    capacity: int | None = Field(default=None, ge=1, le=100_000)


class SlotBody(BaseModel):
    court_id: int
    start: datetime  # timezone required (a naive time is refused with NAIVE_DATETIME)
    duration_minutes: Minutes  # <= 0 is refused with INVALID_DURATION
    day_date: date | None = None  # the listing day; default: the UTC date of `start`

    @field_validator("start")
    @classmethod
    def _whole_minute(cls, v: datetime) -> datetime:
        if v.second or v.microsecond:
            raise ValueError("a slot starts on a whole minute")
        return v


class SlotsBody(BaseModel):
    slots: list[SlotBody] = Field(min_length=1, max_length=5000)


class MatchBody(BaseModel):
    stage_id: Id
    petitioner_team_id: Id
    respondent_team_id: Id
    judge_ids: list[Id] = Field(default_factory=list, max_length=9)
    duration_minutes: int = Field(default=60, gt=0, le=24 * 60)


class FinalizeBody(BaseModel):
    allow_unassigned: bool = False


class MoveBody(BaseModel):
    new_slot_id: Id


def _by(user: Principal) -> str:
    return str(user.user_id)


# --- tournaments ---------------------------------------------------------------------


@router.post("", status_code=201)
async def create_tournament(body: TournamentBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_tournament(
        body.name, body.public_schedule, body.min_rest_minutes, _by(user)
    )


@router.get("")
async def list_tournaments(s: Sched, user: User) -> dict[str, Any]:
    rows = await s.list_tournaments()
    return {"tournaments": rows, "count": len(rows)}


@router.get("/{tid}")
async def get_tournament(tid: int, s: Sched, user: User) -> dict[str, Any]:
    return await s.get_tournament(tid)


@router.patch("/{tid}")
async def update_tournament(
    tid: int, body: TournamentPatch, s: Sched, user: Editor
) -> dict[str, Any]:
    return await s.update_tournament(tid, body.model_dump(exclude_none=True))


# --- entities --------------------------------------------------------------------------


@router.post("/{tid}/events", status_code=201)
async def create_event(tid: int, body: EventBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_event(tid, body.name)


@router.post("/{tid}/stages", status_code=201)
async def create_stage(tid: int, body: StageBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_stage(tid, body.event_id, body.name, body.order)


@router.get("/{tid}/stages")
async def list_stages(
    tid: int, s: Sched, user: User, event_id: Annotated[int | None, Query()] = None
) -> dict[str, Any]:
    rows = await s.list_stages(tid, event_id)
    return {"stages": rows, "count": len(rows)}


@router.post("/{tid}/teams", status_code=201)
async def create_team(tid: int, body: TeamBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_team(tid, body.name, body.institution, body.member_user_ids)


@router.post("/{tid}/judges", status_code=201)
async def create_judge(tid: int, body: JudgeBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_judge(tid, body.name, body.user_id)


@router.post("/{tid}/courts", status_code=201)
async def create_court(tid: int, body: CourtBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_court(tid, body.label, body.number, body.capacity)


@router.post("/{tid}/slots", status_code=201)
async def create_slots(tid: int, body: SlotsBody, s: Sched, user: Editor) -> dict[str, Any]:
    rows = await s.create_slots(
        tid,
        [NewSlot(b.court_id, b.start, b.duration_minutes, b.day_date) for b in body.slots],
    )
    return {"slots": rows, "count": len(rows)}


def _lister(kind: str, key: str) -> Any:
    async def handler(tid: int, s: Sched, user: User) -> dict[str, Any]:
        rows = await s.list_kind(kind, tid)
        return {key: rows, "count": len(rows)}

    handler.__name__ = f"list_{key}"
    return handler


for _kind, _key in (
    ("event", "events"),
    ("team", "teams"),
    ("judge", "judges"),
    ("court", "courts"),
    ("slot", "slots"),
):
    router.add_api_route(f"/{{tid}}/{_key}", _lister(_kind, _key), methods=["GET"])


@router.post("/{tid}/matches", status_code=201)
async def create_match(tid: int, body: MatchBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_match(
        tid,
        body.stage_id,
        body.petitioner_team_id,
        body.respondent_team_id,
        body.judge_ids,
        body.duration_minutes,
    )


@router.get("/{tid}/matches")
async def list_matches(
    tid: int,
    s: Sched,
    user: User,
    event_id: Annotated[int | None, Query()] = None,
    stage_id: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    rows = await s.list_matches(tid, event_id, stage_id)
    return {"matches": rows, "count": len(rows)}


# --- schedule versions -------------------------------------------------------------------


@router.post("/{tid}/schedule/versions", status_code=201)
async def create_version(tid: int, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_version(tid, _by(user))


@router.get("/{tid}/schedule/versions")
async def list_versions(tid: int, s: Sched, user: User) -> dict[str, Any]:
    rows = await s.list_versions(tid)
    return {"versions": rows, "count": len(rows)}


@router.get("/{tid}/schedule/versions/{vid}")
async def get_version(tid: int, vid: int, s: Sched, user: MaybeUser) -> dict[str, Any]:
    return await s.get_version(tid, vid, signed_in=user is not None)


@router.post("/{tid}/schedule/versions/{vid}/clone", status_code=201)
async def clone_version(tid: int, vid: int, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.clone(tid, vid, _by(user))


@router.post("/{tid}/schedule/versions/{vid}/finalize")
async def finalize_version(
    tid: int, vid: int, s: Sched, user: Editor, body: FinalizeBody | None = None
) -> dict[str, Any]:
    return await s.finalize(tid, vid, allow_unassigned=bool(body and body.allow_unassigned))


@router.post("/{tid}/schedule/versions/{vid}/auto-assign")
async def auto_assign(tid: int, vid: int, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.auto_assign(tid, vid)


@router.get("/{tid}/schedule/conflicts")
async def conflicts(
    tid: int,
    s: Sched,
    user: User,
    schedule_version_id: Annotated[int, Query()],
    event_id: Annotated[int | None, Query()] = None,
) -> Response:
    return _json(await s.conflicts(tid, schedule_version_id, event_id))


@router.patch("/{tid}/schedule/assignments/{assignment_id}")
async def move_assignment(
    tid: int, assignment_id: int, body: MoveBody, s: Sched, user: Editor
) -> Response:
    return _json(await s.move(tid, assignment_id, body.new_slot_id))


@router.get("/{tid}/schedule/day")
async def day_schedule(
    tid: int,
    s: Sched,
    user: MaybeUser,
    day: Annotated[date, Query(alias="date")],
    schedule_version_id: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    return await s.day(tid, day, schedule_version_id, signed_in=user is not None)
