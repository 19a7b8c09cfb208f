"""The bundle verifier against a mutation corpus, and across a key rotation.

Bundles are built here from first principles (chain v1 entries, an RFC 6962
tree, Ed25519 notes), as the server builds them; every mutant must be named,
in both bundle formats (a mutant is made on format 1's objects, then written
as format 2's rows, as an export of the tampered log would be), and the
format 2 mutants of the details text itself (``V2_MUTANTS``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from clients import _bundle, _bundle_ranges
from clients._bundle import keys_from_document, load_bundle, verify_bundle
from clients._bundle_lines import RowLines, split_rows
from clients._bundle_rows import rows_v1
from clients._errors import UnreadableExport
from clients.cli import main as client_main
from protocol import (
    GENESIS_HASH,
    canonical_details,
    canonical_json,
    entry_hash,
    entry_hash_canonical,
    first_noncanonical,
    is_canonical,
)
from protocol.bundle import bundle_head, bundle_row, bundle_tail
from protocol.checkpoint import Checkpoint, public_key_bytes, sign, verifier_key
from protocol.merkle import MemoryTree, leaf_hash
from server.common.signing import Keyring, load_keyring, rotate

SID = "9f0c5a1e-3d4b-4c2a-8e7f-0123456789ab"
Signer = Callable[[Checkpoint], Any]


def _ts(i: int) -> str:
    return f"2026-12-02T14:{i // 60:02d}:{i % 60:02d}.000000+00:00"


def _chain(entries: list[dict[str, Any]], start: int = 0) -> None:
    """(Re)compute chain v1 from ``start``: what a forger holding the database does."""
    prev = GENESIS_HASH if start == 0 else entries[start - 1]["hash"]
    for i in range(start, len(entries)):
        e = entries[i]
        e["sequence_number"] = i + 1
        e["previous_hash"] = prev
        e["hash"] = entry_hash(
            SID,
            i + 1,
            e["timestamp"],
            e["event_type"],
            e["actor_id"],
            e["details"],
            prev,
        )
        prev = e["hash"]


TYPES = ["SESSION_CREATED", "SESSION_STARTED", "TURN_STARTED", "TURN_SUBMITTED"]


def make_entries(n: int = 20) -> list[dict[str, Any]]:
    entries = [
        {
            "session_id": SID,
            "timestamp": _ts(i),
            "event_type": TYPES[i] if i < 2 else TYPES[2 + i % 2],
            "actor_id": None if i < 2 else str(i % 4),
            "details": {"n": i, "text": f"speech {i}"},
        }
        for i in range(n - 1)
    ]
    entries.append(
        {
            "session_id": SID,
            "timestamp": _ts(n),
            "event_type": "SESSION_COMPLETED",
            "actor_id": "judge",
            "details": {},
        }
    )
    _chain(entries)
    return entries


def checkpoints_for(
    entries: list[dict[str, Any]], sizes: list[int], signer: Keyring | tuple[Ed25519PrivateKey, str]
) -> list[dict[str, Any]]:
    tree = MemoryTree()
    for e in entries:
        tree.append(leaf_hash(e["hash"]))
    out = []
    for size in sizes:
        cp = Checkpoint(SID, size, tree.root(size), entries[size - 1]["hash"], _ts(size))
        signed = signer.sign(cp) if isinstance(signer, Keyring) else sign(cp, *signer)
        out.append({**signed.as_dict(), "reason": "turn"})
    return out


SIZES = [4, 8, 12, 16, 20]


@pytest.fixture
def ring(tmp_path: Path) -> Keyring:
    return load_keyring({"COURTROOM_DATA_DIR": str(tmp_path / "keys")})


@pytest.fixture
def bundle(ring: Keyring) -> dict[str, Any]:
    entries = make_entries()
    return {
        "format": "courtroom-bundle/1",
        "session_id": SID,
        "status": "completed",
        "entries": entries,
        "checkpoints": checkpoints_for(entries, SIZES, ring),
        "keys": [k.as_dict() for k in ring.keys],
    }


def to_v2(b: dict[str, Any]) -> dict[str, Any]:
    """The same bundle in format 2: each entry as the row of its eight hashed fields."""
    rows = rows_v1(b["entries"])
    assert rows is not None
    return {**b, "format": "courtroom-bundle/2", "entries": [list(r) for r in rows]}


FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "v1": lambda b: b,
    "v2": to_v2,
}


def trusted(ring: Keyring) -> dict[str, bytes]:
    return keys_from_document(ring.document())


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_the_encoder_of_many_texts_at_once_is_the_standard_librarys(details: Any) -> None:
    """``first_noncanonical`` encodes a whole list of details in one call."""
    many = [{"d": details}, {"e": [details]}]
    assert canonical_json(many) == json.dumps(many, sort_keys=True)


_DETAILS = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
)
# Texts that each hash fine but are not canonical details, some made to look
# canonical once joined with their neighbours (what the all-at-once check must see through).
NOT_CANONICAL = [
    '{"a": "}',
    '{"}',
    "{}, {}",
    '{"a": [{}',
    "{}]}",
    " {}",
    "{} ",
    '{"b": 1, "a": 2}',
    '{"a":1}',
    '{"a": 1.50}',
    '{"a": -0}',
    '{"a": "\\u00E9"}',
    '{"a": "é"}',
    "[]",
    "1",
    "",
    "{",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_DETAILS, max_size=6),
    st.lists(st.sampled_from(NOT_CANONICAL), max_size=3),
    st.randoms(),
)
def test_the_canonical_check_finds_the_first_text_that_is_not(
    objects: list[dict[str, Any]], bad: list[str], rnd: Any
) -> None:
    texts = [canonical_details(d) for d in objects]
    assert all(is_canonical(t) for t in texts)
    assert first_noncanonical(texts) is None
    mixed: list[Any] = texts + bad
    rnd.shuffle(mixed)
    expected = next((i for i, t in enumerate(mixed) if t in bad), None)
    assert first_noncanonical(mixed) == expected


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_honest_bundle_verifies(bundle: dict[str, Any], ring: Keyring, fmt: str) -> None:
    bundle = FORMATS[fmt](bundle)
    report = verify_bundle(bundle, trusted(ring))
    assert report.valid, report.failures
    assert (report.entries, report.checkpoints, report.signed_size) == (20, 5, 20)
    own = verify_bundle(bundle)  # with the bundle's own keys: valid, and says so
    assert own.valid and any("bundle itself" in n for n in own.notes)


def _flip(b: dict[str, Any]) -> None:
    e = b["entries"][6]
    e["details"]["text"] = chr(ord(e["details"]["text"][0]) ^ 1) + e["details"]["text"][1:]


def _flip_hash(b: dict[str, Any]) -> None:
    h = b["entries"][9]["hash"]
    b["entries"][9]["hash"] = h[:10] + ("0" if h[10] != "0" else "1") + h[11:]


def _delete(b: dict[str, Any]) -> None:
    del b["entries"][5]


def _swap(b: dict[str, Any]) -> None:
    e = b["entries"]
    e[7], e[8] = e[8], e[7]


def _insert(b: dict[str, Any]) -> None:
    b["entries"].insert(3, copy.deepcopy(b["entries"][2]))


def _truncate(b: dict[str, Any]) -> None:
    del b["entries"][-4:]


def _truncate_and_drop_checkpoints(b: dict[str, Any]) -> None:
    del b["entries"][-4:]
    b["checkpoints"] = [c for c in b["checkpoints"] if c["tree_size"] <= 16]


def _rechain(b: dict[str, Any]) -> None:
    b["entries"][10]["details"]["text"] = "what was never said"
    _chain(b["entries"], 10)


def _rechain_shorter(b: dict[str, Any]) -> None:
    del b["entries"][10]
    _chain(b["entries"], 10)


def _other_key(b: dict[str, Any]) -> None:
    mallory = Ed25519PrivateKey.generate()
    forged = checkpoints_for(b["entries"], [20], (mallory, "courtroom"))[0]
    b["checkpoints"][-1] = forged
    # The forger lists the key too: only a trusted key list tells it apart.
    public = public_key_bytes(mallory.public_key())
    b["keys"].append({"verifier_key": verifier_key("courtroom", public)})


def _replay_older(b: dict[str, Any]) -> None:
    b["checkpoints"][-1] = copy.deepcopy(b["checkpoints"][1])


def _reorder_checkpoints(b: dict[str, Any]) -> None:
    c = b["checkpoints"]
    c[1], c[2] = c[2], c[1]


def _edit_checkpoint_field(b: dict[str, Any]) -> None:
    b["checkpoints"][2]["tree_size"] = 13


def _edit_signed_note(b: dict[str, Any]) -> None:
    c = b["checkpoints"][2]
    c["note"] = c["note"].replace(f"\n{c['tree_size']}\n", f"\n{c['tree_size'] + 1}\n")
    c["tree_size"] += 1


def _another_session(b: dict[str, Any]) -> None:
    b["checkpoints"][0]["note"] = b["checkpoints"][0]["note"].replace(SID, SID[:-1] + "c")
    b["checkpoints"][0]["session_id"] = SID[:-1] + "c"


MUTANTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "bit flip in details": (_flip, "entry #7: the chain breaks"),
    "bit flip in a hash": (_flip_hash, "entry #10: the chain breaks"),
    "deletion": (_delete, "entry #7: the chain breaks"),
    "swap": (_swap, "entry #9: the chain breaks"),
    "insertion": (_insert, "entry #3: the chain breaks"),
    "truncated tail": (_truncate, "signs 20 entries but the bundle has 16: the tail was cut"),
    "truncated tail, checkpoints dropped": (
        _truncate_and_drop_checkpoints,
        "completed but its log has no SESSION_COMPLETED",
    ),
    "re-chained forged tail": (_rechain, "checkpoint 3 (size 12) contradicts the entries"),
    "re-chained shorter tail": (_rechain_shorter, "checkpoint 3 (size 12) contradicts"),
    "checkpoint by another key": (_other_key, "which is not trusted"),
    "replayed older checkpoint": (_replay_older, "not after the checkpoint of size 16"),
    "reordered checkpoints": (_reorder_checkpoints, "not after the checkpoint of size 12"),
    "checkpoint field edited": (_edit_checkpoint_field, "its fields differ from its signed note"),
    "signed note edited": (_edit_signed_note, "the signature does not verify"),
    "checkpoint of another session": (_another_session, "signed for session"),
}


# -- format 2: the details text itself ----------------------------------------------


def _rechain_v2(rows: list[Any], start: int) -> None:
    """Re-hash rows from ``start`` over their details text as it stands (a forger's tool)."""
    prev = GENESIS_HASH if start == 0 else rows[start - 1][7]
    for r in rows[start:]:
        r[6] = prev
        r[7] = prev = entry_hash_canonical(SID, r[1], r[2], r[3], r[4], r[5], prev)


def _text(text: str, rehash: bool = True) -> Callable[[dict[str, Any]], None]:
    """Entry #7's details text replaced by ``text`` (and the log re-hashed over it)."""

    def mutate(b: dict[str, Any]) -> None:
        b["entries"][6][5] = text
        if rehash:
            _rechain_v2(b["entries"], 6)

    return mutate


def _row(change: Callable[[list[Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(b: dict[str, Any]) -> None:
        b["entries"][6] = change(b["entries"][6])

    return mutate


def _edit_before_bad_text(b: dict[str, Any]) -> None:
    _text("{}")(b)  # entry #7 re-hashed over a text that is not canonical...
    b["entries"][3][2] = "x"  # ...after entry #4 was edited: the first break is named


_E7 = canonical_details({"n": 6, "text": "speech 6"})
V2_MUTANTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # Not what was hashed: the hash no longer matches.
    "details text edited": (_text(_E7.replace("speech", "speeck"), rehash=False), "entry #7"),
    # Hashed as given, but not the canonical text of any object: chain v1 is
    # defined over the canonical text, so each of these breaks the chain there.
    "keys not sorted": (_text('{"text": "speech 6", "n": 6}'), "entry #7"),
    "compact separators": (_text('{"n":6,"text":"speech 6"}'), "entry #7"),
    "trailing space": (_text(_E7 + " "), "entry #7"),
    "raw non-ASCII": (_text('{"n": 6, "text": "sp\u00e9ech 6"}'), "entry #7"),
    "upper-case escape": (_text('{"n": 6, "text": "sp\\u00E9ech 6"}'), "entry #7"),
    "duplicate key": (_text('{"n": 6, "n": 6, "text": "speech 6"}'), "entry #7"),
    "a float not as Python writes it": (_text('{"n": 6.50, "text": "speech 6"}'), "entry #7"),
    "does not parse": (_text('{"n": 6, "text": "speech 6"'), "entry #7"),
    "not an object": (_text("[6]"), "entry #7"),
    "details as an object": (_row(lambda r: [*r[:5], {"n": 6}, *r[6:]]), "entry #7"),
    "a row of seven": (_row(lambda r: r[:7]), "entry #7"),
    "a row as a format 1 object": (
        _row(lambda r: {"session_id": r[0], "sequence_number": r[1]}),
        "entry #7",
    ),
    "an edit before a bad text": (_edit_before_bad_text, "entry #4"),
}


@pytest.fixture(params=["one pass", "ranges"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """1, or 2 forked processes over ranges of 4 leaves (as a long bundle is verified)."""
    if request.param == "one pass":
        return 1
    monkeypatch.setattr(_bundle, "PARALLEL_MIN", 1)
    monkeypatch.setattr(_bundle_ranges, "_ALIGN_LEVEL", 2)
    return 2


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_detected_and_named(
    name: str, fmt: str, bundle: dict[str, Any], ring: Keyring, workers: int
) -> None:
    mutate, expected = MUTANTS[name]
    mutant = copy.deepcopy(bundle)
    mutate(mutant)
    mutant = FORMATS[fmt](mutant)
    report = verify_bundle(mutant, trusted(ring), workers=workers)
    assert not report.valid
    assert any(expected in f for f in report.failures), report.failures
    assert report == verify_bundle(mutant, trusted(ring), workers=1)


@pytest.mark.parametrize("name", sorted(V2_MUTANTS))
def test_every_v2_details_mutant_is_detected_and_named(
    name: str, bundle: dict[str, Any], ring: Keyring, workers: int
) -> None:
    mutate, expected = V2_MUTANTS[name]
    mutant = to_v2(copy.deepcopy(bundle))
    mutate(mutant)
    report = verify_bundle(mutant, trusted(ring), workers=workers)
    assert not report.valid
    assert report.failures[0].startswith(f"{expected}: the chain breaks"), report.failures
    assert report == verify_bundle(mutant, trusted(ring), workers=1)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("size", [5, 8, 13, 20])
def test_ranges_build_the_tree_of_one_pass(
    size: int, fmt: str, ring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forked ranges of 4 leaves: the same report as one pass, and the fast path did run."""
    monkeypatch.setattr(_bundle, "PARALLEL_MIN", 1)
    monkeypatch.setattr(_bundle_ranges, "_ALIGN_LEVEL", 2)
    ran: list[int] = []
    real = _bundle_ranges._fork_map

    def spy(work: Any, ranges: list[tuple[int, int]]) -> list[Any]:
        ran.append(len(ranges))
        return real(work, ranges)

    monkeypatch.setattr(_bundle_ranges, "_fork_map", spy)
    entries = make_entries(size)
    b = FORMATS[fmt](
        {
            "format": "courtroom-bundle/1",
            "session_id": SID,
            "status": "active",
            "entries": entries,
            "checkpoints": checkpoints_for(entries, list(range(1, size + 1)), ring),
            "keys": [k.as_dict() for k in ring.keys],
        }
    )
    fast = verify_bundle(b, trusted(ring), workers=3)
    assert ran and ran[0] >= 2
    assert fast.valid, fast.failures
    assert fast.signed_size == size
    assert fast == verify_bundle(b, trusted(ring), workers=1)


def test_active_session_cut_with_its_checkpoints_needs_require_complete(
    bundle: dict[str, Any], ring: Keyring
) -> None:
    # Cut together with the later checkpoints and relabelled active, a bundle is
    # a valid prefix; --require-complete (the auditor knows the session ended) catches it.
    _truncate_and_drop_checkpoints(bundle)
    bundle["status"] = "active"
    assert verify_bundle(bundle, trusted(ring)).valid
    report = verify_bundle(bundle, trusted(ring), require_complete=True)
    assert any("no SESSION_COMPLETED" in f for f in report.failures)


def test_a_bundle_signed_before_rotation_verifies_after_it(
    tmp_path: Path, bundle: dict[str, Any], ring: Keyring
) -> None:
    after = rotate({"COURTROOM_DATA_DIR": str(tmp_path / "keys")})
    assert after.current != ring.current
    published = after.document()  # what /.well-known/courtroom-keys serves now
    assert verify_bundle(bundle, keys_from_document(published)).valid
    # New checkpoints are signed with the new key, and both verify together.
    more = checkpoints_for(bundle["entries"], [20], after)
    bundle["checkpoints"][-1] = more[0]
    assert {c["key_id"] for c in bundle["checkpoints"]} == {ring.current, after.current}
    assert verify_bundle(bundle, keys_from_document(published)).valid
    # ...but not against the old list alone.
    assert not verify_bundle(bundle, trusted(ring)).valid


def test_the_verify_command_exit_codes(
    tmp_path: Path, bundle: dict[str, Any], ring: Keyring
) -> None:
    runner = CliRunner()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(bundle))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(ring.document()))
    r = runner.invoke(client_main, ["verify", str(good), "--keys", str(keys)])
    assert r.exit_code == 0 and "valid: 20 entries, 5 signed checkpoints" in r.output
    r = runner.invoke(client_main, ["verify", str(good), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["signed_size"] == 20
    bad = copy.deepcopy(bundle)
    _rechain(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    r = runner.invoke(client_main, ["verify", str(path), "--keys", str(keys)])
    assert r.exit_code == 1 and "FAILED: checkpoint 3 (size 12) contradicts" in r.output
    mallory = verifier_key("courtroom", public_key_bytes(Ed25519PrivateKey.generate().public_key()))
    r = runner.invoke(client_main, ["verify", str(good), "--key", mallory])
    assert r.exit_code == 1 and "not trusted" in r.output
    junk = tmp_path / "junk.json"
    junk.write_text('{"format": "courtroom-bundle/1", "entries": [')
    assert runner.invoke(client_main, ["verify", str(junk)]).exit_code == 2
    r = runner.invoke(client_main, ["verify", str(good), "--key", "nonsense"])
    assert r.exit_code == 2


def test_the_python_client_reads_checkpoint_frames(ring: Keyring) -> None:
    from clients._messages import CheckpointFrame, parse_frame
    from server.live.record import checkpoint_frame
    from store import CheckpointRow

    entries = make_entries(5)
    cp = checkpoints_for(entries, [5], ring)[0]
    row = CheckpointRow(**{k: cp[k] for k in CheckpointRow.__slots__})
    msg = parse_frame(checkpoint_frame(row))
    assert isinstance(msg, CheckpointFrame)
    assert (msg.tree_size, msg.key_id, msg.reason) == (5, ring.current, "turn")
    assert keys_from_document(ring.document())[msg.key_id]


# -- format 2 as export lays it out: rows parsed in the ranges that verify them -------


def export_bytes(b: dict[str, Any]) -> bytes:
    """A format 2 bundle written as the bundle route writes it (one row a line)."""
    rows = b"".join(bundle_row(i, orjson.dumps(r)) for i, r in enumerate(b["entries"]))
    return (
        bundle_head(b["session_id"], b["status"]) + rows + bundle_tail(b["checkpoints"], b["keys"])
    )


@pytest.fixture
def long(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bundle counts as long: lines split, ranges of 4 leaves over 2 processes."""
    monkeypatch.setattr(_bundle, "PARALLEL_MIN", 1)
    monkeypatch.setattr(_bundle_ranges, "_ALIGN_LEVEL", 2)


@pytest.mark.parametrize("name", sorted(MUTANTS) + [f"v2: {n}" for n in sorted(V2_MUTANTS)])
def test_rows_parsed_in_ranges_give_the_reports_of_one_parse(
    name: str, bundle: dict[str, Any], ring: Keyring, tmp_path: Path, long: None
) -> None:
    mutant = copy.deepcopy(bundle)
    if name.startswith("v2: "):
        mutant = to_v2(mutant)
        V2_MUTANTS[name[4:]][0](mutant)
    else:
        MUTANTS[name][0](mutant)
        mutant = to_v2(mutant)
    path = tmp_path / "b.json"
    path.write_bytes(export_bytes(mutant))
    doc = load_bundle(path)
    assert isinstance(doc["entries"], RowLines)
    assert verify_bundle(doc, trusted(ring), workers=2) == verify_bundle(mutant, trusted(ring))


def test_the_export_layout_is_read_either_way(
    bundle: dict[str, Any], ring: Keyring, tmp_path: Path, long: None
) -> None:
    v2 = to_v2(bundle)
    path = tmp_path / "b.json"
    path.write_bytes(export_bytes(v2))
    doc = load_bundle(path)
    with pytest.MonkeyPatch.context() as mp:  # the ranges parse every row: no whole parse
        mp.setattr(RowLines, "parse", lambda self: pytest.fail("parsed whole"))
        fast = verify_bundle(doc, trusted(ring), workers=2)
    assert fast.valid and fast.signed_size == 20, fast.failures
    assert verify_bundle(doc, trusted(ring), workers=1) == fast  # parsed whole, one pass
    # Another layout (no newlines) is parsed whole at once.
    path.write_text(json.dumps(v2))
    assert isinstance(load_bundle(path)["entries"], list)
    # Two rows on one line: the ranges cannot take it; one parse of the rest can.
    text = export_bytes(v2).replace(b",\n", b",", 1)
    path.write_bytes(text)
    doc = load_bundle(path)
    assert isinstance(doc["entries"], RowLines)
    assert verify_bundle(doc, trusted(ring), workers=2) == fast
    # An "entries" key after the rows wins a parse of the whole file: no split then.
    path.write_bytes(export_bytes(v2)[:-1] + b',"entries":[]}')
    assert load_bundle(path)["entries"] == []
    # Not JSON between the lines: unreadable, as a parse of the whole file says.
    path.write_bytes(export_bytes(v2).replace(b"\n", b"\n@", 2).replace(b"\n@", b"\n", 1))
    with pytest.raises(UnreadableExport):
        verify_bundle(load_bundle(path), trusted(ring), workers=2)


def test_an_exported_bundle_of_no_entries_reads(tmp_path: Path, long: None) -> None:
    empty = {"session_id": SID, "status": "active", "checkpoints": [], "keys": []}
    path = tmp_path / "b.json"
    path.write_bytes(export_bytes({**empty, "entries": []}))
    doc = load_bundle(path)
    assert json.loads(path.read_bytes())["entries"] == []
    report = verify_bundle(doc, {}, workers=1)
    assert report.valid and report.entries == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=30), st.data())
def test_a_range_of_lines_is_those_rows(texts: list[str], data: st.DataObject) -> None:
    """Rows of any lengths: each range found by its lines is the whole parse's slice."""
    rows = [
        [SID, i + 1, "t", "NOTE", None, canonical_details({"x": t}), "p", "h"]
        for i, t in enumerate(texts)
    ]
    raw = export_bytes(
        {"session_id": SID, "status": "active", "entries": rows, "checkpoints": [], "keys": []}
    )
    split = split_rows(raw)
    assert split is not None
    lines = split[1]
    assert len(lines) == len(rows) and lines.parse() == rows
    lo = data.draw(st.integers(0, len(rows) - 1))
    hi = data.draw(st.integers(lo + 1, len(rows)))
    assert lines.rows(lo, hi) == rows[lo:hi]
