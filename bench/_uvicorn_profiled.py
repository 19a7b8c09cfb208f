"""Run ``courtroom serve`` with cProfile switched on and off by signals (used by bench_fanout).

    python bench/_uvicorn_profiled.py OUT.prof serve [serve options...]

SIGUSR1 starts collecting, SIGUSR2 stops and writes everything collected so far
to OUT.prof, so a profile covers only the timed windows, not the set-up.
Read it with ``python -m pstats OUT.prof`` (``sort tottime``, ``stats 30``).
"""

from __future__ import annotations

import sys

from _common import profile_on_signals

from server.node.cli import main

profile_on_signals(sys.argv[1])
main(sys.argv[2:])
