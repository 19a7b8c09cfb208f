"""A committed log entry as the store hands it out."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson


class LogEntry(NamedTuple):
    """Immutable; a named tuple, not a frozen dataclass: one is made an entry, and
    a frozen dataclass's ``__init__`` (an ``object.__setattr__`` a field) cost
    three times as much, ~4 % of a command's instructions.
    """

    session_id: str
    sequence_number: int
    timestamp: str
    event_type: str
    actor_id: str | None
    details_json: str  # the canonical text that was hashed
    previous_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """The section 1 fields, ``details`` as an object."""
        return {
            "session_id": self.session_id,
            "sequence_number": self.sequence_number,
            "timestamp": self.timestamp,
            "event_type": self.event_type,
            "actor_id": self.actor_id,
            "details": orjson.loads(self.details_json),
            "previous_hash": self.previous_hash,
            "hash": self.hash,
        }

    def frame(self) -> bytes:
        """The ``event`` frame, encoded once; the details text is embedded as is."""
        return orjson.dumps(
            {
                "type": "event",
                "session_id": self.session_id,
                "sequence_number": self.sequence_number,
                "timestamp": self.timestamp,
                "event_type": self.event_type,
                "actor_id": self.actor_id,
                "details": orjson.Fragment(self.details_json),
                "previous_hash": self.previous_hash,
                "hash": self.hash,
            }
        )

    def json_line(self) -> bytes:
        """One line of a JSON Lines export (no ``type``)."""
        return self.json() + b"\n"

    def row_json(self) -> bytes:
        """The entry as a bundle format 2 row: the eight hashed fields in order, details as its text."""
        return orjson.dumps(
            [
                self.session_id,
                self.sequence_number,
                self.timestamp,
                self.event_type,
                self.actor_id,
                self.details_json,
                self.previous_hash,
                self.hash,
            ]
        )

    def json(self) -> bytes:
        """The entry as a JSON object (no ``type``), details embedded as hashed."""
        return orjson.dumps(
            {
                "session_id": self.session_id,
                "sequence_number": self.sequence_number,
                "timestamp": self.timestamp,
                "event_type": self.event_type,
                "actor_id": self.actor_id,
                "details": orjson.Fragment(self.details_json),
                "previous_hash": self.previous_hash,
                "hash": self.hash,
            }
        )
