"""Issue 4 routes: ``/api/tournaments/...`` (entities, slots, schedule versions, reports).

Thin handlers over `server.scheduling.service`. Roles: ADMIN and SUPER_ADMIN edit; every
signed-in user reads; anonymous callers may read a finalized version (its assignments and its
day schedule) when the tournament has ``public_schedule``. The conflict report and the PATCH
response are serialised with ``model_dump_json`` so identical state gives identical bytes.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, Field, StrictBool

from protocol.errors import ValidationFailed
from server.common.auth import Principal
from server.http.routes import models as m, schedule_models as sm
from server.http.routes.deps import JSON_INT, MAX_ID, MaybeUser, Svc, User, feature, require_roles
from server.scheduling.adapter import ScheduleRejected, schedule_rejected_handler
from server.scheduling.service import NewSlot, ScheduleService

router = APIRouter(
    prefix="/api/tournaments",
    tags=["scheduling"],
    dependencies=[Depends(feature("scheduling"))],
    responses=m.errors(400, 401, 403, 404, 409, 422, 503),
)
Editor = Annotated[Principal, Depends(require_roles("ADMIN", "SUPER_ADMIN"))]
# Ids are positive and fit the id columns (deps.MAX_ID): anything else is 422 here,
# never an OverflowError in the driver.
Id = Annotated[int, Field(ge=1, le=MAX_ID), JSON_INT]
Minutes = Annotated[int, Field(ge=-(2**31), le=24 * 60), JSON_INT]
Tid = Annotated[int, Path(ge=1, le=MAX_ID)]
Vid = Annotated[int, Path(ge=1, le=MAX_ID)]
QId = Annotated[int, Query(ge=1, le=MAX_ID)]
QIdOpt = Annotated[int | None, Query(ge=1, le=MAX_ID)]


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
    public_schedule: StrictBool = False
    min_rest_minutes: Annotated[int, Field(ge=0, le=24 * 60), JSON_INT] = 0


class TournamentPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    public_schedule: StrictBool | None = None
    min_rest_minutes: Annotated[int, Field(ge=0, le=24 * 60), JSON_INT] | None = None


class EventBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class StageBody(BaseModel):
    event_id: Id
    name: str = Field(min_length=1, max_length=200)
    order: Annotated[int, Field(ge=0, le=10_000), JSON_INT]


class TeamBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    institution: str | None = Field(default=None, max_length=200)
    member_user_ids: list[Id] = Field(default_factory=list, max_length=20)


class JudgeBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    user_id: Id | None = None


class CourtBody(BaseModel):
    label: str = Field(min_length=1, max_length=100)
    number: Annotated[int, Field(ge=0, le=100_000), JSON_INT]
    capacity: Annotated[int, Field(ge=1, le=100_000), JSON_INT] | None = None


class SlotBody(BaseModel):
    court_id: Id
    start: datetime  # timezone required (a naive time is refused with NAIVE_DATETIME)
    duration_minutes: Minutes  # <= 0 is refused with INVALID_DURATION
    day_date: date | None = None  # the listing day; default: the UTC date of `start`
    # A start on a whole minute is a scheduling rule, checked in `create_slots` (422).


class SlotsBody(BaseModel):
    slots: list[SlotBody] = Field(min_length=1, max_length=5000)


class MatchBody(BaseModel):
    stage_id: Id
    petitioner_team_id: Id
    respondent_team_id: Id
    judge_ids: list[Id] = Field(default_factory=list, max_length=9)
    duration_minutes: Annotated[int, Field(gt=0, le=24 * 60), JSON_INT] = 60


class FinalizeBody(BaseModel):
    allow_unassigned: StrictBool = False


class MoveBody(BaseModel):
    new_slot_id: Id


def _iso_day(v: object) -> object:
    """Only ``YYYY-MM-DD``: pydantic would also read a number as a Unix time."""
    if not (isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)):
        raise ValueError("a date as YYYY-MM-DD")
    return v


def _by(user: Principal) -> str:
    return str(user.user_id)


# --- tournaments ---------------------------------------------------------------------


@router.post("", status_code=201, response_model=sm.Tournament)
async def create_tournament(body: TournamentBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_tournament(
        body.name, body.public_schedule, body.min_rest_minutes, _by(user)
    )


@router.get("", response_model=sm.TournamentList)
async def list_tournaments(s: Sched, user: User) -> dict[str, Any]:
    rows = await s.list_tournaments()
    return {"tournaments": rows, "count": len(rows)}


@router.get("/{tid}", response_model=sm.Tournament)
async def get_tournament(tid: Tid, s: Sched, user: User) -> dict[str, Any]:
    return await s.get_tournament(tid)


@router.patch("/{tid}", response_model=sm.Tournament)
async def update_tournament(
    tid: Tid, body: TournamentPatch, s: Sched, user: Editor
) -> dict[str, Any]:
    return await s.update_tournament(tid, body.model_dump(exclude_none=True))


# --- entities --------------------------------------------------------------------------


@router.post("/{tid}/events", status_code=201, response_model=sm.EventOut)
async def create_event(tid: Tid, body: EventBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_event(tid, body.name)


@router.post("/{tid}/stages", status_code=201, response_model=sm.StageOut)
async def create_stage(tid: Tid, body: StageBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_stage(tid, body.event_id, body.name, body.order)


@router.get("/{tid}/stages", response_model=sm.StageList)
async def list_stages(tid: Tid, s: Sched, user: User, event_id: QIdOpt = None) -> dict[str, Any]:
    rows = await s.list_stages(tid, event_id)
    return {"stages": rows, "count": len(rows)}


@router.post("/{tid}/teams", status_code=201, response_model=sm.TeamOut)
async def create_team(tid: Tid, body: TeamBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_team(tid, body.name, body.institution, body.member_user_ids)


@router.post("/{tid}/judges", status_code=201, response_model=sm.JudgeOut)
async def create_judge(tid: Tid, body: JudgeBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_judge(tid, body.name, body.user_id)


@router.post("/{tid}/courts", status_code=201, response_model=sm.CourtOut)
async def create_court(tid: Tid, body: CourtBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_court(tid, body.label, body.number, body.capacity)


@router.post("/{tid}/slots", status_code=201, response_model=sm.SlotList)
async def create_slots(tid: Tid, body: SlotsBody, s: Sched, user: Editor) -> dict[str, Any]:
    for i, b in enumerate(body.slots):
        if b.start.second or b.start.microsecond:
            raise ValidationFailed(f"slot {i}: a slot starts on a whole minute")
        # Far from the ends of the calendar, so that UTC conversion and the stored
        # four-digit year always work.
        if not 1900 <= b.start.year <= 9000:
            raise ValidationFailed(f"slot {i}: the start year must be between 1900 and 9000")
    rows = await s.create_slots(
        tid,
        [NewSlot(b.court_id, b.start, b.duration_minutes, b.day_date) for b in body.slots],
    )
    return {"slots": rows, "count": len(rows)}


def _lister(kind: str, key: str) -> Any:
    async def handler(tid: Tid, s: Sched, user: User) -> dict[str, Any]:
        rows = await s.list_kind(kind, tid)
        return {key: rows, "count": len(rows)}

    handler.__name__ = f"list_{key}"
    return handler


for _kind, _key, _model in (
    ("event", "events", sm.EventList),
    ("team", "teams", sm.TeamList),
    ("judge", "judges", sm.JudgeList),
    ("court", "courts", sm.CourtList),
    ("slot", "slots", sm.SlotList),
):
    router.add_api_route(
        f"/{{tid}}/{_key}", _lister(_kind, _key), methods=["GET"], response_model=_model
    )


@router.post("/{tid}/matches", status_code=201, response_model=sm.MatchOut)
async def create_match(tid: Tid, body: MatchBody, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_match(
        tid,
        body.stage_id,
        body.petitioner_team_id,
        body.respondent_team_id,
        body.judge_ids,
        body.duration_minutes,
    )


@router.get("/{tid}/matches", response_model=sm.MatchList)
async def list_matches(
    tid: Tid,
    s: Sched,
    user: User,
    event_id: QIdOpt = None,
    stage_id: QIdOpt = None,
) -> dict[str, Any]:
    rows = await s.list_matches(tid, event_id, stage_id)
    return {"matches": rows, "count": len(rows)}


# --- schedule versions -------------------------------------------------------------------


@router.post("/{tid}/schedule/versions", status_code=201, response_model=sm.VersionOut)
async def create_version(tid: Tid, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.create_version(tid, _by(user))


@router.get("/{tid}/schedule/versions", response_model=sm.VersionList)
async def list_versions(tid: Tid, s: Sched, user: User) -> dict[str, Any]:
    rows = await s.list_versions(tid)
    return {"versions": rows, "count": len(rows)}


@router.get("/{tid}/schedule/versions/{vid}", response_model=sm.VersionDetail)
async def get_version(tid: Tid, vid: Vid, s: Sched, user: MaybeUser) -> dict[str, Any]:
    return await s.get_version(tid, vid, signed_in=user is not None)


@router.post("/{tid}/schedule/versions/{vid}/clone", status_code=201, response_model=sm.VersionOut)
async def clone_version(tid: Tid, vid: Vid, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.clone(tid, vid, _by(user))


@router.post("/{tid}/schedule/versions/{vid}/finalize", response_model=sm.VersionOut)
async def finalize_version(
    tid: Tid, vid: Vid, s: Sched, user: Editor, body: FinalizeBody | None = None
) -> dict[str, Any]:
    return await s.finalize(tid, vid, allow_unassigned=bool(body and body.allow_unassigned))


@router.post("/{tid}/schedule/versions/{vid}/auto-assign", response_model=sm.AutoAssignResult)
async def auto_assign(tid: Tid, vid: Vid, s: Sched, user: Editor) -> dict[str, Any]:
    return await s.auto_assign(tid, vid)


@router.get(
    "/{tid}/schedule/conflicts",
    response_class=Response,
    responses={200: {"model": m.ConflictReportV1, "description": "The conflict report"}},
)
async def conflicts(
    tid: Tid,
    s: Sched,
    user: User,
    schedule_version_id: QId,
    event_id: QIdOpt = None,
) -> Response:
    return _json(await s.conflicts(tid, schedule_version_id, event_id))


@router.patch(
    "/{tid}/schedule/assignments/{assignment_id}",
    response_class=Response,
    responses={200: {"model": m.ManualAssignmentResponse, "description": "The moved assignment"}},
)
async def move_assignment(
    tid: Tid, assignment_id: Vid, body: MoveBody, s: Sched, user: Editor
) -> Response:
    return _json(await s.move(tid, assignment_id, body.new_slot_id))


@router.get("/{tid}/schedule/day", response_model=sm.DaySchedule)
async def day_schedule(
    tid: Tid,
    s: Sched,
    user: MaybeUser,
    day: Annotated[date, Query(alias="date"), BeforeValidator(_iso_day)],
    schedule_version_id: QIdOpt = None,
) -> dict[str, Any]:
    return await s.day(tid, day, schedule_version_id, signed_in=user is not None)
