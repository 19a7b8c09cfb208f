"""Where the benchmarks live, and the interpreter and database they use.

Imported first by every helper module: running ``python bench/x.py`` puts
``bench/`` on ``sys.path`` but not the repository, which the scripts import
``server``, ``store`` and ``protocol`` from.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:  # run as ``python bench/x.py`` from anywhere
    sys.path.insert(0, str(ROOT))
PY = sys.executable

PG_ADMIN_URL = os.environ.get("COURTROOM_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
