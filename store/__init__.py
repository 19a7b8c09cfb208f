"""Persistence: tables, migrations, the hash-chained log append and its reads.

Only this package touches SQLAlchemy. It imports ``protocol`` and nothing of
the server.
"""

from __future__ import annotations

from store._cluster import ClusterStore
from store._engine import DEFAULT_URL, create_engine, normalise_url
from store._entries import LogEntry
from store._migrate import migrate
from store._plan import Committed, Decision, Head, TxInfo
from store._record import CheckpointRow, Leaf, RecordStore
from store._schedules import ScheduleRows, ScheduleStore, ScheduleTx
from store._sessions import SessionStore
from store._time import ms_to_iso, now_ms
from store._tree import STORED_LEVEL, TreeState
from store._users import UserStore

__all__ = [
    "CheckpointRow",
    "Leaf",
    "ClusterStore",
    "RecordStore",
    "STORED_LEVEL",
    "TreeState",
    "TxInfo",
    "DEFAULT_URL",
    "Committed",
    "Decision",
    "Head",
    "LogEntry",
    "ScheduleRows",
    "ScheduleStore",
    "ScheduleTx",
    "SessionStore",
    "UserStore",
    "create_engine",
    "migrate",
    "ms_to_iso",
    "normalise_url",
    "now_ms",
]
