"""Record v2 in the browser: the verifier page checking a large bundle in headless Chromium.

    .venv/bin/python bench/bench_browser_verify.py [--entries N] [--quick]

A bundle of N chained entries with a signed checkpoint every 1,000 entries
(``bench_bundle.make_bundle``, as the Python benchmark makes it) is verified:

* in the page: ``/verify`` as the server builds it (``server.http.verify_page``),
  saved to a file and opened from ``file://`` in Debian's Chromium under
  Playwright, the bundle picked in its file input; timed inside the page with
  ``performance.now()``: *end to end* (read the file, ``JSON.parse``,
  ``verifyBundle``, draw the result: what an auditor waits for) and
  *verify only* (``verifyBundle`` on the parsed bundle: chain v1, the RFC 6962
  tree, every Ed25519 signature through WebCrypto);
* the baseline, in the same run: the Python verifier on the same file
  (``load_bundle`` + ``verify_bundle``, ``courtroom-client verify``'s code).

Ends with one JSON line per case (``{"bench": "browser_verify", ...}``).
Not a test: it prints figures, asserts only that every run verified.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Row, clean_case, machine, print_table, tree_cpu_seconds
from bench_bundle import make_bundle, python_verify
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clients._bundle import keys_from_document
from protocol.checkpoint import public_key_bytes
from server.common.signing import Keyring, PublicKey
from server.http.verify_page import page as verifier_page
from tests.browser.helpers import CHROMIUM_ARGS, chromium_path

_TIMED = """async ([keys, parseOnly]) => {
    const v = window.__verifier;
    const file = document.querySelector('#bundle-file').files[0];
    const trusted = v.readKeys(keys);
    const t0 = performance.now();
    const text = await file.text();
    if (parseOnly) {
        const doc = JSON.parse(text);
        const t1 = performance.now();
        const r = await v.verifyBundle(doc, trusted);
        return {seconds: (performance.now() - t1) / 1000, valid: r.valid, signed: r.signed_size};
    }
    const r = await v.run(text, trusted);
    return {seconds: (performance.now() - t0) / 1000, valid: r.valid, signed: r.signed_size};
}"""


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="20,000 entries")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = 20_000 if args.quick else args.entries
    if chromium_path() is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    print(f"browser bundle verify, {n:,} entries: {machine()}")
    private = Ed25519PrivateKey.generate()
    ring = Keyring(
        "courtroom",
        private,
        [PublicKey("courtroom", public_key_bytes(private.public_key()), None, None)],
    )
    keys_text = json.dumps(ring.document())
    trusted = keys_from_document(ring.document())
    with tempfile.TemporaryDirectory() as tmp:
        bundle, jsonl, html = Path(tmp) / "b.json", Path(tmp) / "b.jsonl", Path(tmp) / "verify.html"
        make_bundle(n, bundle, jsonl, ring)
        html.write_text(verifier_page())
        print(f"  bundle: {bundle.stat().st_size / 1e6:.1f} MB")

        base = "baseline: Python load_bundle + verify_bundle"
        cpu: dict[str, list[float]] = {}  # case -> CPU seconds per run (ours, or Chromium's)

        async def python() -> tuple[int, float]:
            c0 = time.process_time()
            got = python_verify(bundle, trusted, n)
            cpu.setdefault(base, []).append(time.process_time() - c0)
            return got

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
            )
            page = await (await browser.new_context()).new_page()
            page.set_default_timeout(600_000)
            await page.goto(html.as_uri())
            await page.wait_for_function("window.__verifier && window.__verifier.ready")
            # Picking the file runs the page's own verification once (a warm-up, untimed).
            await page.set_input_files("#bundle-file", str(bundle))
            await page.wait_for_selector('#result[data-state="valid"]')
            version = browser.version

            def in_page(name: str, parse_only: bool) -> Any:
                async def run() -> tuple[int, float]:
                    c0 = tree_cpu_seconds()  # Chromium's processes are ours: its renderer's work
                    got = await page.evaluate(_TIMED, [keys_text, parse_only])
                    cpu.setdefault(name, []).append(tree_cpu_seconds() - c0)
                    assert got["valid"] and got["signed"] == n, got
                    return n, got["seconds"]

                return run

            rows: list[Row] = [
                await clean_case(base, python, unit="entries/s", repeat=args.repeat, retries=0)
            ]
            cases = [
                ("page end to end (read, parse, verify, draw)", False),
                ("page verifyBundle only (parsed)", True),
            ]
            for name, parse_only in cases:
                rows.append(
                    await clean_case(
                        name,
                        in_page(name, parse_only),
                        unit="entries/s",
                        repeat=args.repeat,
                        retries=0,
                        baseline=base,
                    )
                )
            await browser.close()
    print_table(f"Bundle verify in Chromium {version} vs Python, {n:,} entries", rows)
    # Per CPU second: what a free core would do, on a machine that lends a share of one.
    per_cpu = {name: n / statistics.median(secs) for name, secs in cpu.items()}
    print("per CPU second (median run; the page: every Chromium process of this run):")
    for name, rate in per_cpu.items():
        print(f"  {name}: {rate:,.0f} entries per CPU second")
    for row, (name, parse_only) in zip(rows[1:], cases, strict=True):
        line = {
            "bench": "browser_verify",
            "case": "verify_only" if parse_only else "end_to_end",
            "entries": n,
            "per_s": round(row.rate),
            "baseline_per_s": round(rows[0].rate),
            "per_cpu_s": round(per_cpu[name]),
            "baseline_per_cpu_s": round(per_cpu[base]),
        }
        print(json.dumps(line))


if __name__ == "__main__":
    asyncio.run(main())
