"""Speaking-round formats: who speaks in which order, for how long, with which warnings.

A `Format` is a list of slots (side, speaker number, kind, time). `generate_turns`
binds the slots to a session's speakers and returns the round's `TurnSpec`s,
with every time in integer milliseconds. Pure: no I/O, no clock.

Rebuttal time is usually *reserved* out of an opening speaker's allowance: with
``rebuttal_reserved_from=1``, every rebuttal or surrebuttal slot takes its time
from the main slot of speaker #1 of the same side. In `MOOT_STANDARD`,
petitioner #1 has 15:00 of which 3:00 are reserved, so P1 speaks 12:00 and the
rebuttal runs 3:00.

Presets (`PRESETS`):

==============  ===============================================================
seed_default    P1, R1, P2, R2; each ``default_turn_seconds`` (300 s) (the seed)
moot_standard   P1, P2, R1, R2 15:00 each, petitioner rebuttal 3:00 out of P1's
jessup          45:00 a team: A1, A2, R1, R2 22:30 each, applicant rebuttal 5:00
                out of A1's, respondent surrebuttal 3:00 out of R1's
==============  ===============================================================

Tournaments define their own with `format_from_dict` (JSON-shaped, validated).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast, get_args

__all__ = [
    "DEFAULT_TURN_SECONDS",
    "DEFAULT_WARNINGS_MS",
    "JESSUP",
    "MOOT_STANDARD",
    "PRESETS",
    "SEED_DEFAULT",
    "Format",
    "FormatError",
    "Kind",
    "Side",
    "Slot",
    "Speaker",
    "TurnSpec",
    "format_from_dict",
    "format_to_dict",
    "generate_turns",
]

Side = Literal["petitioner", "respondent"]
Kind = Literal["main", "rebuttal", "surrebuttal"]

SIDES: tuple[Side, ...] = get_args(Side)
KINDS: tuple[Kind, ...] = get_args(Kind)
SPEAKER_NUMBERS = (1, 2)
DEFAULT_TURN_SECONDS = 300
DEFAULT_WARNINGS_MS: tuple[int, ...] = (300_000, 120_000, 60_000, 30_000)
MAX_TURN_SECONDS = 24 * 3600
MAX_SLOTS = 32
MAX_NAME_LENGTH = 64


class FormatError(ValueError):
    """A format is malformed, or cannot be applied to the given speakers."""


@dataclasses.dataclass(frozen=True, slots=True)
class Speaker:
    """A session participant who speaks for one side, as its speaker #1 or #2."""

    participant_id: str
    side: Side
    speaker: int

    def __post_init__(self) -> None:
        if not isinstance(self.participant_id, str) or not self.participant_id:
            raise FormatError(
                f"participant_id must be a non-empty string, got {self.participant_id!r}"
            )
        _check_side_speaker("speaker", self.side, self.speaker)

    @property
    def label(self) -> str:
        return _label(self.side, self.speaker)


@dataclasses.dataclass(frozen=True, slots=True)
class Slot:
    """One speech in a format.

    Attributes:
        side: Which side speaks.
        speaker: That side's speaker number (1 or 2).
        kind: ``main``, ``rebuttal`` or ``surrebuttal``.
        seconds: The speech's allowance; ``None`` means the round's default
            turn length. For the main slot a reserve is taken from, this is the
            allowance *before* the reserve comes out.
    """

    side: Side
    speaker: int
    kind: Kind = "main"
    seconds: int | None = None

    def __post_init__(self) -> None:
        _check_side_speaker("slot", self.side, self.speaker)
        if self.kind not in KINDS:
            raise FormatError(f"slot kind must be one of {_alts(KINDS)}, got {self.kind!r}")
        if self.seconds is not None:
            _check_seconds("slot seconds", self.seconds)

    @property
    def label(self) -> str:
        return _label(self.side, self.speaker, self.kind)


