"""A new round's turns: from a format (a preset, a custom spec, the seed's default) or listed.

Part of creating a round (``server/rules/rounds.py``). Turn ids derive from the
round id, so the plan, and the ROUND_CREATED event that carries it, is
deterministic.
"""

from __future__ import annotations

import uuid
from typing import Any

from protocol.errors import ValidationFailed
from server.rules.commands import CreateRound
from server.rules.formats import (
    PRESETS,
    SEED_DEFAULT,
    FormatError,
    Speaker,
    format_from_dict,
    format_to_dict,
    generate_turns,
)
from server.rules.state import SessionState


def plan_turns(
    state: SessionState, cmd: CreateRound
) -> tuple[str, dict[str, Any] | None, list[dict[str, Any]]]:
    """The format's name, its spec (None for listed turns) and the turns, as the event has them.

    Raises:
        ValidationFailed: an unknown preset, a bad spec or a bad listed turn.
    """
    if cmd.turns is not None:
        return "custom", None, _explicit_turns(state, cmd)
    try:
        if cmd.format_spec is not None:
            fmt = format_from_dict(cmd.format_spec)
        elif cmd.format_name is not None:
            if cmd.format_name not in PRESETS:
                raise ValidationFailed(
                    f"unknown format {cmd.format_name!r}; presets: {', '.join(sorted(PRESETS))}"
                )
            fmt = PRESETS[cmd.format_name]
        else:
            fmt = SEED_DEFAULT
        specs = generate_turns(fmt, _speakers(state), default_turn_seconds=cmd.default_turn_seconds)
    except FormatError as exc:
        raise ValidationFailed(str(exc)) from None
    turns = [
        {
            "turn_id": turn_id_for(cmd.round_id, s.order),
            "order": s.order,
            "participant_id": s.participant_id,
            "side": s.side,
            "speaker": s.speaker,
            "kind": s.kind,
            "allowed_ms": s.allowed_ms,
            "warnings_ms": list(s.warnings_ms),
        }
        for s in specs
    ]
    # The spec is kept in the log, so a custom format stays readable.
    return fmt.name, format_to_dict(fmt), turns


def turn_id_for(round_id: str, order: int) -> str:
    """Turn ids derive from the round id, so creating a round stays deterministic."""
    return str(uuid.uuid5(uuid.UUID(round_id), f"turn-{order}"))


def _speakers(state: SessionState) -> list[Speaker]:
    return [
        Speaker(participant_id=p.user_id, side=p.role, speaker=p.speaker or 1)  # type: ignore[arg-type]
        for p in sorted(state.participants.values(), key=lambda p: (p.role, p.speaker or 0))
        if p.role in ("petitioner", "respondent")
    ]


def _explicit_turns(state: SessionState, cmd: CreateRound) -> list[dict[str, Any]]:
    assert cmd.turns is not None
    out = []
    for order, plan in enumerate(cmd.turns, start=1):
        p = state.participants.get(plan.participant_id)
        if p is None or p.role not in ("petitioner", "respondent"):
            raise ValidationFailed(f"participant {plan.participant_id} is not a speaker here")
        if not 1 <= plan.allowed_seconds <= 24 * 3600:
            raise ValidationFailed("allowed_seconds must be between 1 and 86400")
        allowed = plan.allowed_seconds * 1000
        out.append(
            {
                "turn_id": turn_id_for(cmd.round_id, order),
                "order": order,
                "participant_id": p.user_id,
                "side": p.role,
                "speaker": p.speaker or 1,
                "kind": "main",
                "allowed_ms": allowed,
                "warnings_ms": [w for w in (300_000, 120_000, 60_000, 30_000) if w < allowed],
            }
        )
    return out
