"""The formats' model: speakers, slots, formats and binding a format to a session's speakers.

``server/rules/formats.py`` is the public face (its docstring explains
reserves and lists the presets); ``format_dicts`` reads and writes the
JSON-shaped form. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal, cast, get_args

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
            raise FormatError(f"slot kind must be one of {alts(KINDS)}, got {self.kind!r}")
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
            if not is_int(w) or w <= 0:
                raise FormatError(f"format {self.name!r}: warnings must be positive ms, got {w!r}")
        object.__setattr__(self, "warnings_ms", tuple(sorted(set(self.warnings_ms), reverse=True)))
        _check_seconds(f"format {self.name!r}: default_turn_seconds", self.default_turn_seconds)
        self._check_reserve_source()
        _allowances_ms(self, self.default_turn_seconds)

    def _check_reserve_source(self) -> None:
        n = self.rebuttal_reserved_from
        if n is None:
            return
        if not is_int(n) or n not in SPEAKER_NUMBERS:
            raise FormatError(
                f"format {self.name!r}: rebuttal_reserved_from must be a speaker number "
                f"({alts(SPEAKER_NUMBERS)}), got {n!r}"
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


# -- small helpers -------------------------------------------------------------


def is_int(value: object) -> bool:
    # JSON true is a Python bool, an int subclass; and floats are banned from the log.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_side_speaker(what: str, side: object, speaker: object) -> None:
    if side not in SIDES:
        raise FormatError(f"{what} side must be {alts(SIDES)}, got {side!r}")
    if not is_int(speaker) or speaker not in SPEAKER_NUMBERS:
        raise FormatError(f"{what} number must be {alts(SPEAKER_NUMBERS)}, got {speaker!r}")


def _check_seconds(what: str, seconds: object) -> None:
    if not is_int(seconds) or not 0 < cast(int, seconds) <= MAX_TURN_SECONDS:
        raise FormatError(
            f"{what} must be whole seconds from 1 to {MAX_TURN_SECONDS}, got {seconds!r}"
        )


def _label(side: str, speaker: int, kind: str = "main") -> str:
    base = f"{side} #{speaker}"
    return base if kind == "main" else f"{base} ({kind})"


def alts(values: Sequence[object]) -> str:
    return " or ".join(repr(v) for v in values)


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"