@dataclasses.dataclass(frozen=True, slots=True)
class TurnSpec:
    """One generated turn, ready to become a row of the round's turns."""

    order: int
    participant_id: str
    side: Side
    speaker: int
    kind: Kind
    allowed_ms: int
    warnings_ms: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Format:
    """A round format: slots in speaking order, reserves and warnings.

    Construction validates the format against its own ``default_turn_seconds``,
    so a preset or a parsed custom format is known to be usable.

    Attributes:
        name: Short identifier, logged with the round.
        slots: The speeches in order.
        rebuttal_reserved_from: If set, each rebuttal/surrebuttal slot's time
            comes out of the main slot of this speaker number on its side.
        warnings_ms: Remaining-time thresholds that raise a warning; a turn
            keeps only those below its allowance. Stored largest first.
        default_turn_seconds: The length of slots without ``seconds``.
        description: Free text for people choosing a format.
    """

    name: str
    slots: tuple[Slot, ...]
    rebuttal_reserved_from: int | None = None
    warnings_ms: tuple[int, ...] = DEFAULT_WARNINGS_MS
    default_turn_seconds: int = DEFAULT_TURN_SECONDS
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise FormatError("a format needs a non-empty name")
        if len(self.name) > MAX_NAME_LENGTH:
            raise FormatError(f"format name is longer than {MAX_NAME_LENGTH} characters")
        if not isinstance(self.description, str):
            raise FormatError("format description must be a string")
        # Normalise to tuples so a format built from lists stays hashable and frozen.
        object.__setattr__(self, "slots", tuple(self.slots))
        if not self.slots:
            raise FormatError(f"format {self.name!r} has no turns")
        if len(self.slots) > MAX_SLOTS:
            raise FormatError(f"format {self.name!r} has more than {MAX_SLOTS} turns")
        for slot in self.slots:
            if not isinstance(slot, Slot):
                raise FormatError(f"format {self.name!r}: slots must be Slot objects")
        for w in self.warnings_ms:
            if not _is_int(w) or w <= 0:
                raise FormatError(f"format {self.name!r}: warnings must be positive ms, got {w!r}")
        object.__setattr__(self, "warnings_ms", tuple(sorted(set(self.warnings_ms), reverse=True)))
        _check_seconds(f"format {self.name!r}: default_turn_seconds", self.default_turn_seconds)
        self._check_reserve_source()
        _allowances_ms(self, self.default_turn_seconds)

    def _check_reserve_source(self) -> None:
        n = self.rebuttal_reserved_from
        if n is None:
            return
        if not _is_int(n) or n not in SPEAKER_NUMBERS:
            raise FormatError(
                f"format {self.name!r}: rebuttal_reserved_from must be a speaker number "
                f"({_alts(SPEAKER_NUMBERS)}), got {n!r}"
            )
        reserving = sorted({s.side for s in self.slots if s.kind != "main"})
        if not reserving:
            raise FormatError(
                f"format {self.name!r}: rebuttal_reserved_from is set but there is no "
                "rebuttal or surrebuttal turn"
            )
        for side in reserving:
            sources = [s for s in self.slots if (s.side, s.speaker, s.kind) == (side, n, "main")]
            if len(sources) != 1:
                raise FormatError(
                    f"format {self.name!r}: {side} rebuttal time is reserved from "
                    f"{_label(side, n)}, who needs exactly one main turn (has {len(sources)})"
                )


def generate_turns(
    fmt: Format, speakers: Sequence[Speaker], *, default_turn_seconds: int | None = None
) -> list[TurnSpec]:
    """Bind a format's slots to speakers, in speaking order.

    Speakers the format does not use are left out.

    Args:
        fmt: The format.
        speakers: The session's speakers; at most one per side and number.
        default_turn_seconds: Overrides ``fmt.default_turn_seconds`` for slots
            without their own length (the seed's ``default_turn_seconds``).

    Returns:
        One `TurnSpec` per slot, ``order`` counting from 1.

    Raises:
        FormatError: If a needed speaker is missing, speakers collide, or the
            allowances are impossible (a reserve not shorter than its source).
    """
    if default_turn_seconds is None:
        default_turn_seconds = fmt.default_turn_seconds
    _check_seconds("default_turn_seconds", default_turn_seconds)
    by_seat: dict[tuple[Side, int], Speaker] = {}
    seat_of: dict[str, Speaker] = {}
    for sp in speakers:
        if (sp.side, sp.speaker) in by_seat:
            other = by_seat[sp.side, sp.speaker].participant_id
            raise FormatError(
                f"two speakers are {sp.label}: {other!r} and {sp.participant_id!r}; "
                "number each side's speakers 1 and 2"
            )
        if sp.participant_id in seat_of:
            raise FormatError(
                f"participant {sp.participant_id!r} is both "
                f"{seat_of[sp.participant_id].label} and {sp.label}"
            )
        by_seat[sp.side, sp.speaker] = sp
        seat_of[sp.participant_id] = sp
    missing = sorted({(s.side, s.speaker) for s in fmt.slots} - by_seat.keys())
    if missing:
        present = ", ".join(sp.label for sp in speakers) or "none"
        raise FormatError(
            f"format {fmt.name!r} needs {', '.join(_label(*seat) for seat in missing)}; "
            f"speakers present: {present}"
        )
    allowances = _allowances_ms(fmt, default_turn_seconds)
    return [
        TurnSpec(
            order=order,
            participant_id=by_seat[slot.side, slot.speaker].participant_id,
            side=slot.side,
            speaker=slot.speaker,
            kind=slot.kind,
            allowed_ms=allowed,
            warnings_ms=tuple(w for w in fmt.warnings_ms if w < allowed),
        )
        for order, (slot, allowed) in enumerate(zip(fmt.slots, allowances, strict=True), start=1)
    ]


