"""Events the rules emit: what goes into the log, before it has a sequence number.

The type names are part of the wire contract and live in ``protocol``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.event_types import *  # noqa: F403  (re-exported names: ev.SESSION_STARTED, ...)
from protocol.event_types import RESERVED as RESERVED


@dataclass(frozen=True, slots=True)
class NewEvent:
    event_type: str
    details: dict[str, Any]
    actor_id: str | None
