"""What a board shows of one session: the hello it reads, the tile, the summary frame, the hub tap (server/live/board.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol._chain import ChainVerifier
from protocol.errors import (
    ProtocolError,
)
from server.live.frames import OutFrame
from server.live.hub import Channel
from server.live.outbound import Outbound
from server.rules.state import SessionState


class BoardHello(BaseModel):
    """``{"type": "hello", "v": 1, "token"?, "date"?, "known"?}``."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern="^hello$")
    v: int = Field(ge=1, le=1)
    token: str | None = Field(default=None, max_length=4096)
    date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    # Resume: the sequence number the client has of each session (its last summary's).
    known: dict[str, int] = Field(default_factory=dict, max_length=5000)


def _decode_hello(text: str) -> BoardHello:
    try:
        return BoardHello.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise ProtocolError(f"bad hello: {where}: {first.get('msg', 'invalid')}") from None


def summary_of(state: SessionState, head_seq: int, check: Mapping[str, Any]) -> dict[str, Any]:
    """The board tile of one session: small, and enough to draw it and run its clock."""
    r = state.active_round()
    t = r.current if r is not None else None
    turn = None
    if t is not None:
        speaker = state.participants.get(t.participant_id)
        running = t.status == "running" and t.deadline_ms is not None and state.status == "active"
        turn = {
            "turn_id": t.turn_id,
            "participant_id": t.participant_id,
            "name": speaker.name if speaker is not None else None,
            "side": t.side,
            "speaker": t.speaker,
            "kind": t.kind,
            "status": t.status,
            "allowed_ms": t.allowed_ms,
            "remaining_ms": t.remaining_ms,
            "deadline_ms": t.deadline_ms if running else None,
            "running": running,
            "warnings_fired": list(t.warnings_fired),
        }
    here = set(state.participants)
    missing = [
        {"name": x.get("name"), "role": x.get("role") or x.get("side")}
        for x in state.expected
        if not x.get("user_id") or x.get("user_id") not in here
    ]
    return {
        "session_id": state.session_id,
        "assignment_id": state.assignment_id,
        "sequence_number": head_seq,
        "status": state.status.value,
        "title": state.title,
        "started_at_ms": state.started_at_ms,
        "round": None
        if r is None
        else {"index": r.round_index, "status": r.status, "format": r.format_name},
        "turn": turn,
        "observers": state.observers_now,
        "participants": [
            {
                "user_id": p.user_id,
                "name": p.name,
                "role": p.role,
                "speaker": p.speaker,
                "status": p.status.value,
            }
            for p in sorted(state.participants.values(), key=lambda p: (p.role, p.speaker or 0))
        ],
        "missing": missing,
        "chain": dict(check),
    }


class _Tap(Outbound):
    """The board's subscriber on one session's hub channel: every entry is a change."""

    __slots__ = ("session_id", "on_entry", "syncing", "backlog", "is_observer", "outbound")
    wants_ticks = False  # the hub skips a channel's tick when only taps watch it

    def __init__(self, session_id: str, on_entry: Callable[[str, OutFrame], None]) -> None:
        super().__init__(_never, _nothing, 1)
        self.session_id = session_id
        self.on_entry = on_entry
        self.syncing = False
        self.backlog: list[tuple[int, OutFrame]] = []
        self.is_observer = False
        self.outbound: Outbound = self  # the hub's Subscriber: .outbound.push(...)

    def push(self, frame: OutFrame, tick: OutFrame | None = None) -> bool:
        self.on_entry(self.session_id, frame)
        return True

    def push_tick(self, frame: OutFrame) -> None:
        """Per-session ticks are not forwarded: the board sends one coalesced clocks frame."""

    def too_slow(self) -> None:  # never queues, never slow
        return None


async def _never(frame: OutFrame) -> None:  # pragma: no cover - a tap never writes
    return None


def _nothing() -> None:  # pragma: no cover
    return None


@dataclass
class _Tile:
    """One session of the board on this node."""

    session_id: str
    tap: _Tap
    channel: Channel | None = None
    verifier: ChainVerifier = field(default_factory=ChainVerifier)
    waiting: list[dict[str, Any]] = field(default_factory=list)  # entries while verifying
    verifying: bool = True
    summary: OutFrame | None = None
    summary_seq: int = -1

    def check(self) -> dict[str, Any]:
        r = self.verifier.result()
        if self.verifying:
            return {"state": "checking", "through": 0, "broken_at": None}
        if not r.valid:
            return {"state": "broken", "through": 0, "broken_at": r.first_invalid_sequence}
        return {"state": "ok", "through": r.entries, "broken_at": None}
