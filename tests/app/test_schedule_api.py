"""Scheduling over HTTP (issue 4), on SQLite and PostgreSQL.

The seed's named tests (conflicts deterministic over 3 calls, manual move fails on a
finalized version, locked assignments survive auto-assign, clone keeps locks), RBAC, bad
input, the link from an assignment to a live session, and concurrent auto-assigns.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import Court

DAY = "2026-03-02"
TIMES = ("09:00", "10:30", "12:00")


def at(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00Z"


@dataclass
class Tour:
    """One small tournament built through the API.

    Round 1 (order 1): m1 = A v B (judge J1), m2 = C v D (judge J2); Round 2 (order 2):
    m3 = A v C (J1, J2). Two courts, three 60-minute slots each at 09:00, 10:30, 12:00, so
    auto-assign puts m1 and m2 at 09:00 (courts 1 and 2) and m3 at 10:30 in court 1.
    """

    c: Court
    id: int
    courts: list[int]
    slot: dict[tuple[int, str], int]  # (court number, "HH:MM") -> slot id
    teams: dict[str, int]
    judges: dict[str, int]
    matches: dict[str, int]
    event: int
    stages: list[int]
    versions: list[int] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"/api/tournaments/{self.id}"

    def post(self, path: str, user: str | None = "admin", **kw: Any) -> Any:
        return self.c.post(self.base + path, user, **kw)

    def get(self, path: str, user: str | None = "admin", **kw: Any) -> Any:
        return self.c.get(self.base + path, user, **kw)

    def patch(self, path: str, user: str | None = "admin", **kw: Any) -> Any:
        headers = self.c.h(user) if user else {}
        return self.c.client.patch(self.base + path, headers=headers, **kw)

    def new_version(self) -> int:
        r = self.post("/schedule/versions")
        assert r.status_code == 201, r.text
        vid = int(r.json()["id"])
        self.versions.append(vid)
        return vid

    def auto_assign(self, vid: int) -> dict[str, Any]:
        r = self.post(f"/schedule/versions/{vid}/auto-assign")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def assignments(self, vid: int, user: str | None = "admin") -> dict[int, dict[str, Any]]:
        r = self.get(f"/schedule/versions/{vid}", user)
        assert r.status_code == 200, r.text
        return {a["match_id"]: a for a in r.json()["assignments"]}

    def conflicts(self, vid: int, **params: Any) -> Any:
        return self.get("/schedule/conflicts", params={"schedule_version_id": vid, **params})

    def move(self, assignment_id: int, slot_id: int, user: str = "admin") -> Any:
        return self.patch(
            f"/schedule/assignments/{assignment_id}", user, json={"new_slot_id": slot_id}
        )


def ok(r: Any, status: int = 201) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def build(c: Court, *, public: bool = False, rest: int = 0) -> Tour:
    t = ok(
        c.post(
            "/api/tournaments",
            "admin",
            json={"name": "Spring Moot", "public_schedule": public, "min_rest_minutes": rest},
        )
    )
    base = f"/api/tournaments/{t['id']}"
    event = ok(c.post(base + "/events", "admin", json={"name": "Moot"}))["id"]
    stages = [
        ok(c.post(base + "/stages", "admin", json={"event_id": event, "name": n, "order": o}))["id"]
        for n, o in (("Round 1", 1), ("Round 2", 2))
    ]
    uid = c.user_ids
    members = {"A": ["pet1", "pet2"], "B": ["res1", "res2"], "C": [], "D": []}
    teams = {
        name: ok(
            c.post(
                base + "/teams",
                "admin",
                json={
                    "name": f"Team {name}",
                    "institution": "Uni",
                    "member_user_ids": [uid[m] for m in users],
                },
            )
        )["id"]
        for name, users in members.items()
    }
    judges = {
        "J1": ok(c.post(base + "/judges", "admin", json={"name": "J1", "user_id": uid["judge"]}))[
            "id"
        ],
        "J2": ok(c.post(base + "/judges", "admin", json={"name": "J2"}))["id"],
    }
    courts = [
        ok(c.post(base + "/courts", "admin", json={"label": f"Court {n}", "number": n}))["id"]
        for n in (1, 2)
    ]
    slots = ok(
        c.post(
            base + "/slots",
            "admin",
            json={
                "slots": [
                    {"court_id": court, "start": at(hhmm), "duration_minutes": 60}
                    for hhmm in TIMES
                    for court in courts
                ]
            },
        )
    )["slots"]
    number = {cid: n for n, cid in enumerate(courts, start=1)}
    slot = {(number[s["court_id"]], s["start"][11:16]): s["id"] for s in slots}

    def match(stage: int, pet: str, res: str, panel: list[str]) -> int:
        body = {
            "stage_id": stage,
            "petitioner_team_id": teams[pet],
            "respondent_team_id": teams[res],
            "judge_ids": [judges[j] for j in panel],
            "duration_minutes": 60,
        }
        return int(ok(c.post(base + "/matches", "admin", json=body))["id"])

    matches = {
        "m1": match(stages[0], "A", "B", ["J1"]),
        "m2": match(stages[0], "C", "D", ["J2"]),
        "m3": match(stages[1], "A", "C", ["J1", "J2"]),
    }
    return Tour(c, t["id"], courts, slot, teams, judges, matches, event, stages)


@pytest.fixture
def court_db(court_factory: Callable[..., Court], db_url: str) -> Court:
    return court_factory(db_url)


# --- the seed's named tests -------------------------------------------------------------


def test_conflicts_endpoint_is_deterministic(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    t.auto_assign(vid)
    bodies = [t.conflicts(vid).content for _ in range(3)]
    assert bodies[0] == bodies[1] == bodies[2]
    report = t.conflicts(vid).json()
    assert list(report) == [
        "summary",
        "unassigned",
        "slot_pressure",
        "stage_timeline",
        "ordering_integrity",
        "violations",
    ]
    s = report["summary"]
    assert (s["tournament_id"], s["schedule_version_id"]) == (t.id, vid)
    assert (s["total_matches"], s["assigned_count"], s["total_slots"]) == (3, 3, 6)
    assert s["conflict_free"] is True
    assert report["ordering_integrity"]["deterministic_order_ok"] is True
    assert [st["stage"] for st in report["stage_timeline"]] == ["Round 1", "Round 2"]
    assert b"generated_at" not in bodies[0]
    # Filtered by event, and after a mutation: still byte-identical call after call.
    filtered = [t.conflicts(vid, event_id=t.event).content for _ in range(3)]
    assert len(set(filtered)) == 1
    a3 = t.assignments(vid)[t.matches["m3"]]
    ok(t.move(a3["id"], t.slot[(2, "12:00")]), 200)
    after = [t.conflicts(vid).content for _ in range(3)]
    assert len(set(after)) == 1 and after[0] != bodies[0]


def test_manual_move_fails_on_finalized_version(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    t.auto_assign(vid)
    final = ok(t.post(f"/schedule/versions/{vid}/finalize"), 200)
    assert final["status"] == "FINALIZED" and final["finalized_at"]
    before = t.assignments(vid)
    r = t.move(before[t.matches["m3"]]["id"], t.slot[(2, "12:00")])
    assert r.status_code == 422, r.text
    assert r.json()["schedule_code"] == "VERSION_FINALIZED"
    assert t.assignments(vid) == before
    # Every other mutation is refused too; finalizing twice as well.
    r = t.post(f"/schedule/versions/{vid}/auto-assign")
    assert r.status_code == 422 and r.json()["schedule_code"] == "VERSION_FINALIZED"
    assert t.post(f"/schedule/versions/{vid}/finalize").status_code == 422


def test_locked_assignments_not_moved_by_autoassign(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    first = t.auto_assign(vid)
    assert (first["placed_count"], first["locked_count"], first["unassigned_count"]) == (3, 0, 0)
    rows = t.assignments(vid)
    m1, m2, m3 = (rows[t.matches[k]] for k in ("m1", "m2", "m3"))
    assert (m1["slot_id"], m2["slot_id"]) == (t.slot[(1, "09:00")], t.slot[(2, "09:00")])
    assert m3["slot_id"] == t.slot[(1, "10:30")] and m3["assigned_by"] == "AUTO"

    moved = ok(t.move(m3["id"], t.slot[(2, "12:00")]), 200)
    assert (moved["locked"], moved["assigned_by"], moved["validation_passed"]) == (
        True,
        "MANUAL",
        True,
    )
    assert moved["slot_key"] == {
        "day_date": DAY,
        "start_time": at("12:00"),
        "court_number": 2,
        "court_label": "Court 2",
    }
    again = t.auto_assign(vid)
    assert again["locked_count"] == 1
    after = t.assignments(vid)[t.matches["m3"]]
    assert after["slot_id"] == t.slot[(2, "12:00")]
    assert (after["locked"], after["assigned_by"]) == (True, "MANUAL")


def test_clone_preserves_locked_assignments(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    t.auto_assign(vid)
    m3 = t.assignments(vid)[t.matches["m3"]]
    ok(t.move(m3["id"], t.slot[(2, "12:00")]), 200)
    ok(t.post(f"/schedule/versions/{vid}/finalize"), 200)

    clone = ok(t.post(f"/schedule/versions/{vid}/clone"))
    assert (clone["status"], clone["parent_version_id"], clone["number"]) == ("DRAFT", vid, 2)
    src, dst = t.assignments(vid), t.assignments(clone["id"])
    assert set(src) == set(dst)
    for match_id, a in src.items():
        b = dst[match_id]
        assert b["id"] != a["id"] and b["schedule_version_id"] == clone["id"]
        for key in ("slot_id", "locked", "assigned_by", "reason_code", "assigned_at"):
            assert a[key] == b[key], key
    assert dst[t.matches["m3"]]["locked"] is True
    # The clone is the editable copy; auto-assign on it keeps the lock; the source is intact.
    t.auto_assign(clone["id"])
    assert t.assignments(clone["id"])[t.matches["m3"]]["slot_id"] == t.slot[(2, "12:00")]
    assert t.assignments(vid) == src
    versions = ok(t.get("/schedule/versions"), 200)["versions"]
    assert [(v["number"], v["status"]) for v in versions] == [(1, "FINALIZED"), (2, "DRAFT")]


# --- manual moves: responses and refusals ---------------------------------------------------


def test_manual_move_response_carries_the_get_report(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    t.auto_assign(vid)
    rows = t.assignments(vid)
    r = t.move(rows[t.matches["m3"]]["id"], t.slot[(2, "12:00")])
    body = ok(r, 200)
    assert body["conflict_report"] == t.conflicts(vid).json()
    assert body["conflicts_summary"] == body["conflict_report"]["summary"]
    assert body["conflicts_summary"]["locked_count"] == 1
    assert body["unassigned_matches"] == []

    # m2 (Round 1, teams C and D, judge J2) into 12:00 court 1 would run
    # alongside m3 (team C) and after Round 2 started: refused with every reason.
    bad = t.move(rows[t.matches["m2"]]["id"], t.slot[(1, "12:00")])
    assert bad.status_code == 422, bad.text
    err = bad.json()
    assert err["schedule_code"] == "MANUAL_ASSIGNMENT_INVALID"
    codes = {v["code"] for v in err["violations"]}
    assert {"STAGE_ORDER", "TEAM_CONFLICT"} <= codes
    assert all(v["match_id"] == t.matches["m2"] for v in err["violations"])
    assert t.assignments(vid)[t.matches["m2"]]["slot_id"] == t.slot[(2, "09:00")]

    assert t.move(999_999, t.slot[(1, "12:00")]).status_code == 404
    assert t.move(rows[t.matches["m2"]]["id"], 999_999).status_code == 404


def test_finalize_needs_a_complete_schedule(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    r = t.post(f"/schedule/versions/{vid}/finalize")
    assert r.status_code == 422 and r.json()["schedule_code"] == "FINALIZE_BLOCKED"
    assert {v["code"] for v in r.json()["violations"]} == {"UNASSIGNED_MATCH"}
    report = t.conflicts(vid).json()
    assert sorted(u["match_id"] for u in report["unassigned"]) == sorted(t.matches.values())
    reasons = {u["match_id"]: u["reason_code"] for u in report["unassigned"]}
    assert reasons[t.matches["m1"]] == reasons[t.matches["m2"]] == "NOT_YET_ASSIGNED"
    assert reasons[t.matches["m3"]] == "STAGE_ORDER"  # Round 1 is not placed yet
    done = ok(t.post(f"/schedule/versions/{vid}/finalize", json={"allow_unassigned": True}), 200)
    assert done["status"] == "FINALIZED"


def test_unplaceable_matches_stay_unassigned_with_a_reason(court_db: Court) -> None:
    t = build(court_db, rest=150)  # m3 needs 150 min after m1 (team A): 12:00 is too early
    vid = t.new_version()
    result = t.auto_assign(vid)
    assert result["unassigned_count"] == 1
    (u,) = result["conflict_report"]["unassigned"]
    assert u["match_id"] == t.matches["m3"] and u["reason_code"] == "REST_VIOLATION"
    row = t.assignments(vid)[t.matches["m3"]]
    assert row["slot_id"] is None and row["reason_code"] == "REST_VIOLATION" and row["reason"]
    # Same input, same result, nothing rewritten.
    again = t.auto_assign(vid)
    assert again["changed_count"] == 0
    assert again["assignments"] == result["assignments"]


# --- roles --------------------------------------------------------------------------------


def test_roles_edit_read_and_anonymous(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    t.auto_assign(vid)
    aid = t.assignments(vid)[t.matches["m3"]]["id"]
    for user in ("student", "judge", "faculty"):
        assert court_db.post("/api/tournaments", user, json={"name": "x"}).status_code == 403
        assert t.post("/events", user, json={"name": "x"}).status_code == 403
        assert t.post(f"/schedule/versions/{vid}/auto-assign", user).status_code == 403
        assert t.move(aid, t.slot[(2, "12:00")], user).status_code == 403
        # ...but every signed-in user reads.
        assert t.conflicts(vid).status_code == 200
        assert t.get("/matches", user).status_code == 200
        assert t.get(f"/schedule/versions/{vid}", user).status_code == 200
    assert court_db.post("/api/tournaments", None, json={"name": "x"}).status_code == 401
    assert court_db.get("/api/tournaments", None).status_code == 401
    assert t.get("/teams", None).status_code == 401
    assert (
        t.get("/schedule/conflicts", None, params={"schedule_version_id": vid}).status_code == 401
    )
    # Not public: even a finalized version stays private.
    ok(t.post(f"/schedule/versions/{vid}/finalize"), 200)
    assert t.get(f"/schedule/versions/{vid}", None).status_code == 401
    assert t.get("/schedule/day", None, params={"date": DAY}).status_code == 401


def test_public_schedule_only_when_finalized_and_public(court_db: Court) -> None:
    t = build(court_db, public=True)
    vid = t.new_version()
    t.auto_assign(vid)
    assert t.get(f"/schedule/versions/{vid}", None).status_code == 401  # a draft
    assert t.get("/schedule/day", None, params={"date": DAY}).status_code == 401
    ok(t.post(f"/schedule/versions/{vid}/finalize"), 200)
    public = ok(t.get(f"/schedule/versions/{vid}", None), 200)
    assert len(public["assignments"]) == 3 and public["status"] == "FINALIZED"
    day = ok(t.get("/schedule/day", None, params={"date": DAY}), 200)
    assert day["schedule_version_id"] == vid and len(day["items"]) == 3
    # A later draft is private again; the public default stays the finalized version.
    draft = ok(t.post(f"/schedule/versions/{vid}/clone"))
    assert t.get(f"/schedule/versions/{draft['id']}", None).status_code == 401
    assert ok(t.get("/schedule/day", None, params={"date": DAY}), 200)["schedule_version_id"] == vid
    # Anonymous callers only read schedules: the conflict report needs an account.
    assert (
        t.get("/schedule/conflicts", None, params={"schedule_version_id": vid}).status_code == 401
    )
    # Switching the tournament private hides it.
    ok(t.patch("", json={"public_schedule": False}), 200)
    assert t.get(f"/schedule/versions/{vid}", None).status_code == 401


def test_feature_flag_off_is_403(court_factory: Callable[..., Court]) -> None:
    c = court_factory(FEATURE_SCHEDULING="false")
    assert c.get("/api/tournaments", "admin").status_code == 403


# --- bad input ----------------------------------------------------------------------------


def test_unknown_ids_are_404(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    missing = "/api/tournaments/999999"
    assert court_db.get(missing, "admin").status_code == 404
    assert court_db.post(missing + "/events", "admin", json={"name": "x"}).status_code == 404
    assert court_db.post(missing + "/schedule/versions", "admin").status_code == 404
    assert court_db.get(missing + "/schedule/versions", "admin").status_code == 404
    assert t.get("/schedule/versions/999999").status_code == 404
    assert t.post("/schedule/versions/999999/auto-assign").status_code == 404
    assert t.post("/schedule/versions/999999/clone").status_code == 404
    assert t.post("/schedule/versions/999999/finalize").status_code == 404
    assert t.conflicts(999_999).status_code == 404
    assert t.conflicts(vid, event_id=999_999).status_code == 404
    assert (
        t.get("/schedule/day", params={"date": DAY, "schedule_version_id": 999_999}).status_code
        == 404
    )
    # Another tournament's version is unknown here.
    other = build(court_db)
    other_vid = other.new_version()
    assert t.conflicts(other_vid).status_code == 404
    aid = other.assignments(other_vid)[other.matches["m1"]]["id"]
    assert t.move(aid, t.slot[(1, "09:00")]).status_code == 404


def _slot_count(t: Tour) -> int:
    return int(ok(t.get("/slots"), 200)["count"])


def test_overlapping_and_impossible_slots_are_422_and_nothing_is_written(court_db: Court) -> None:
    t = build(court_db)
    court1, court2 = t.courts
    before = _slot_count(t)

    def add(*slots: dict[str, Any]) -> Any:
        r = t.post("/slots", json={"slots": list(slots)})
        assert r.status_code == 422, r.text
        assert _slot_count(t) == before
        return r.json()

    fine = {"court_id": court2, "start": at("15:00"), "duration_minutes": 60}
    # Overlap within the batch (a valid slot in the same batch is not written either).
    err = add(
        fine,
        {"court_id": court1, "start": at("14:00"), "duration_minutes": 90},
        {"court_id": court1, "start": at("15:00"), "duration_minutes": 30},
    )
    (v,) = err["violations"]
    assert v["code"] == "SLOT_OVERLAP" and v["court_id"] == court1
    assert {v["new_slot_index"], v["related_new_slot_index"]} == {1, 2}
    assert "overlap" in v["message"]
    # Overlap with an existing slot (09:00-10:00 in court 1).
    err = add(fine, {"court_id": court1, "start": at("09:30"), "duration_minutes": 60})
    (v,) = err["violations"]
    assert v["code"] == "SLOT_OVERLAP" and t.slot[(1, "09:00")] in (
        v["slot_id"],
        v["related_slot_id"],
    )
    # Impossible durations, unknown courts, naive times: each reported with its reason.
    err = add(
        fine,
        {"court_id": court1, "start": at("16:00"), "duration_minutes": 0},
        {"court_id": court1, "start": at("17:00"), "duration_minutes": -30},
        {"court_id": 999_999, "start": at("18:00"), "duration_minutes": 60},
        {"court_id": court1, "start": "2026-03-02T19:00:00", "duration_minutes": 60},
    )
    codes = sorted((v["code"], v["new_slot_index"]) for v in err["violations"])
    assert codes == [
        ("INVALID_DURATION", 1),
        ("INVALID_DURATION", 2),
        ("NAIVE_DATETIME", 4),
        ("UNKNOWN_REFERENCE", 3),
    ]
    # A court of another tournament is unknown here too.
    other = build(court_db)
    add({"court_id": other.courts[0], "start": at("20:00"), "duration_minutes": 60})
    # Longer than a day, or off the minute: refused by request validation.
    for bad in ({"duration_minutes": 24 * 60 + 1}, {"start": "2026-03-02T20:00:30Z"}):
        r = t.post("/slots", json={"slots": [{**fine, **bad}]})
        assert r.status_code == 422
    assert _slot_count(t) == before
    # The good slot alone goes in, listed under its UTC day unless told otherwise.
    made = ok(t.post("/slots", json={"slots": [{**fine, "day_date": "2026-03-03"}]}))
    assert made["slots"][0]["day_date"] == "2026-03-03"
    assert made["slots"][0]["end"] == at("16:00")


def test_bad_entities_are_refused(court_db: Court) -> None:
    t = build(court_db)
    other = build(court_db)
    st = t.stages[0]
    A, B = t.teams["A"], t.teams["B"]

    def match(**kw: Any) -> Any:
        body = {"stage_id": st, "petitioner_team_id": A, "respondent_team_id": B, **kw}
        return t.post("/matches", json=body)

    assert match(respondent_team_id=A).status_code == 422
    assert match(respondent_team_id=other.teams["B"]).status_code == 422
    assert match(stage_id=other.stages[0]).status_code == 422
    assert match(judge_ids=[other.judges["J1"]]).status_code == 422
    assert match(judge_ids=[t.judges["J1"], t.judges["J1"]]).status_code == 422
    assert match(duration_minutes=0).status_code == 422
    assert (
        t.post("/stages", json={"event_id": other.event, "name": "R", "order": 1}).status_code
        == 422
    )
    assert t.post("/teams", json={"name": "Z", "member_user_ids": [999_999]}).status_code == 422
    assert t.post("/judges", json={"name": "Z", "user_id": 999_999}).status_code == 422
    # Duplicates of unique names / numbers conflict.
    assert t.post("/teams", json={"name": "Team A"}).status_code == 409
    assert t.post("/courts", json={"label": "Court 9", "number": 1}).status_code == 409
    assert ok(t.get("/matches"), 200)["count"] == 3


# --- reads: lists and the day's schedule ----------------------------------------------------------


def test_lists_and_day_schedule(court_db: Court) -> None:
    t = build(court_db)
    assert ok(t.get(""), 200)["name"] == "Spring Moot"
    assert t.id in {
        x["id"] for x in ok(court_db.get("/api/tournaments", "student"), 200)["tournaments"]
    }
    assert [s["name"] for s in ok(t.get("/stages"), 200)["stages"]] == ["Round 1", "Round 2"]
    assert ok(t.get("/stages", params={"event_id": t.event}), 200)["count"] == 2
    teams = ok(t.get("/teams"), 200)["teams"]
    assert teams[0]["member_user_ids"] == [court_db.user_ids["pet1"], court_db.user_ids["pet2"]]
    assert [c["number"] for c in ok(t.get("/courts"), 200)["courts"]] == [1, 2]
    assert ok(t.get("/judges"), 200)["count"] == 2
    assert ok(t.get("/events"), 200)["count"] == 1
    assert ok(t.get("/matches", params={"stage_id": t.stages[1]}), 200)["matches"][0][
        "judge_ids"
    ] == [t.judges["J1"], t.judges["J2"]]

    assert t.get("/schedule/day", params={"date": DAY}).status_code == 404  # no version yet
    vid = t.new_version()
    t.auto_assign(vid)
    day = ok(t.get("/schedule/day", "student", params={"date": DAY}), 200)
    assert day["schedule_version_id"] == vid and day["version_status"] == "DRAFT"
    items = day["items"]
    assert [(i["slot"]["start"][11:16], i["court"]["number"]) for i in items] == [
        ("09:00", 1),
        ("09:00", 2),
        ("10:30", 1),
    ]
    first = items[0]
    assert first["match_id"] == t.matches["m1"]
    assert (first["petitioner"]["name"], first["respondent"]["name"]) == ("Team A", "Team B")
    assert first["judges"] == [{"id": t.judges["J1"], "name": "J1"}]
    assert first["stage"]["name"] == "Round 1" and first["session_id"] is None
    empty = ok(
        t.get("/schedule/day", params={"date": "2026-03-03", "schedule_version_id": vid}), 200
    )
    assert empty["items"] == []


# --- from schedule to courtroom --------------------------------------------------------------------


def test_session_from_assignment(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    unplaced = t.assignments(vid)[t.matches["m1"]]["id"]
    r = court_db.post("/api/session/create", "admin", json={"assignment_id": str(unplaced)})
    assert r.status_code == 404  # no slot yet

    t.auto_assign(vid)
    aid = t.assignments(vid)[t.matches["m1"]]["id"]
    r = court_db.post("/api/session/create", "admin", json={"assignment_id": str(aid)})
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["assignment_id"] == str(aid)
    assert session["title"] == "Team A v. Team B — Court 1, 09:00"
    uid = {k: str(v) for k, v in court_db.user_ids.items()}
    expected = session["state"]["expected"]
    people = sorted((e.get("user_id"), e["role"]) for e in expected)
    assert people == sorted(
        [
            (uid["pet1"], "petitioner"),
            (uid["pet2"], "petitioner"),
            (uid["res1"], "respondent"),
            (uid["res2"], "respondent"),
            (uid["judge"], "judge"),
        ]
    )
    pet = next(e for e in expected if e["role"] == "petitioner")
    assert (pet["team_id"], pet["side"], pet["name"]) == (t.teams["A"], "petitioner", "Team A")

    again = court_db.post("/api/session/create", "admin", json={"assignment_id": str(aid)})
    assert again.status_code == 409
    for unknown in ("999999", "not-a-number", f"0{aid}", ""):
        r = court_db.post("/api/session/create", "admin", json={"assignment_id": unknown})
        assert r.status_code == 404

    # Teams without accounts come in as one entry per side; judges without one by name.
    a2 = t.assignments(vid)[t.matches["m2"]]["id"]
    s2 = ok(court_db.post("/api/session/create", "admin", json={"assignment_id": str(a2)}))
    assert sorted((e["role"], e["name"]) for e in s2["state"]["expected"]) == [
        ("judge", "J2"),
        ("petitioner", "Team C"),
        ("respondent", "Team D"),
    ]
    assert all("user_id" not in e for e in s2["state"]["expected"])

    # The day's schedule links each match to its live session.
    items = ok(t.get("/schedule/day", params={"date": DAY}), 200)["items"]
    live = {i["assignment_id"]: (i["session_id"], i["session_status"]) for i in items}
    assert live[aid] == (session["id"], "pending")
    assert live[a2] == (s2["id"], "pending")
    assert live[t.assignments(vid)[t.matches["m3"]]["id"]] == (None, None)


# --- concurrency ------------------------------------------------------------------------------------


def test_concurrent_auto_assigns_serialise(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    expected_slots = {
        t.matches["m1"]: t.slot[(1, "09:00")],
        t.matches["m2"]: t.slot[(2, "09:00")],
        t.matches["m3"]: t.slot[(1, "10:30")],
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(t.post, f"/schedule/versions/{vid}/auto-assign") for _ in range(4)]
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    # Exactly one run changed anything; every run saw (and returned) the same schedule.
    assert sorted(b["changed_count"] for b in bodies) == [0, 0, 0, 3]
    assert all(b["assignments"] == bodies[0]["assignments"] for b in bodies)
    rows = t.assignments(vid)
    assert len(rows) == 3
    assert {m: a["slot_id"] for m, a in rows.items()} == expected_slots
    assert t.conflicts(vid).json()["summary"]["conflict_free"] is True


def test_concurrent_move_and_auto_assign_keep_the_lock(court_db: Court) -> None:
    t = build(court_db)
    vid = t.new_version()
    t.auto_assign(vid)
    aid = t.assignments(vid)[t.matches["m3"]]["id"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        move = pool.submit(t.move, aid, t.slot[(2, "12:00")])
        runs = [pool.submit(t.post, f"/schedule/versions/{vid}/auto-assign") for _ in range(2)]
        assert move.result().status_code == 200
        assert all(r.result().status_code == 200 for r in runs)
    m3 = t.assignments(vid)[t.matches["m3"]]
    assert (m3["slot_id"], m3["locked"]) == (t.slot[(2, "12:00")], True)
