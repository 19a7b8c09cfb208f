"""Custom formats as JSON-shaped data: read with every field validated, and written back.

A tournament sends its format as a dict; the round's ROUND_CREATED event keeps
``format_to_dict`` of it so the log stays readable without the code that made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from server.rules.format_model import (
    DEFAULT_TURN_SECONDS,
    DEFAULT_WARNINGS_MS,
    KINDS,
    MAX_SLOTS,
    MAX_TURN_SECONDS,
    SIDES,
    SPEAKER_NUMBERS,
    Format,
    FormatError,
    Kind,
    Side,
    Slot,
    alts,
    is_int,
)

_FORMAT_KEYS = frozenset(
    {
        "name",
        "description",
        "turns",
        "rebuttal_reserved_from",
        "warnings_ms",
        "warnings_seconds",
        "default_turn_seconds",
    }
)


_TURN_KEYS = frozenset({"side", "speaker", "kind", "minutes", "seconds"})


def format_from_dict(d: Mapping[str, Any]) -> Format:
    """Build a custom format from JSON-shaped data, validating every field.

    Shape (only ``name`` and ``turns`` are required; integers only, no floats)::

        {"name": "city_cup",
         "turns": [{"side": "petitioner", "speaker": 1, "minutes": 15},
                   {"side": "respondent", "speaker": 1, "seconds": 900},
                   {"side": "petitioner", "speaker": 1, "kind": "rebuttal", "minutes": 3}],
         "rebuttal_reserved_from": 1,
         "warnings_seconds": [300, 120, 60, 30],   # or "warnings_ms"
         "default_turn_seconds": 300,
         "description": "..."}

    A turn gives ``minutes`` or ``seconds`` (not both); with neither it lasts
    ``default_turn_seconds``. ``kind`` defaults to ``main``.

    Raises:
        FormatError: Naming the offending field, e.g. ``turns[2].side``.
    """
    if not isinstance(d, Mapping):
        raise FormatError(f"a format must be an object, got {type(d).__name__}")
    _no_unknown_keys("format", d, _FORMAT_KEYS)
    name = d.get("name")
    if not isinstance(name, str):
        raise FormatError("name: required, a string")
    turns = d.get("turns")
    if not isinstance(turns, list | tuple):
        raise FormatError("turns: required, a list of turns")
    if len(turns) > MAX_SLOTS:
        raise FormatError(f"turns: at most {MAX_SLOTS} turns")
    slots = tuple(_slot_from_dict(f"turns[{i}]", t) for i, t in enumerate(turns))
    if "warnings_ms" in d and "warnings_seconds" in d:
        raise FormatError("give warnings_ms or warnings_seconds, not both")
    warnings = DEFAULT_WARNINGS_MS
    if "warnings_seconds" in d:
        warnings = tuple(1000 * s for s in _int_list("warnings_seconds", d["warnings_seconds"]))
    elif "warnings_ms" in d:
        warnings = tuple(_int_list("warnings_ms", d["warnings_ms"]))
    reserve = d.get("rebuttal_reserved_from")
    if reserve is not None:
        reserve = _int("rebuttal_reserved_from", reserve)
    default = _int("default_turn_seconds", d.get("default_turn_seconds", DEFAULT_TURN_SECONDS))
    description = d.get("description", "")
    if not isinstance(description, str):
        raise FormatError("description: must be a string")
    return Format(
        name=name,
        slots=slots,
        rebuttal_reserved_from=reserve,
        warnings_ms=warnings,
        default_turn_seconds=default,
        description=description,
    )


def format_to_dict(fmt: Format) -> dict[str, Any]:
    """The JSON-shaped form of ``fmt``; `format_from_dict` reads it back to an equal format."""
    turns: list[dict[str, Any]] = []
    for s in fmt.slots:
        turn: dict[str, Any] = {"side": s.side, "speaker": s.speaker, "kind": s.kind}
        if s.seconds is not None:
            turn["seconds"] = s.seconds
        turns.append(turn)
    return {
        "name": fmt.name,
        "description": fmt.description,
        "turns": turns,
        "rebuttal_reserved_from": fmt.rebuttal_reserved_from,
        "warnings_ms": list(fmt.warnings_ms),
        "default_turn_seconds": fmt.default_turn_seconds,
    }


def _slot_from_dict(path: str, t: object) -> Slot:
    if not isinstance(t, Mapping):
        raise FormatError(f"{path}: must be an object")
    _no_unknown_keys(path, t, _TURN_KEYS)
    side = t.get("side")
    if side not in SIDES:
        raise FormatError(f"{path}.side: expected {alts(SIDES)}, got {side!r}")
    speaker = _int(f"{path}.speaker", t.get("speaker"))
    if speaker not in SPEAKER_NUMBERS:
        raise FormatError(f"{path}.speaker: expected {alts(SPEAKER_NUMBERS)}, got {speaker}")
    kind = t.get("kind", "main")
    if kind not in KINDS:
        raise FormatError(f"{path}.kind: expected {alts(KINDS)}, got {kind!r}")
    if "minutes" in t and "seconds" in t:
        raise FormatError(f"{path}: give minutes or seconds, not both")
    seconds: int | None = None
    if "minutes" in t:
        seconds = 60 * _int(f"{path}.minutes", t["minutes"])
    elif "seconds" in t:
        seconds = _int(f"{path}.seconds", t["seconds"])
    if seconds is not None and not 0 < seconds <= MAX_TURN_SECONDS:
        raise FormatError(f"{path}: a turn lasts 1 to {MAX_TURN_SECONDS} seconds, got {seconds}")
    return Slot(side=cast(Side, side), speaker=speaker, kind=cast(Kind, kind), seconds=seconds)


def _no_unknown_keys(path: str, d: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(map(str, d.keys() - allowed))
    if unknown:
        raise FormatError(
            f"{path}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _int_list(path: str, value: object) -> list[int]:
    if not isinstance(value, list | tuple):
        raise FormatError(f"{path}: must be a list of integers")
    return [_int(f"{path}[{i}]", v) for i, v in enumerate(value)]


def _int(path: str, value: object) -> int:
    if not is_int(value):
        raise FormatError(f"{path}: must be an integer, got {value!r}")
    return cast(int, value)
