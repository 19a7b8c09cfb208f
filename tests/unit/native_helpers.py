"""What the tests of the C modules share (tests/unit/test_*_native.py)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

from tests.conftest import unavailable

T = TypeVar("T")

OPENSSL = "a C compiler and OpenSSL's headers, libssl-dev,"


def built(value: T | None, module: str, needs: str = OPENSSL) -> T:
    """``value`` from a C module, or skip (fail in CI) where ``module`` was not built."""
    if value is None:
        unavailable(f"{module} was not built ({needs} are needed at install time)")
    return value


def grown_bytes(round_: Callable[[], None], rounds: int = 50) -> int:
    """Bytes still allocated after ``rounds`` calls of ``round_``, counted after one warm-up
    call (caches, interned names, the exception machinery, a module's own buffers)."""
    round_()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            round_()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
