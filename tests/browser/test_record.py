"""Record v2 in the browser: signed checkpoints on the live pages, and the bundle verifier page.

* The verifier page (``/verify``, and a saved copy of it over ``file://`` with
  every network request refused) faces the mutation corpus of
  ``tests/unit/test_bundle.py`` (its generators, imported) in both bundle
  formats, and the format 2 mutants of the details text: every mutant must
  fail with exactly the findings the Python verifier reports, the honest
  bundle must pass. The page's canonical-text scan (``rows.js``) must say
  what the Python check says of every text it is given.
* The observer page shows "signed at #N" as checkpoint frames arrive; a
  Playwright WebSocket route between the page and the real server tampers
  with a checkpoint frame on the way (a flipped signature, a key the server
  does not publish, a checkpoint really signed with the server's key whose
  root contradicts the entries), and the badge must say so.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clients._bundle import keys_from_document, verify_bundle
from protocol import canonical_details, is_canonical
from protocol.checkpoint import Checkpoint, sign
from server.common.signing import Keyring, load_keyring
from tests.browser.helpers import Http, Pages, json_file, wait_live, wait_verified
from tests.integration.procs import ServerProcess
from tests.unit import test_bundle as unit

pytestmark = pytest.mark.browser

# The Python verifier's corpus and its fixtures: both verifiers face the same bundles.
MUTANTS = unit.MUTANTS
ring = unit.ring
bundle = unit.bundle

WS = re.compile(r".*/ws/sessions/.*")


def corpus(bundle: dict[str, Any], fmt: str) -> dict[str, dict[str, Any]]:
    """The honest bundle and every mutant, in format ``fmt`` (and format 2's own mutants)."""
    convert = unit.FORMATS[fmt]
    out = {"honest": convert(bundle)}
    for name, (mutate, _) in MUTANTS.items():
        mutant = copy.deepcopy(bundle)
        mutate(mutant)
        out[name] = convert(mutant)
    if fmt == "v2":
        for name, (mutate, _) in unit.V2_MUTANTS.items():
            mutant = unit.to_v2(copy.deepcopy(bundle))
            mutate(mutant)
            out[f"v2: {name}"] = mutant
    return out


def expected_finding(name: str) -> str:
    if name.startswith("v2: "):
        return unit.V2_MUTANTS[name[4:]][1] + ": the chain breaks"
    return MUTANTS[name][1]


def open_verifier(pages: Pages, url: str) -> Any:
    page = pages.open_url(url)
    page.wait_for_function("window.__verifier && window.__verifier.ready")
    return page


_RUN_ALL = """async ([bundles, keys]) => {
    const v = window.__verifier;
    const trusted = keys === null ? null : v.readKeys(keys);
    const out = {};
    for (const [name, b] of Object.entries(bundles)) out[name] = await v.run(JSON.stringify(b), trusted);
    return out;
}"""


_RUN_POOLED = """async ([bundles, keys]) => {
    const v = window.__verifier;
    const trusted = v.readKeys(keys);
    const out = {};
    for (const [name, b] of Object.entries(bundles)) {
        const r = await v.verifyBundle(structuredClone(b), trusted, {workers: 2, parallelMin: 0, batch: 3});
        out[name] = {valid: r.valid, failures: r.failures, entries: r.entries, signed_size: r.signed_size,
                     first_invalid_sequence: r.first_invalid_sequence, reason: r.reason, workers: r.workers};
    }
    return out;
}"""


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_the_verifier_page_names_every_mutant_as_the_python_verifier_does(
    pages: Pages, server: ServerProcess, bundle: dict[str, Any], ring: Keyring, fmt: str
) -> None:
    page = open_verifier(pages, f"{server.base_url}/verify")
    bundles = corpus(bundle, fmt)
    keys = json.dumps(ring.document())
    got = page.evaluate(_RUN_ALL, [bundles, keys])
    trusted = keys_from_document(ring.document())
    honest = got.pop("honest")
    assert honest["valid"] and honest["failures"] == [], honest
    assert (honest["entries"], honest["checkpoints"], honest["signed_size"]) == (20, 5, 20)
    assert honest["completed_at"] == 20
    assert set(got) == set(bundles) - {"honest"}
    assert len(got) == len(MUTANTS) + (len(unit.V2_MUTANTS) if fmt == "v2" else 0)
    for name, report in got.items():
        py = verify_bundle(bundles[name], trusted)
        expected = expected_finding(name)
        assert not report["valid"], name
        assert any(expected in f for f in report["failures"]), (name, report["failures"])
        # The same findings, word for word and in the same order, as courtroom-client verify.
        assert report["failures"] == py.failures, name
        assert report["first_invalid_sequence"] == py.first_invalid_sequence, name
        assert (report["entries"], report["signed_size"]) == (py.entries, py.signed_size), name
    # Hashed ahead in workers (as a long bundle is), in batches of 3: the same reports.
    pooled = page.evaluate(_RUN_POOLED, [bundles, keys])
    for name, report in pooled.items():
        assert report.pop("workers") == (2 if fmt == "v2" else 0), name
        default = {k: v for k, v in got.get(name, honest).items() if k in report}
        assert report == default, name
    # Without trusted keys: the bundle's own, and the page says so (as the CLI does).
    own = page.evaluate(_RUN_ALL, [{"honest": bundles["honest"]}, None])["honest"]
    assert own["valid"] and any("bundle itself" in n for n in own["notes"])
    # The UI agrees with the last run: the one on the page.
    assert page.get_attribute("#result", "data-state") == "valid"


def test_the_canonical_scan_says_what_python_says(pages: Pages, server: ServerProcess) -> None:
    """``isCanonicalDetails`` (a scan of the text) against ``is_canonical`` (parse, re-encode)."""
    values: list[Any] = [None, True, 0, -5, 2**70, 1.5, -0.0, 1e16, 1e-7, 5e-324]
    values += [float("nan"), float("inf"), "", '\x00\x1f\x7f"\\\n é€😀', [], {}, [1, [2]]]
    keys = ["a", "b", "A", "_", "é", "😀", "\ue000", "\x7f", ""]
    texts = []
    for i, v in enumerate(values):
        d = {keys[i % len(keys)]: v, keys[(i * 5 + 1) % len(keys)]: {keys[i % 3]: v}}
        t = canonical_details(d)
        texts += [t, json.dumps(d), json.dumps(d, sort_keys=True, separators=(",", ":"))]
        texts += [
            t[:j] + extra + t[j:] for j in (1, len(t) // 2, len(t)) for extra in (" ", "0", '"')
        ]
    texts += unit.NOT_CANONICAL
    texts += ['{"a": 1E5}', '{"a": "\\/"}', '{"a": "\\u0041"}', '{"a": "\\u0008"}', '{"a": 01}']
    texts += ['{"\\ud83d\\ude00": 1, "\\ue000": 2}', '{"\\ue000": 2, "\\ud83d\\ude00": 1}']
    texts += ['{"a": Infinity, "b": -Infinity, "c": NaN}', '{"a": 1e+400}', '{"a": 1e+16}']
    # Python reads an integer of up to 4,300 digits (sys.get_int_max_str_digits()), no more.
    texts += ['{"a": ' + sign + "7" * k + "}" for sign in ("", "-") for k in (4300, 4301)]
    page = open_verifier(pages, f"{server.base_url}/app/verify.html")
    got = page.evaluate(
        "async (ts) => { const m = await import('/app/rows.js');"
        " return ts.map((t) => m.isCanonicalDetails(t)); }",
        texts,
    )
    want = [is_canonical(t) for t in texts]
    assert 0 < sum(want) < len(texts)
    assert [t for t, g, w in zip(texts, got, want, strict=True) if g != w] == []


def test_require_complete_catches_a_cut_relabelled_active(
    pages: Pages, server: ServerProcess, bundle: dict[str, Any], ring: Keyring
) -> None:
    cut = copy.deepcopy(bundle)
    del cut["entries"][-4:]
    cut["checkpoints"] = [c for c in cut["checkpoints"] if c["tree_size"] <= 16]
    cut["status"] = "active"
    page = open_verifier(pages, f"{server.base_url}/app/verify.html")  # the modules loaded as files
    keys = json.dumps(ring.document())
    relaxed = page.evaluate(_RUN_ALL, [{"cut": cut}, keys])["cut"]
    assert relaxed["valid"]
    page.check("#require-complete")
    strict = page.evaluate(_RUN_ALL, [{"cut": cut}, keys])["cut"]
    assert any("no SESSION_COMPLETED" in f for f in strict["failures"]), strict


def test_a_saved_copy_verifies_from_file_with_no_server(
    pages: Pages, server: ServerProcess, tmp_path: Path, bundle: dict[str, Any], ring: Keyring
) -> None:
    saved = tmp_path / "courtroom-verify.html"
    with urllib.request.urlopen(f"{server.base_url}/verify", timeout=10) as r:  # "Save page as"
        saved.write_bytes(r.read())
    ctx = pages.browser.new_context()
    pages.contexts.append(ctx)
    tried: list[str] = []

    def refuse(route: Any) -> None:  # no network at all: only the file itself loads
        tried.append(route.request.url)
        route.abort()

    ctx.route(re.compile(r"^(?!file:).*"), refuse)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    pages.watch(page, "file://")
    page.goto(saved.as_uri())
    page.wait_for_function("window.__verifier && window.__verifier.ready")
    # An auditor picks the bundle, then the published key list.
    v2 = unit.to_v2(bundle)  # as export writes it now
    page.set_input_files("#bundle-file", files=[json_file("session.bundle.json", v2)])
    page.wait_for_selector('#result[data-state="valid"]')
    page.set_input_files("#keys-file", files=[json_file("courtroom-keys.json", ring.document())])
    page.wait_for_function(
        "document.querySelector('#keys-status').textContent.includes('1 trusted')"
    )
    page.wait_for_selector('#result[data-state="valid"]')
    verdict = page.inner_text("#verdict")
    assert verdict.startswith("✓ valid: 20 entries, 5 signed checkpoints"), verdict
    assert page.locator("#checkpoints tbody tr").count() == 5
    # A cut tail, picked next, fails, named as the CLI names it.
    cut = copy.deepcopy(v2)
    del cut["entries"][-4:]
    page.set_input_files("#bundle-file", files=[json_file("cut.bundle.json", cut)])
    page.wait_for_selector('#result[data-state="failed"]')
    failures = page.inner_text("#failures")
    assert "checkpoint 5 signs 20 entries but the bundle has 16: the tail was cut" in failures
    # And an edited entry: the first bad sequence, entry by entry.
    flipped = copy.deepcopy(bundle)
    MUTANTS["bit flip in details"][0](flipped)
    flipped = unit.to_v2(flipped)
    page.set_input_files("#bundle-file", files=[json_file("flipped.bundle.json", flipped)])
    page.wait_for_function("document.querySelector('#result').dataset.firstInvalid === '7'")
    assert "✗" in page.inner_text('#entries tr[data-index="7"]')
    # From file:// too, a long bundle is hashed ahead in workers, with the same result.
    pooled = page.evaluate(
        "async ([b, k]) => { const v = window.__verifier; const r = await v.verifyBundle(b,"
        " v.readKeys(k), {workers: 2, parallelMin: 0, batch: 4}); return [r.valid, r.workers]; }",
        [v2, json.dumps(ring.document())],
    )
    assert pooled == [True, 2]
    assert tried == [], tried


# --- live pages -------------------------------------------------------------------


def _route_checkpoints(page: Any, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Relay the page's socket to the real server, passing each checkpoint frame through ``change``."""

    def handler(ws: Any) -> None:
        server = ws.connect_to_server()

        def down(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            frame = json.loads(text)
            ws.send(json.dumps(change(frame)) if frame.get("type") == "checkpoint" else text)

        server.on_message(down)
        ws.on_message(lambda m: server.send(m))

    page.route_web_socket(WS, handler)


def _flip_signature(frame: dict[str, Any]) -> dict[str, Any]:
    body, _, line = frame["note"].partition("\n\n")
    dash, name, sig = line.rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1  # in the signature, after the 4-byte key id
    frame["note"] = f"{body}\n\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"
    return frame


def _resign(
    frame: dict[str, Any], key: Ed25519PrivateKey | Keyring, root: bytes | None = None
) -> dict[str, Any]:
    cp = Checkpoint(
        frame["session_id"],
        frame["tree_size"],
        root if root is not None else bytes.fromhex(frame["root_hash"]),
        frame["chain_head"],
        frame["time"],
    )
    signed = key.sign(cp) if isinstance(key, Keyring) else sign(cp, key, "courtroom")
    return {**frame, **signed.as_dict()}


def _badge(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            "() => { const b = document.querySelector('#verified');"
            " return {state: b.dataset.state, signedAt: b.dataset.signedAt || null,"
            " checkpoint: b.dataset.checkpoint || null, text: b.textContent, title: b.title}; }"
        )
    )


def test_the_observer_badge_says_signed_at_as_checkpoints_arrive(pages: Pages, http: Http) -> None:
    sid = http.new_session("signed")
    http.start(sid)
    observer = pages.open(f"/watch/{sid}")
    wait_live(observer)
    first = http.post(f"/api/session/{sid}/checkpoint")["tree_size"]
    observer.wait_for_selector(f'#verified[data-signed-at="{first}"]')
    assert f"signed at #{first}" in _badge(observer)["text"]
    last = http.note(sid, "after the first checkpoint")
    wait_verified(observer, last)
    second = http.post(f"/api/session/{sid}/checkpoint")["tree_size"]
    assert second >= last > first
    observer.wait_for_selector(f'#verified[data-signed-at="{second}"]')
    badge = _badge(observer)
    assert badge["state"] == "ok" and badge["text"].endswith(f"· signed at #{second}"), badge
    assert observer.evaluate("window.__courtroom.live.socket.checkpoints") == 2
    # A page that comes later, signed in, checks the earlier ones from /checkpoints.
    judge = pages.open(f"/judge/{sid}", user="judge")
    judge.wait_for_selector(f'#verified[data-signed-at="{second}"]')
    # So does an anonymous observer who comes later (the session admits them).
    late = pages.open(f"/watch/{sid}")
    wait_live(late)
    late.wait_for_selector(f'#verified[data-signed-at="{second}"]')
    assert late.evaluate("window.__courtroom.live.socket.checkpoints") == 0
    # So does the replay, against the whole log it loads.
    replay = pages.open(f"/replay/{sid}", user="judge")
    replay.wait_for_selector(f'#verified[data-signed-at="{second}"]')
    assert replay.get_attribute("#verified", "data-head") == "matches"


def test_the_judge_signs_a_checkpoint_on_demand(pages: Pages, http: Http) -> None:
    sid = http.new_session("on demand")
    http.start(sid)
    judge = pages.open(f"/judge/{sid}", user="judge")
    observer = pages.open(f"/watch/{sid}")
    for p in (judge, observer):
        wait_live(p)
    wait_verified(observer, http.note(sid, "before the checkpoint"))
    judge.click("#btn-checkpoint")
    judge.wait_for_selector("#message.ok")
    said = judge.text_content("#message") or ""
    found = re.fullmatch(r"Checkpoint signed at #(\d+) \(key (\w+)\)\.", said)
    assert found, said
    size = int(found[1])
    cps = http.get(f"/api/session/{sid}/checkpoints")["checkpoints"]
    assert [(c["tree_size"], c["key_id"], c["reason"]) for c in cps] == [(size, found[2], "judge")]
    # Its frame reaches every page: their badges check it and say where the log is signed.
    for p in (judge, observer):
        p.wait_for_selector(f'#verified[data-signed-at="{size}"]')
        assert f"signed at #{size}" in _badge(p)["text"]


def test_a_tampered_checkpoint_frame_turns_the_badge_red(
    pages: Pages, http: Http, server: ServerProcess
) -> None:
    sid = http.new_session("tampered checkpoint")
    http.start(sid)
    server_key = load_keyring({"COURTROOM_DATA_DIR": str(server.data_dir)})
    mallory = Ed25519PrivateKey.generate()
    tampers: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str, str]] = {
        "flipped signature": (_flip_signature, "bad signature", "the signature does not verify"),
        "another key": (
            functools.partial(_resign, key=mallory),
            "unknown key",
            "which the server does not publish",
        ),
        # Really signed with the server's key, but not over the entries the page holds.
        "contradicting root": (
            functools.partial(_resign, key=server_key, root=bytes(32)),
            "contradicts the entries",
            "are not the ones it signed",
        ),
    }
    honest = pages.open(f"/watch/{sid}")
    routed = {
        name: pages.open(
            f"/watch/{sid}", before=functools.partial(_route_checkpoints, change=change)
        )
        for name, (change, _, _) in tampers.items()
    }
    for p in (honest, *routed.values()):
        wait_live(p)
    head = http.note(sid, "before the checkpoint")
    for p in (honest, *routed.values()):
        wait_verified(p, head)
    size = http.post(f"/api/session/{sid}/checkpoint")["tree_size"]
    honest.wait_for_selector(f'#verified[data-signed-at="{size}"]')
    for name, page in routed.items():
        _, short, why = tampers[name]
        page.wait_for_selector('#verified[data-checkpoint="failed"]')
        badge = _badge(page)
        assert badge["state"] == "broken" and badge["signedAt"] is None, (name, badge)
        assert badge["text"] == f"✗ checkpoint at #{size}: {short}", (name, badge)
        assert why in badge["title"], (name, badge)
    # The chain itself still verifies on the tampered pages: it is the checkpoint that fails.
    assert all(p.evaluate("window.__courtroom.live.verify.valid") for p in routed.values())
