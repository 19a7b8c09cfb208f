"""Run ``courtroom serve`` with cProfile switched on and off by signals (used by bench_fanout).

    python bench/_uvicorn_profiled.py OUT.prof serve [serve options...]

SIGUSR1 starts collecting, SIGUSR2 stops and writes everything collected so far
to OUT.prof, so a profile covers only the timed windows, not the set-up.
Read it with ``python -m pstats OUT.prof`` (``sort tottime``, ``stats 30``).
"""

from __future__ import annotations

import cProfile
import signal
import sys
from typing import Any

from server.cli import main

_profile = cProfile.Profile()
_out = sys.argv[1]


def _on(_sig: int, _frame: Any) -> None:
    _profile.enable()


def _off(_sig: int, _frame: Any) -> None:
    _profile.disable()
    _profile.dump_stats(_out)


signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
main(sys.argv[2:])
