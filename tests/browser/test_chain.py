"""Chain v1 in the browser: the test vectors, the encoder, the badge, in-transit tampering.

The tamper and gap tests sit a Playwright WebSocket route between the page
and the real server (``page.route_web_socket``): every frame really goes
through the network to the page's socket handler, its dedupe and gap logic,
and its ChainVerifier; the route only changes or drops one chosen frame on
the way, as a meddling proxy would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from protocol import entry_hash
from tests.browser.helpers import Http, Pages, seqs, text, wait_live, wait_seq, wait_verified

pytestmark = pytest.mark.browser

WS = re.compile(r".*/ws/sessions/.*")


@pytest.fixture
def blank(pages: Pages) -> Any:
    """A page of the app, for evaluating its modules."""
    page = pages.open("/login")
    page.wait_for_selector("#login-form")
    return page


def test_protocol_vectors_in_the_browser(blank: Any) -> None:
    got = blank.evaluate(
        """async () => {
            const m = await import('/app/chain.js');
            return {webcrypto: await m.runTestVectors('webcrypto'), js: await m.runTestVectors('js'),
                    secure: m.hasWebCrypto()};
        }"""
    )
    assert got["secure"], "127.0.0.1 is a secure context: WebCrypto is there"
    for impl in ("webcrypto", "js"):
        assert [v["sequence_number"] for v in got[impl]] == [1, 2, 3]
        assert all(v["ok"] for v in got[impl]), got[impl]


_KEYS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]),  # lone surrogates do not cross into JS
    max_size=20,
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(st.dictionaries(_KEYS, _JSON, max_size=5), min_size=40, max_size=40))
def test_py_dumps_matches_python_json_dumps(blank: Any, values: list[dict[str, Any]]) -> None:
    """pyDumps in the page writes what Python's json.dumps(sort_keys=True) writes, byte for byte."""
    extra: list[dict[str, Any]] = [
        {"b": 1, "a": {"z": [], "y": {}}, "_": None, "A": True},
        {"s": '\x00\x1f\x7f"\\\n\r\t\b\f é€😀 Zoë'},
        {"n": [0, -1, 2**53, -(2**53)]},
    ]
    batch = values + extra
    got = blank.evaluate(
        "async (vs) => { const m = await import('/app/chain.js'); return vs.map(m.pyDumps); }",
        batch,
    )
    assert got == [json.dumps(v, sort_keys=True) for v in batch]
    # And the whole entry hash, details included.
    entries: list[dict[str, Any]] = [
        {
            "session_id": "s",
            "sequence_number": i + 1,
            "timestamp": "2026-02-15T10:00:00.000000+00:00",
            "event_type": "NOTE",
            "actor_id": None if i % 2 else "7",
            "details": v,
            "previous_hash": "0" * 64,
        }
        for i, v in enumerate(batch[:10])
    ]
    hashes = blank.evaluate(
        "async (es) => { const m = await import('/app/chain.js'); return Promise.all(es.map(e => m.entryHash(e, 'js'))); }",
        entries,
    )
    assert hashes == [
        entry_hash(
            e["session_id"],
            e["sequence_number"],
            e["timestamp"],
            e["event_type"],
            e["actor_id"],
            e["details"],
            e["previous_hash"],
        )
        for e in entries
    ]


def test_pure_js_sha256_at_block_boundaries(blank: Any) -> None:
    import hashlib

    texts = ["", "abc", *("x" * n for n in (55, 56, 63, 64, 65, 119, 120, 1000)), "Zoë😀"]
    got = blank.evaluate(
        """async (ts) => { const m = await import('/app/chain.js');
            return Promise.all(ts.map(t => m.sha256Hex(t, 'js'))); }""",
        texts,
    )
    assert got == [hashlib.sha256(t.encode()).hexdigest() for t in texts]


def _route(page: Any, change: Callable[[dict[str, Any]], str | None]) -> None:
    """Relay the page's sockets to the real server; ``change`` may rewrite (str) or drop
    (None) each event frame from the server."""

    def handler(ws: Any) -> None:
        server = ws.connect_to_server()

        def down(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            frame = json.loads(text)
            out: str | None = text
            if frame.get("type") == "event":
                out = change(frame)
            if out is not None:
                ws.send(out)

        server.on_message(down)
        ws.on_message(lambda m: server.send(m))

    page.route_web_socket(WS, handler)


def test_badge_turns_red_at_the_entry_tampered_with_in_transit(pages: Pages, http: Http) -> None:
    sid = http.new_session("tamper")
    http.start(sid)

    def forge(frame: dict[str, Any]) -> str:
        if frame["details"].get("text") == "the original words":
            frame["details"]["text"] = "forged words"  # the hash field is left as it was
        return json.dumps(frame)

    honest = pages.open(f"/watch/{sid}")
    routed = pages.open(f"/watch/{sid}", before=lambda p: _route(p, forge))
    for p in (honest, routed):
        wait_live(p)
    before = http.note(sid, "fine")
    for p in (honest, routed):
        wait_verified(p, before)
    assert routed.get_attribute("#verified", "data-state") == "ok"
    bad = http.note(sid, "the original words")
    after = http.note(sid, "also fine")
    routed.wait_for_selector('#verified[data-state="broken"]')
    assert routed.get_attribute("#verified", "data-broken-at") == str(bad)
    assert text(routed, "#verified") == f"✗ chain broken at #{bad}"
    assert "does not match" in (routed.get_attribute("#verified", "title") or "")
    # It did receive everything (no gap): the break is the forgery, not a loss.
    wait_seq(routed, after)
    assert seqs(routed) == list(range(1, after + 1))
    assert "forged words" in text(routed, "#feed")
    # The page without the meddler verifies the same log to the end.
    wait_verified(honest, after)
    assert honest.get_attribute("#verified", "data-state") == "ok"


def test_a_dropped_frame_is_a_gap_the_page_fills_with_resume_from(pages: Pages, http: Http) -> None:
    sid = http.new_session("gap")
    http.start(sid)
    dropped: list[int] = []

    def drop_once(frame: dict[str, Any]) -> str | None:
        if frame["details"].get("text") == "lost in transit" and not dropped:
            dropped.append(frame["sequence_number"])
            return None
        return json.dumps(frame)

    page = pages.open(f"/watch/{sid}", before=lambda p: _route(p, drop_once))
    wait_live(page)
    lost = http.note(sid, "lost in transit")
    after = http.note(sid, "the next one")
    wait_seq(page, after)
    wait_verified(page, after)
    assert dropped == [lost]
    got = seqs(page)  # the reconnection logs its own observer entries after these
    assert got == list(range(1, len(got) + 1)) and got[-1] >= after
    socket = page.evaluate(
        "(({gaps, connections, duplicates}) => ({gaps, connections, duplicates}))(window.__courtroom.live.socket)"
    )
    assert socket["gaps"] == 1 and socket["connections"] == 2, socket
    assert page.get_attribute("#connection", "data-status") == "live"
