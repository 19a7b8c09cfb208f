"""Events the rules emit: what goes into the log, before it has a sequence number.

The type names are part of the wire contract and live in ``protocol``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from protocol.event_types import *  # noqa: F403  (re-exported names: ev.SESSION_STARTED, ...)
from protocol.event_types import RESERVED as RESERVED


class NewEvent(NamedTuple):  # a tuple, as ``store.LogEntry``: made for every entry
    event_type: str
    details: dict[str, Any]
    actor_id: str | None
