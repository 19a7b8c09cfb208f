"""The log's timestamp text from epoch milliseconds (store/_time.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, strategies as st

from protocol import format_timestamp
from store import ms_to_iso

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _by_datetime(ms: int) -> str:
    """The canonical form built the long way: exact integer arithmetic, then ``isoformat``."""
    return format_timestamp(EPOCH + timedelta(milliseconds=ms))


@given(st.integers(min_value=-62_000_000_000_000, max_value=253_402_300_799_999))
def test_any_millisecond_is_the_canonical_form(ms: int) -> None:
    assert ms_to_iso(ms) == _by_datetime(ms)


def test_edges_of_a_second_a_day_and_the_epoch() -> None:
    for ms in (0, -1, 999, 1000, 1001, 86_399_999, 86_400_000, 951_782_400_000, 1_765_000_000_000):
        assert ms_to_iso(ms) == _by_datetime(ms)
    assert ms_to_iso(1_765_091_876_123) == "2025-12-07T07:17:56.123000+00:00"
    assert ms_to_iso(-1) == "1969-12-31T23:59:59.999000+00:00"