def _allowances_ms(fmt: Format, default_turn_seconds: int) -> list[int]:
    """Each slot's allowance in ms, after rebuttal reserves come out of their source."""
    allowed = [(s.seconds or default_turn_seconds) * 1000 for s in fmt.slots]
    n = fmt.rebuttal_reserved_from
    if n is None:
        return allowed
    for side in SIDES:
        reserved = sum(a for s, a in zip(fmt.slots, allowed, strict=True) if _reserves(s, side))
        if not reserved:
            continue
        src = next(
            i for i, s in enumerate(fmt.slots) if (s.side, s.speaker, s.kind) == (side, n, "main")
        )
        if reserved >= allowed[src]:
            raise FormatError(
                f"format {fmt.name!r}: {_label(side, n)} has {_clock(allowed[src])}, and "
                f"{_clock(reserved)} of it is reserved for rebuttal; the reserve must be shorter"
            )
        allowed[src] -= reserved
    return allowed


def _reserves(slot: Slot, side: Side) -> bool:
    return slot.side == side and slot.kind != "main"


# -- dicts (JSON-shaped custom formats) --------------------------------------

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
        raise FormatError(f"{path}.side: expected {_alts(SIDES)}, got {side!r}")
    speaker = _int(f"{path}.speaker", t.get("speaker"))
    if speaker not in SPEAKER_NUMBERS:
        raise FormatError(f"{path}.speaker: expected {_alts(SPEAKER_NUMBERS)}, got {speaker}")
    kind = t.get("kind", "main")
    if kind not in KINDS:
        raise FormatError(f"{path}.kind: expected {_alts(KINDS)}, got {kind!r}")
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
    if not _is_int(value):
        raise FormatError(f"{path}: must be an integer, got {value!r}")
    return cast(int, value)


# -- small helpers -------------------------------------------------------------


def _is_int(value: object) -> bool:
    # JSON true is a Python bool, an int subclass; and floats are banned from the log.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_side_speaker(what: str, side: object, speaker: object) -> None:
    if side not in SIDES:
        raise FormatError(f"{what} side must be {_alts(SIDES)}, got {side!r}")
    if not _is_int(speaker) or speaker not in SPEAKER_NUMBERS:
        raise FormatError(f"{what} number must be {_alts(SPEAKER_NUMBERS)}, got {speaker!r}")


def _check_seconds(what: str, seconds: object) -> None:
    if not _is_int(seconds) or not 0 < cast(int, seconds) <= MAX_TURN_SECONDS:
        raise FormatError(
            f"{what} must be whole seconds from 1 to {MAX_TURN_SECONDS}, got {seconds!r}"
        )


def _label(side: str, speaker: int, kind: str = "main") -> str:
    base = f"{side} #{speaker}"
    return base if kind == "main" else f"{base} ({kind})"


def _alts(values: Sequence[object]) -> str:
    return " or ".join(repr(v) for v in values)


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


# -- presets -------------------------------------------------------------------

SEED_DEFAULT = Format(
    name="seed_default",
    description=(
        "The seed's order: petitioner #1, respondent #1, petitioner #2, respondent #2; "
        "each turn lasts the round's default_turn_seconds (300 s unless given)."
    ),
    slots=(
        Slot("petitioner", 1),
        Slot("respondent", 1),
        Slot("petitioner", 2),
        Slot("respondent", 2),
    ),
)

MOOT_STANDARD = Format(
    name="moot_standard",
    description=(
        "The common moot order: petitioner #1, petitioner #2, respondent #1, respondent #2, "
        "then petitioner rebuttal. 15 minutes a speaker; the 3-minute rebuttal comes out of "
        "petitioner #1's 15, who speaks 12."
    ),
    slots=(
        Slot("petitioner", 1, seconds=15 * 60),
        Slot("petitioner", 2, seconds=15 * 60),
        Slot("respondent", 1, seconds=15 * 60),
        Slot("respondent", 2, seconds=15 * 60),
        Slot("petitioner", 1, "rebuttal", seconds=3 * 60),
    ),
    rebuttal_reserved_from=1,
)

JESSUP = Format(
    name="jessup",
    description=(
        "Jessup-style: 45 minutes a team, split 22:30 per speaker. Applicant (petitioner) "
        "#1, #2, respondent #1, #2, applicant rebuttal 5:00 out of #1's time, respondent "
        "surrebuttal 3:00 out of respondent #1's. The split is a common one; define your "
        "own with format_from_dict."
    ),
    slots=(
        Slot("petitioner", 1, seconds=1350),
        Slot("petitioner", 2, seconds=1350),
        Slot("respondent", 1, seconds=1350),
        Slot("respondent", 2, seconds=1350),
        Slot("petitioner", 1, "rebuttal", seconds=5 * 60),
        Slot("respondent", 1, "surrebuttal", seconds=3 * 60),
    ),
    rebuttal_reserved_from=1,
)

PRESETS: dict[str, Format] = {f.name: f for f in (SEED_DEFAULT, MOOT_STANDARD, JESSUP)}
