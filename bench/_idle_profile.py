"""Where an idle connection's memory goes: tracemalloc snapshots of the real app.

    .venv/bin/python bench/bench_idle_memory.py --app bench._idle_profile:app \\
        --sizes 1000 --client-procs 2 --no-baseline --settle 8
    .venv/bin/python bench/_idle_profile.py report [--by lineno|filename]

As an app (``--app``): the courtroom app, with tracemalloc started after the
imports (under tracemalloc they take minutes). A thread writes a snapshot once
the server has settled with no connection (``base.snap``) and once it holds
``IDLE_PROFILE_N`` (1,000) connections (``full.snap``), in ``IDLE_PROFILE_DIR``
(``/tmp/idle-profile``). ``report`` prints the difference per connection.
The connects are slower under tracemalloc: the resident figures of such a run
mean nothing, only the traced ones.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc

OUT = os.environ.get("IDLE_PROFILE_DIR", "/tmp/idle-profile")
N = int(os.environ.get("IDLE_PROFILE_N", "1000"))


def _watch() -> None:
    from server.http.serve import RUNNING

    os.makedirs(OUT, exist_ok=True)
    base_taken = False
    while True:
        time.sleep(3)
        if not RUNNING:
            continue
        held = len(RUNNING[0].connections)
        if not base_taken and held == 0:
            time.sleep(8)  # past the warm-up connection
            if len(RUNNING[0].connections) == 0:
                tracemalloc.take_snapshot().dump(f"{OUT}/base.snap")
                base_taken = True
        elif base_taken and held >= N:
            time.sleep(5)
            tracemalloc.take_snapshot().dump(f"{OUT}/full.snap")
            print(f"idle profile: snapshots in {OUT}", flush=True)
            return


def report(by: str = "lineno", top: int = 40) -> None:
    base = tracemalloc.Snapshot.load(f"{OUT}/base.snap")
    full = tracemalloc.Snapshot.load(f"{OUT}/full.snap")
    stats = full.compare_to(base, by)
    print(f"traced per connection: {sum(s.size_diff for s in stats) / N:.0f} B")
    for s in stats[:top]:
        print(f"{s.size_diff / N:7.0f} B {s.count_diff / N:5.1f} blocks  {s.traceback[0]}")


if __name__ == "__main__":
    if sys.argv[1:2] != ["report"]:
        sys.exit(__doc__)
    report(sys.argv[3] if sys.argv[2:3] == ["--by"] else "lineno")
else:
    from server.node.main import app  # noqa: F401 - the app uvicorn serves

    tracemalloc.start(12)
    threading.Thread(target=_watch, daemon=True).start()
