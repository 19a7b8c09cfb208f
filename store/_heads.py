"""The writer's memory of the session rows it last committed, and what it allows.

After each commit the backend knows every touched session's row exactly as it
left it (head, state, timer). On PostgreSQL a batch whose every session is
remembered can skip the locking read: it is planned against the remembered
rows and written as *one* autocommitted statement whose head update is
conditional on the row still being what was remembered (``head_seq``,
``timer_owner``, ``timer_fence``, ``tree_size``). A row changed meanwhile
(another node's command, a timer claim, a tree caught up) fails the condition,
nothing of that session is written (its entries and tree nodes are inserted
only for the rows the update matched), and its jobs are run again on the
locking path. The memory is only a guess; the database's condition is what
makes it safe.

``fast_plan`` is pure: it decides whether a batch may take that path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter

from store._lru import Remembered
from store._plan import Command, Job, Memos, Plan, Row, plan

# Every field, in the order ``Row``'s constructor takes them, read in one C call.
_FIELDS = attrgetter(*(f.name for f in fields(Row)))


def _copy(row: Row, *, dirty: bool) -> Row:
    """``dataclasses.replace(row, dirty=dirty, moved=False)`` in ~1 µs instead of ~7 (twice a command)."""
    new = Row(*_FIELDS(row))
    new.dirty, new.moved = dirty, False
    return new


class HeadCache(Remembered[Row]):
    """The last committed row of up to ``size`` sessions, least recently used out first."""

    def _kept(self, value: Row) -> Row:
        # A copy, so the batch's own objects stay the batch's.
        return _copy(value, dirty=False)


def fast_plan(
    jobs: Sequence[Job], cache: HeadCache, memos: Memos | None = None, trees: bool = True
) -> tuple[Plan, dict[str, Row]] | None:
    """Plan ``jobs`` against remembered rows, or None if the batch needs the locking path.

    Only commands that read nothing else in the transaction (no live-connection
    count) on remembered sessions qualify, and only if every session ends with
    new entries and the plan writes nothing but entries and heads: a refusal
    or a no-op leaves no conditional write that would prove the guess right,
    and projection rows cannot be made conditional in the same statement.

    Returns:
        The plan and the rows it was made against (updated in place by it).
    """
    rows: dict[str, Row] = {}
    for job in jobs:
        if not isinstance(job, Command) or job.live_user is not None:
            return None
        if job.session_id not in rows:
            row = cache.get(job.session_id)
            if row is None:
                return None
            rows[job.session_id] = _copy(row, dirty=False)
    before = {
        sid: (r.head_seq, r.timer_owner, r.timer_fence, r.tree_size) for sid, r in rows.items()
    }
    p = plan(jobs, rows, {}, set(), memos, trees)
    if p.ops or p.new_sessions or not all(r.dirty for r in rows.values()):
        return None
    p.heads = [(*r.head_values(sid), *before[sid]) for sid, r in rows.items()]
    return p, rows
