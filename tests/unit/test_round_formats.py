"""Speaking-round formats: presets, turn generation, custom formats from dicts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings, strategies as st

from server.rules import formats
from server.rules.formats import (
    DEFAULT_WARNINGS_MS,
    JESSUP,
    MOOT_STANDARD,
    PRESETS,
    SEED_DEFAULT,
    Format,
    FormatError,
    Slot,
    Speaker,
    TurnSpec,
    format_from_dict,
    format_to_dict,
    generate_turns,
)

P1 = Speaker("p1", "petitioner", 1)
P2 = Speaker("p2", "petitioner", 2)
R1 = Speaker("r1", "respondent", 1)
R2 = Speaker("r2", "respondent", 2)
FOUR = [R2, P2, R1, P1]  # any order in, speaking order out

ALL_WARNINGS = (300_000, 120_000, 60_000, 30_000)
SHORT_WARNINGS = (120_000, 60_000, 30_000)


def plan(turns: list[TurnSpec]) -> list[tuple[int, str, str, int]]:
    return [(t.order, t.participant_id, t.kind, t.allowed_ms) for t in turns]


def test_exports() -> None:
    for name in formats.__all__:
        assert hasattr(formats, name)
    assert set(PRESETS) == {"seed_default", "moot_standard", "jessup"}
    assert PRESETS["seed_default"] is SEED_DEFAULT


# -- presets ----------------------------------------------------------------------


def test_seed_default_is_the_seed_order_at_300_seconds() -> None:
    turns = generate_turns(SEED_DEFAULT, FOUR)
    assert turns[0] == TurnSpec(1, "p1", "petitioner", 1, "main", 300_000, SHORT_WARNINGS)
    assert plan(turns) == [
        (1, "p1", "main", 300_000),
        (2, "r1", "main", 300_000),
        (3, "p2", "main", 300_000),
        (4, "r2", "main", 300_000),
    ]
    # A 300 s turn has no "5 minutes left" warning: thresholds >= the allowance drop.
    assert all(t.warnings_ms == SHORT_WARNINGS for t in turns)


def test_seed_default_takes_the_rounds_default_turn_seconds() -> None:
    turns = generate_turns(SEED_DEFAULT, FOUR, default_turn_seconds=90)
    assert {t.allowed_ms for t in turns} == {90_000}
    assert {t.warnings_ms for t in turns} == {(60_000, 30_000)}
    assert generate_turns(SEED_DEFAULT, FOUR, default_turn_seconds=30)[0].warnings_ms == ()


def test_moot_standard_reserves_rebuttal_from_p1() -> None:
    turns = generate_turns(MOOT_STANDARD, FOUR)
    assert plan(turns) == [
        (1, "p1", "main", 12 * 60_000),
        (2, "p2", "main", 15 * 60_000),
        (3, "r1", "main", 15 * 60_000),
        (4, "r2", "main", 15 * 60_000),
        (5, "p1", "rebuttal", 3 * 60_000),
    ]
    assert turns[0].warnings_ms == ALL_WARNINGS
    assert turns[4].warnings_ms == SHORT_WARNINGS
    # Explicit lengths: the round's default does not change them.
    assert generate_turns(MOOT_STANDARD, FOUR, default_turn_seconds=60) == turns


def test_jessup_team_time_is_45_minutes() -> None:
    turns = generate_turns(JESSUP, FOUR)
    assert plan(turns) == [
        (1, "p1", "main", 1_050_000),
        (2, "p2", "main", 1_350_000),
        (3, "r1", "main", 1_170_000),
        (4, "r2", "main", 1_350_000),
        (5, "p1", "rebuttal", 300_000),
        (6, "r1", "surrebuttal", 180_000),
    ]
    for side in ("petitioner", "respondent"):
        assert sum(t.allowed_ms for t in turns if t.side == side) == 45 * 60_000


@pytest.mark.parametrize("fmt", [pytest.param(f, id=name) for name, f in PRESETS.items()])
def test_presets_round_trip_and_are_json(fmt: Format) -> None:
    d = format_to_dict(fmt)
    assert format_from_dict(json.loads(json.dumps(d))) == fmt
    assert fmt.description
    turns = generate_turns(fmt, FOUR)
    for t in turns:
        assert all(type(v) is int for v in (t.order, t.speaker, t.allowed_ms, *t.warnings_ms))


# -- speakers ---------------------------------------------------------------------


def test_extra_speakers_are_ignored() -> None:
    one_each = Format("one_each", (Slot("petitioner", 1, seconds=60), Slot("respondent", 1)))
    assert plan(generate_turns(one_each, FOUR)) == [
        (1, "p1", "main", 60_000),
        (2, "r1", "main", 300_000),
    ]


def test_missing_speakers_are_all_named() -> None:
    with pytest.raises(FormatError) as info:
        generate_turns(SEED_DEFAULT, [P1, R1])
    assert str(info.value) == (
        "format 'seed_default' needs petitioner #2, respondent #2; "
        "speakers present: petitioner #1, respondent #1"
    )
    with pytest.raises(FormatError, match="speakers present: none"):
        generate_turns(SEED_DEFAULT, [])


def test_two_speakers_in_one_seat() -> None:
    with pytest.raises(FormatError, match="two speakers are petitioner #1: 'p1' and 'x'"):
        generate_turns(SEED_DEFAULT, [P1, Speaker("x", "petitioner", 1), P2, R1, R2])


def test_one_participant_in_two_seats() -> None:
    with pytest.raises(FormatError, match="'p1' is both petitioner #1 and respondent #2"):
        generate_turns(SEED_DEFAULT, [P1, P2, R1, Speaker("p1", "respondent", 2)])


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("", "petitioner", 1), id="empty-id"),
        pytest.param((7, "petitioner", 1), id="int-id"),
        pytest.param(("a", "plaintiff", 1), id="bad-side"),
        pytest.param(("a", "petitioner", 3), id="speaker-3"),
        pytest.param(("a", "petitioner", True), id="bool-speaker"),
    ],
)
def test_speaker_validation(args: tuple[Any, Any, Any]) -> None:
    with pytest.raises(FormatError):
        Speaker(*args)


# -- formats ------------------------------------------------------------------------


def test_labels() -> None:
    assert P1.label == "petitioner #1"
    assert Slot("respondent", 2, "surrebuttal").label == "respondent #2 (surrebuttal)"


def test_format_normalises_lists_and_warnings() -> None:
    fmt = Format(
        "x",
        [Slot("petitioner", 1)],  # type: ignore[arg-type]
        warnings_ms=(30_000, 60_000, 30_000),
    )
    assert fmt.slots == (Slot("petitioner", 1),)
    assert fmt.warnings_ms == (60_000, 30_000)
    assert hash(fmt) == hash(Format("x", (Slot("petitioner", 1),), warnings_ms=(60_000, 30_000)))


def test_rebuttal_with_its_own_time() -> None:
    fmt = Format(
        "own",
        (Slot("petitioner", 1, seconds=600), Slot("petitioner", 2, "rebuttal", seconds=120)),
        warnings_ms=(),
    )
    assert plan(generate_turns(fmt, FOUR)) == [
        (1, "p1", "main", 600_000),
        (2, "p2", "rebuttal", 120_000),
    ]
    assert generate_turns(fmt, FOUR)[0].warnings_ms == ()


def test_reserve_must_leave_the_source_some_time() -> None:
    with pytest.raises(FormatError, match=r"petitioner #1 has 3:00, and 3:00 of it is reserved"):
        Format(
            "x",
            (Slot("petitioner", 1, seconds=180), Slot("petitioner", 1, "rebuttal", seconds=180)),
            rebuttal_reserved_from=1,
        )


def test_reserve_checked_again_with_the_rounds_default() -> None:
    fmt = Format(
        "defaulted",
        (Slot("petitioner", 1), Slot("petitioner", 1, "rebuttal", seconds=120)),
        rebuttal_reserved_from=1,
    )
    assert plan(generate_turns(fmt, FOUR)) == [
        (1, "p1", "main", 180_000),
        (2, "p1", "rebuttal", 120_000),
    ]
    with pytest.raises(FormatError, match="reserve must be shorter"):
        generate_turns(fmt, FOUR, default_turn_seconds=120)


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, 24 * 3600 + 1])
def test_default_turn_seconds_validated(bad: Any) -> None:
    with pytest.raises(FormatError, match="default_turn_seconds"):
        generate_turns(SEED_DEFAULT, FOUR, default_turn_seconds=bad)
    with pytest.raises(FormatError, match="default_turn_seconds"):
        Format("x", (Slot("petitioner", 1),), default_turn_seconds=bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"name": ""}, "non-empty name", id="empty-name"),
        pytest.param({"name": "   "}, "non-empty name", id="blank-name"),
        pytest.param({"name": 5}, "non-empty name", id="int-name"),
        pytest.param({"name": "x" * 65}, "longer than 64", id="long-name"),
        pytest.param({"description": None}, "description", id="description"),
        pytest.param({"slots": ()}, "no turns", id="no-slots"),
        pytest.param({"slots": (Slot("petitioner", 1),) * 33}, "more than 32", id="too-many"),
        pytest.param({"slots": ({"side": "petitioner"},)}, "Slot objects", id="not-slot"),
        pytest.param({"warnings_ms": (0,)}, "positive", id="zero-warning"),
        pytest.param({"warnings_ms": (1.5,)}, "positive", id="float-warning"),
        pytest.param({"rebuttal_reserved_from": 3}, "speaker number", id="reserve-3"),
        pytest.param({"rebuttal_reserved_from": True}, "speaker number", id="reserve-bool"),
        pytest.param({"rebuttal_reserved_from": 1}, "no rebuttal", id="reserve-no-rebuttal"),
        pytest.param(
            {
                "slots": (Slot("petitioner", 2), Slot("petitioner", 1, "rebuttal", seconds=60)),
                "rebuttal_reserved_from": 1,
            },
            r"petitioner #1, who needs exactly one main turn \(has 0\)",
            id="no-source",
        ),
        pytest.param(
            {
                "slots": (
                    Slot("respondent", 1),
                    Slot("respondent", 1),
                    Slot("respondent", 2, "surrebuttal", seconds=60),
                ),
                "rebuttal_reserved_from": 1,
            },
            r"respondent #1, who needs exactly one main turn \(has 2\)",
            id="two-sources",
        ),
    ],
)
def test_format_validation(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"name": "x", "slots": (Slot("petitioner", 1),)}
    with pytest.raises(FormatError, match=message):
        Format(**(base | kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"side": "defendant", "speaker": 1}, id="side"),
        pytest.param({"side": "petitioner", "speaker": 0}, id="speaker-0"),
        pytest.param({"side": "petitioner", "speaker": 1, "kind": "reply"}, id="kind"),
        pytest.param({"side": "petitioner", "speaker": 1, "seconds": 0}, id="zero-seconds"),
        pytest.param({"side": "petitioner", "speaker": 1, "seconds": 60.0}, id="float-seconds"),
    ],
)
def test_slot_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(FormatError):
        Slot(**kwargs)


def test_format_error_is_a_value_error() -> None:
    assert issubclass(FormatError, ValueError)


# -- custom formats from dicts ----------------------------------------------------------


def test_format_from_dict_full() -> None:
    fmt = format_from_dict(
        {
            "name": "city_cup",
            "description": "Our cup",
            "turns": [
                {"side": "petitioner", "speaker": 1, "minutes": 15},
                {"side": "petitioner", "speaker": 2, "minutes": 15},
                {"side": "respondent", "speaker": 1, "seconds": 900},
                {"side": "respondent", "speaker": 2, "kind": "main", "minutes": 15},
                {"side": "petitioner", "speaker": 1, "kind": "rebuttal", "minutes": 3},
            ],
            "rebuttal_reserved_from": 1,
            "warnings_seconds": [300, 120, 60, 30],
        }
    )
    assert fmt.name == "city_cup" and fmt.description == "Our cup"
    assert generate_turns(fmt, FOUR) == generate_turns(MOOT_STANDARD, FOUR)


def test_format_from_dict_minimal_uses_defaults() -> None:
    fmt = format_from_dict(
        {"name": "quick", "turns": [{"side": "petitioner", "speaker": 1}], "warnings_ms": [10_000]}
    )
    assert fmt == Format("quick", (Slot("petitioner", 1),), warnings_ms=(10_000,))
    assert fmt.default_turn_seconds == 300 and fmt.rebuttal_reserved_from is None
    assert (
        format_from_dict({"name": "q", "turns": [{"side": "respondent", "speaker": 2}]}).warnings_ms
        == DEFAULT_WARNINGS_MS
    )


TURN = {"side": "petitioner", "speaker": 1}


@pytest.mark.parametrize(
    ("d", "message"),
    [
        pytest.param([], "must be an object", id="not-object"),
        pytest.param({"name": "x", "turns": [TURN], "colour": 1}, "unknown field", id="unknown"),
        pytest.param({"turns": [TURN]}, r"^name: required", id="no-name"),
        pytest.param({"name": "x"}, r"^turns: required", id="no-turns"),
        pytest.param({"name": "x", "turns": "P1"}, r"^turns: required", id="turns-str"),
        pytest.param({"name": "x", "turns": []}, "no turns", id="turns-empty"),
        pytest.param({"name": "x", "turns": [TURN] * 33}, "at most 32", id="turns-many"),
        pytest.param({"name": "x", "turns": ["P1"]}, r"^turns\[0\]: must be an object", id="turn"),
        pytest.param(
            {"name": "x", "turns": [TURN, {"side": "plaintiff", "speaker": 1}]},
            r"^turns\[1\]\.side: expected 'petitioner' or 'respondent', got 'plaintiff'",
            id="side",
        ),
        pytest.param(
            {"name": "x", "turns": [{"side": "petitioner"}]},
            r"^turns\[0\]\.speaker: must be an integer, got None",
            id="no-speaker",
        ),
        pytest.param(
            {"name": "x", "turns": [{"side": "petitioner", "speaker": 3}]},
            r"^turns\[0\]\.speaker: expected 1 or 2, got 3",
            id="speaker-3",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN | {"kind": "reply"}]}, r"^turns\[0\]\.kind", id="kind"
        ),
        pytest.param(
            {"name": "x", "turns": [TURN | {"minutes": 1, "seconds": 60}]},
            "minutes or seconds, not both",
            id="both-lengths",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN | {"minutes": 1.5}]},
            r"^turns\[0\]\.minutes: must be an integer",
            id="float-minutes",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN | {"seconds": True}]},
            r"^turns\[0\]\.seconds: must be an integer",
            id="bool-seconds",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN | {"minutes": 0}]}, "1 to 86400 seconds", id="zero"
        ),
        pytest.param(
            {"name": "x", "turns": [TURN | {"minutes": 1441}]}, "1 to 86400 seconds", id="long"
        ),
        pytest.param(
            {"name": "x", "turns": [TURN | {"pause": 1}]}, r"^turns\[0\]: unknown", id="turn-key"
        ),
        pytest.param(
            {"name": "x", "turns": [TURN], "warnings_ms": [1], "warnings_seconds": [1]},
            "not both",
            id="both-warnings",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN], "warnings_seconds": 30},
            "^warnings_seconds: must be a list",
            id="warnings-not-list",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN], "warnings_ms": [30_000, 0.5]},
            r"^warnings_ms\[1\]: must be an integer",
            id="warnings-float",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN], "rebuttal_reserved_from": "1"},
            "^rebuttal_reserved_from: must be an integer",
            id="reserve-str",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN], "default_turn_seconds": 300.0},
            "^default_turn_seconds: must be an integer",
            id="default-float",
        ),
        pytest.param(
            {"name": "x", "turns": [TURN], "description": ["a"]},
            "^description: must be a string",
            id="description",
        ),
    ],
)
def test_format_from_dict_rejects(d: Any, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        format_from_dict(d)


# -- properties ---------------------------------------------------------------------------

_slots = st.builds(
    Slot,
    side=st.sampled_from(["petitioner", "respondent"]),
    speaker=st.sampled_from([1, 2]),
    kind=st.sampled_from(["main", "main", "rebuttal", "surrebuttal"]),
    seconds=st.one_of(st.none(), st.integers(1, 3600)),
)


@st.composite
def _formats(draw: st.DrawFn) -> Format:
    try:
        return Format(
            name=draw(st.text(min_size=1, max_size=64).filter(str.strip)),
            slots=tuple(draw(st.lists(_slots, min_size=1, max_size=8))),
            rebuttal_reserved_from=draw(st.sampled_from([None, None, 1, 2])),
            warnings_ms=tuple(draw(st.lists(st.integers(1, 3_600_000), max_size=5))),
            default_turn_seconds=draw(st.integers(1, 3600)),
            description=draw(st.text(max_size=20)),
        )
    except FormatError:
        assume(False)
        raise  # unreachable: assume(False) rejects the example


@settings(max_examples=300, deadline=None)
@given(_formats())
def test_any_valid_format_round_trips_and_generates(fmt: Format) -> None:
    assert format_from_dict(json.loads(json.dumps(format_to_dict(fmt)))) == fmt
    turns = generate_turns(fmt, FOUR)
    assert [t.order for t in turns] == list(range(1, len(fmt.slots) + 1))
    for side in ("petitioner", "respondent"):
        # A reserve moves time from a main turn to a rebuttal: the side's total is
        # then what its main turns state, and nothing is created or lost.
        total = sum(
            1000 * (s.seconds or fmt.default_turn_seconds)
            for s in fmt.slots
            if s.side == side and (s.kind == "main" or fmt.rebuttal_reserved_from is None)
        )
        assert sum(t.allowed_ms for t in turns if t.side == side) == total
    for t, slot in zip(turns, fmt.slots, strict=True):
        assert (t.side, t.speaker, t.kind) == (slot.side, slot.speaker, slot.kind)
        assert t.allowed_ms > 0
        assert all(0 < w < t.allowed_ms for w in t.warnings_ms)
        assert list(t.warnings_ms) == sorted(t.warnings_ms, reverse=True)
