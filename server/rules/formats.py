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

This module is the public face and holds the presets; the model and
`generate_turns` live in ``format_model``, the JSON-shaped form in ``format_dicts``.
"""

from __future__ import annotations

from server.rules.format_dicts import format_from_dict, format_to_dict
from server.rules.format_model import (
    DEFAULT_TURN_SECONDS,
    DEFAULT_WARNINGS_MS,
    Format,
    FormatError,
    Kind,
    Side,
    Slot,
    Speaker,
    TurnSpec,
    generate_turns,
)

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
