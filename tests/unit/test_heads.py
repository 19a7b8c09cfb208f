"""The writer's memory of committed rows (``store/_heads.py``): a guess it never corrupts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from protocol import GENESIS_HASH
from store._heads import HeadCache, fast_plan
from store._plan import Command, Decision, Head, Row, TxInfo

SID = "00000000-0000-4000-8000-000000000001"


class _Note:
    event_type = "NOTE"
    details: dict[str, Any] = {}
    actor_id = "1"


def note(text: str, memo: Any, head: Head, now: int, info: TxInfo) -> Decision:
    return Decision([_Note()], {}, "active", None)


def fresh_row(seq: int) -> Row:
    return Row(seq, GENESIS_HASH, "{}", None, 0, None)


def test_a_remembered_row_is_a_copy_of_every_field() -> None:
    row = Row(7, "ab" * 32, '{"x":1}', "node-a", 3, 9_000, "active", 8_000, True, 7, b"e" * 96)
    cache = HeadCache()
    cache.put({SID: row})
    row.head_seq = 99  # the batch's object goes on; the memory does not
    assert cache.get(SID) == replace(row, head_seq=7, dirty=False)


def test_a_fast_plan_leaves_the_memory_as_committed() -> None:
    cache = HeadCache()
    cache.put({SID: fresh_row(4)})
    planned = fast_plan([Command(SID, note, now=1_000)], cache)
    assert planned is not None
    p, rows = planned
    assert rows[SID].head_seq == 5 and rows[SID].dirty
    # Until the statement says it wrote, the memory still holds the committed row.
    assert cache.get(SID) == fresh_row(4)
    # The tree (size 0) is behind the head (4): not grown, and its size is a condition too.
    assert [h[-5:] for h in p.heads] == [(SID, 4, None, 0, 0)]


def test_a_session_not_remembered_takes_the_locking_path() -> None:
    assert fast_plan([Command(SID, note, now=1_000)], HeadCache()) is None
