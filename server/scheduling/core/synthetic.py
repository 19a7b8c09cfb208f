"""Deterministic synthetic tournaments for benchmarks, demos and tests.

A single event with Swiss-style preliminary rounds (every team once per round) followed by a
knockout of the top seeds (placeholder teams: the real qualifiers are unknown when the
schedule is drawn up). Pairings and judge panels come from a seeded PRNG, so a given set of
parameters always yields the same input.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from server.scheduling.core.model import (
    Court,
    Event,
    Judge,
    Match,
    ScheduleInput,
    ScheduleVersion,
    Slot,
    Stage,
    Team,
    Tournament,
)


def grid_slots(
    courts: tuple[Court, ...],
    *,
    days: int,
    first_day: date = date(2026, 3, 2),
    day_start_hour: int = 8,
    slots_per_day: int = 8,
    slot_minutes: int = 90,
    first_id: int = 1,
) -> tuple[Slot, ...]:
    """Back-to-back slots in every court, `slots_per_day` a day, ids in (day, time, court)."""
    slots = []
    next_id = first_id
    for d in range(days):
        day = first_day + timedelta(days=d)
        opening = datetime(day.year, day.month, day.day, day_start_hour, tzinfo=UTC)
        for k in range(slots_per_day):
            for court in courts:
                start = opening + timedelta(minutes=k * slot_minutes)
                slots.append(Slot(next_id, court.id, day, start, slot_minutes))
                next_id += 1
    return tuple(slots)


def synthetic_tournament(
    *,
    teams: int = 64,
    courts: int = 16,
    days: int = 3,
    prelim_rounds: int = 4,
    break_size: int = 16,
    slots_per_day: int = 8,
    slot_minutes: int = 90,
    match_minutes: int = 75,
    min_rest_minutes: int = 15,
    judges: int | None = None,
    panel: int = 2,
    seed: int = 2026,
) -> ScheduleInput:
    if teams % 2 or break_size & (break_size - 1) or break_size > teams:
        raise ValueError("teams must be even and break_size a power of two <= teams")
    rng = random.Random(seed)
    n_judges = judges if judges is not None else max(teams, panel + 1)
    team_rows = tuple(
        Team(i, f"Team {i}", f"Law School {(i - 1) // 2 + 1}") for i in range(1, teams + 1)
    )
    judge_rows = tuple(Judge(i, f"Judge {i}") for i in range(1, n_judges + 1))
    court_rows = tuple(Court(i, f"Court {i}", i, 40 + 10 * (i % 3)) for i in range(1, courts + 1))
    event = Event(1, "Moot Court Competition")

    stages: list[Stage] = []
    matches: list[Match] = []
    judge_ids = [j.id for j in judge_rows]

    def add_stage(name: str, pairs: list[tuple[int, int]], panel_size: int) -> None:
        stage = Stage(len(stages) + 1, event.id, name, len(stages) + 1)
        stages.append(stage)
        # Panels partition a shuffled judge pool, so nobody judges twice in a stage while the
        # pool lasts (a realistic allocation; the solver still handles reuse).
        pool = judge_ids[:]
        rng.shuffle(pool)
        for k, (a, b) in enumerate(pairs):
            seats = [pool[(k * panel_size + j) % len(pool)] for j in range(panel_size)]
            matches.append(
                Match(
                    len(matches) + 1,
                    event.id,
                    stage.id,
                    a,
                    b,
                    tuple(sorted(set(seats))),
                    match_minutes,
                )
            )

    team_ids = [t.id for t in team_rows]
    for r in range(1, prelim_rounds + 1):
        order = team_ids[:]
        rng.shuffle(order)
        add_stage(
            f"Preliminary Round {r}", [(order[i], order[i + 1]) for i in range(0, teams, 2)], panel
        )
    size = break_size
    names = {16: "Octofinal", 8: "Quarterfinal", 4: "Semifinal", 2: "Final"}
    while size >= 2:
        seeds = [(s, size + 1 - s) for s in range(1, size // 2 + 1)]
        add_stage(names.get(size, f"Round of {size}"), seeds, panel + 1)
        size //= 2

    return ScheduleInput(
        tournament=Tournament(1, "Synthetic Open", True, min_rest_minutes),
        version=ScheduleVersion(1, 1, 1),
        events=(event,),
        stages=tuple(stages),
        teams=team_rows,
        judges=judge_rows,
        courts=court_rows,
        slots=grid_slots(
            court_rows, days=days, slots_per_day=slots_per_day, slot_minutes=slot_minutes
        ),
        matches=tuple(matches),
    )
