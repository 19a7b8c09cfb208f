"""Benchmark the pure scheduling core: auto-assign and the conflict report.

Run: .venv/bin/python bench/bench_schedule.py [--runs N] [--quick]

Inputs are synthetic and deterministic (server.scheduling.core.synthetic): one event, 4 Swiss-style
preliminary rounds plus a 16-team knockout, 8 slots of 90 min per court per day, 75-min
matches, 15 min minimum rest. The "scarce judges" case shrinks the judge pool so many matches
stay unassigned, which exercises the per-match diagnosis.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402

from server.scheduling.core import (  # noqa: E402
    ConflictReportBuilder,
    ScheduleInput,
    auto_assign,
    validate_manual_move,
)
from server.scheduling.core.synthetic import synthetic_tournament  # noqa: E402

SCENARIOS: list[tuple[str, dict[str, int]]] = [
    ("64 teams, 16 courts, 3 days", {"teams": 64, "courts": 16, "days": 3}),
    ("256 teams, 32 courts, 3 days", {"teams": 256, "courts": 32, "days": 3}),
    (
        "256 teams, 32 courts, 3 days, 48 judges (scarce)",
        {"teams": 256, "courts": 32, "days": 3, "judges": 48},
    ),
]


def median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def bench(name: str, inp: ScheduleInput, runs: int) -> list[dict[str, object]]:
    result = auto_assign(inp)
    after = result.apply_to(inp)
    report = ConflictReportBuilder.compute(after)
    body = report.model_dump_json()
    assert all(auto_assign(inp) == result for _ in range(2)), "auto-assign not deterministic"
    assert ConflictReportBuilder.compute(after).model_dump_json() == body, "report differs"
    placed = next(a for a in after.assignments if a.slot_id is not None)
    target = after.slots[-1].id

    t_assign = median_ms(lambda: auto_assign(inp), runs)
    t_report = median_ms(lambda: ConflictReportBuilder.compute(after), runs)
    t_json = median_ms(lambda: ConflictReportBuilder.compute(after).model_dump_json(), runs)
    t_move = median_ms(lambda: validate_manual_move(after, placed.id, target), runs)
    # The baseline, in the same run: serialising the tournament's input once (the
    # work any request that carries it pays), so the ratios travel between machines.
    t_base = median_ms(lambda: orjson.dumps(inp), runs)
    print(f"## {name}")
    print(
        f"matches={len(inp.matches)} slots={len(inp.slots)} judges={len(inp.judges)} "
        f"placed={result.placed_count} unassigned={len(result.unassigned)} "
        f"violations={report.summary.violation_count} report_json={len(body)} bytes"
    )
    print(f"  auto_assign              median {t_assign:8.1f} ms")
    print(f"  conflict report          median {t_report:8.1f} ms")
    print(f"  conflict report + JSON   median {t_json:8.1f} ms")
    print(f"  validate_manual_move     median {t_move:8.1f} ms")
    print(f"  baseline: input to JSON  median {t_base:8.1f} ms")
    figures = {
        "auto_assign": t_assign,
        "conflict_report": t_report,
        "conflict_report_json": t_json,
        "validate_manual_move": t_move,
    }
    return [
        {
            "bench": "schedule",
            "case": name,
            "op": op,
            "median_ms": round(ms, 3),
            "baseline_ms": round(t_base, 3),
        }
        for op, ms in figures.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="one timed run per figure")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    print(f"python {platform.python_version()} on {platform.machine()}, runs={args.runs}")
    out = [
        line
        for name, params in SCENARIOS
        for line in bench(name, synthetic_tournament(**params), args.runs)
    ]
    for line in out:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
