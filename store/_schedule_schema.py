"""Scheduling tables (issue 4): tournaments, their rooms and time slots, matches, versions.

Shaped like tab software (Tabbycat venues / Tabroom rooms and timeslots): a *court* is a
room, a *slot* is one court open for one time window, a *stage* is a round ordered within its
*event*. Matches belong to the tournament; where each match sits is versioned: a
*schedule version* owns one *assignment* row per match (slot nullable = unassigned).

Conventions shared with ``store._schema``: same ``metadata`` (so Alembic sees one model),
integer autoincrement ids, timestamps and slot starts as canonical ISO UTC strings
(``String(32)``, ``2026-03-02T09:00:00Z``: they sort lexicographically), dates as
``YYYY-MM-DD``. ``member_user_ids`` is a JSON list of user ids (the team's students, invited
to the live session).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from store._schema import TS, metadata

DAY = String(10)

tournaments = Table(
    "tournaments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("public_schedule", Boolean, nullable=False, server_default="0"),
    Column("min_rest_minutes", Integer, nullable=False, server_default="0"),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(64), nullable=True),
    CheckConstraint("min_rest_minutes >= 0", name="min_rest_non_negative"),
)

tournament_events = Table(
    "tournament_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tournament_id", Integer, ForeignKey("tournaments.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("tournament_id", "name", name="uq_event_tournament_name"),
)

tournament_stages = Table(
    "tournament_stages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, ForeignKey("tournament_events.id"), nullable=False),
    Column("name", String(200), nullable=False),
    # A higher order runs after every lower one; equal orders are concurrent.
    Column("stage_order", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("event_id", "name", name="uq_stage_event_name"),
)

tournament_teams = Table(
    "tournament_teams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tournament_id", Integer, ForeignKey("tournaments.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("institution", String(200), nullable=True),
    Column("member_user_ids", Text, nullable=True),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("tournament_id", "name", name="uq_team_tournament_name"),
)

tournament_judges = Table(
    "tournament_judges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tournament_id", Integer, ForeignKey("tournaments.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("created_at", TS, nullable=False),
    # NULLs are distinct: many judges without an account, each account judges once.
    UniqueConstraint("tournament_id", "user_id", name="uq_judge_tournament_user"),
)

tournament_courts = Table(
    "tournament_courts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tournament_id", Integer, ForeignKey("tournaments.id"), nullable=False),
    Column("label", String(100), nullable=False),
    # Allocation preference (Tabbycat's venue priority): lower numbers are filled first.
    Column("number", Integer, nullable=False),
    Column("capacity", Integer, nullable=True),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("tournament_id", "number", name="uq_court_tournament_number"),
    UniqueConstraint("tournament_id", "label", name="uq_court_tournament_label"),
    CheckConstraint("capacity IS NULL OR capacity > 0", name="court_capacity_positive"),
)

schedule_slots = Table(
    "schedule_slots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tournament_id", Integer, ForeignKey("tournaments.id"), nullable=False),
    Column("court_id", Integer, ForeignKey("tournament_courts.id"), nullable=False),
    Column("day_date", DAY, nullable=False),
    Column("start_at", TS, nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("court_id", "start_at", name="uq_slot_court_start"),
    CheckConstraint(
        "duration_minutes > 0 AND duration_minutes <= 1440", name="slot_duration_valid"
    ),
    Index("idx_slot_tournament_day", "tournament_id", "day_date", "start_at"),
)

tournament_matches = Table(
    "tournament_matches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tournament_id", Integer, ForeignKey("tournaments.id"), nullable=False),
    Column("stage_id", Integer, ForeignKey("tournament_stages.id"), nullable=False),
    Column("petitioner_team_id", Integer, ForeignKey("tournament_teams.id"), nullable=False),
    Column("respondent_team_id", Integer, ForeignKey("tournament_teams.id"), nullable=False),
    Column("duration_minutes", Integer, nullable=False, server_default="60"),
    Column("created_at", TS, nullable=False),
    CheckConstraint("petitioner_team_id <> respondent_team_id", name="match_sides_distinct"),
    CheckConstraint(
        "duration_minutes > 0 AND duration_minutes <= 1440", name="match_duration_valid"
    ),
    Index("idx_match_tournament", "tournament_id"),
    Index("idx_match_stage", "stage_id"),
)

match_judges = Table(
    "match_judges",
    metadata,
    Column("match_id", Integer, ForeignKey("tournament_matches.id"), nullable=False),
    Column("judge_id", Integer, ForeignKey("tournament_judges.id"), nullable=False),
    # Panel order (0 = chair).
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("match_id", "judge_id", name="pk_match_judges"),
    UniqueConstraint("match_id", "position", name="uq_match_judge_position"),
    Index("idx_match_judge_judge", "judge_id"),
)

schedule_versions = Table(
    "schedule_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tournament_id", Integer, ForeignKey("tournaments.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default="DRAFT"),
    Column("parent_version_id", Integer, ForeignKey("schedule_versions.id"), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("finalized_at", TS, nullable=True),
    UniqueConstraint("tournament_id", "number", name="uq_version_tournament_number"),
    CheckConstraint("status IN ('DRAFT','FINALIZED')", name="version_status_valid"),
    CheckConstraint("number > 0", name="version_number_positive"),
)

match_schedule_assignments = Table(
    "match_schedule_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_version_id", Integer, ForeignKey("schedule_versions.id"), nullable=False),
    Column("match_id", Integer, ForeignKey("tournament_matches.id"), nullable=False),
    Column("slot_id", Integer, ForeignKey("schedule_slots.id"), nullable=True),
    Column("locked", Boolean, nullable=False, server_default="0"),
    Column("assigned_by", String(8), nullable=True),
    Column("reason", Text, nullable=True),
    Column("reason_code", String(40), nullable=True),
    Column("assigned_at", TS, nullable=True),
    UniqueConstraint("schedule_version_id", "match_id", name="uq_assignment_version_match"),
    CheckConstraint(
        "assigned_by IS NULL OR assigned_by IN ('AUTO','MANUAL')", name="assigned_by_valid"
    ),
    Index("idx_assignment_slot", "slot_id"),
    Index("idx_assignment_match", "match_id"),
)

__all__ = [
    "match_judges",
    "match_schedule_assignments",
    "schedule_slots",
    "schedule_versions",
    "tournament_courts",
    "tournament_events",
    "tournament_judges",
    "tournament_matches",
    "tournament_stages",
    "tournament_teams",
    "tournaments",
]
