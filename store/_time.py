"""The log's clock conversions: epoch milliseconds and the canonical timestamp text."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from time import time_ns

from protocol import format_timestamp


def now_ms() -> int:
    return time_ns() // 1_000_000


@lru_cache(maxsize=256)  # a batch's commands mostly share their millisecond
def ms_to_iso(ms: int) -> str:
    return format_timestamp(datetime.fromtimestamp(ms / 1000, tz=UTC))
