"""The log's clock conversions: epoch milliseconds and the canonical timestamp text."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from time import time_ns


def now_ms() -> int:
    return time_ns() // 1_000_000


@lru_cache(maxsize=64)  # a batch's commands mostly share their second
def _second(sec: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of an epoch second, in UTC."""
    return datetime.fromtimestamp(sec, tz=UTC).isoformat(timespec="seconds")[:19]


_FRACTIONS = [f".{ms:03d}000+00:00" for ms in range(1000)]  # a second's tail, by millisecond


def ms_to_iso(ms: int) -> str:
    """``protocol.format_timestamp`` of the millisecond ``ms`` (UTC, microseconds, ``+00:00``).

    By arithmetic on a cached second: once a command, where building a
    ``datetime`` and its ``isoformat`` cost ~4 % of a command's instructions
    (the cache of whole milliseconds it had missed four times in five).
    """
    sec, milli = divmod(ms, 1000)
    return _second(sec) + _FRACTIONS[milli]
