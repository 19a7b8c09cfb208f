"""Record v2 in the browser: the verifier page checking a large bundle in headless Chromium.

    .venv/bin/python bench/bench_browser_verify.py [--entries N] [--quick] [--before DIR]

A bundle of N chained entries with a signed checkpoint every 1,000 entries
(``bench_bundle.make_bundle``, as the Python benchmark makes it, in format 2
and format 1) is verified:

* in the page: ``/verify`` as the server builds it (``server.http.verify_page``),
  saved to a file and opened from ``file://`` in Debian's Chromium under
  Playwright, the bundle given to a file input; timed inside the page with
  ``performance.now()``: *end to end* (read the file, ``JSON.parse``,
  ``verifyBundle``, draw the result: what an auditor waits for) and
  *verify only* (``verifyBundle`` on the parsed bundle: chain v1, the RFC 6962
  tree, every Ed25519 signature through WebCrypto), on each format;
* with ``--before DIR`` (a checkout of an earlier commit), that commit's page
  on the format 1 file, in another tab of the same browser;
* the baseline, in the same run: the Python verifier on the format 2 file
  (``load_bundle`` + ``verify_bundle``, ``courtroom-client verify``'s code,
  one pass).

The cases run in alternating rounds (A/B on a shared machine).

Ends with one JSON line per case (``{"bench": "browser_verify", ...}``).
Not a test: it prints figures, asserts only that every run verified.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Row, machine, print_table, tree_cpu_seconds
from bench_bundle import make_bundle, python_verify
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clients._bundle import keys_from_document
from protocol.checkpoint import public_key_bytes
from server.common.signing import Keyring, PublicKey
from server.http.verify_page import page as verifier_page
from tests.browser.helpers import CHROMIUM_ARGS, chromium_path

_TIMED = """async ([keys, parseOnly]) => {
    const v = window.__verifier;
    const file = document.querySelector('#bench-file').files[0];
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

# A file input of our own: the page's own input verifies what it is given at once.
_INPUT = """() => { const i = document.createElement('input'); i.type = 'file'; i.id = 'bench-file';
    i.hidden = true; document.body.append(i); }"""


def page_of(tree: Path | None) -> str:
    """The /verify page as this checkout's server builds it, or as ``tree``'s would."""
    if tree is None:
        return verifier_page()
    code = "from server.http.verify_page import page; import sys; sys.stdout.write(page())"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, check=True
    ).stdout


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true", help="20,000 entries")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", type=Path, help="a checkout of an earlier commit: its page too")
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
        bundle, jsonl = Path(tmp) / "b.json", Path(tmp) / "b.jsonl"
        v1 = make_bundle(n, bundle, jsonl, ring)
        print(
            f"  bundle: format 2 {bundle.stat().st_size / 1e6:.1f} MB, format 1 {v1.stat().st_size / 1e6:.1f} MB"
        )

        base = "baseline: Python load_bundle + verify_bundle (format 2, one pass)"
        cpu: dict[str, list[float]] = {}  # case -> CPU seconds per run (ours, or Chromium's)
        wall: dict[str, list[float]] = {}

        async def python() -> tuple[int, float]:
            c0 = time.process_time()
            got = python_verify(bundle, trusted, n, workers=1)
            cpu.setdefault(base, []).append(time.process_time() - c0)
            return got

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
            )
            pages: dict[str, Any] = {}
            for label, tree in (("now", None), ("before", args.before)):
                if label == "before" and tree is None:
                    continue
                html = Path(tmp) / f"verify-{label}.html"
                html.write_text(page_of(tree))
                page = await (await browser.new_context()).new_page()
                page.set_default_timeout(600_000)
                await page.goto(html.as_uri())
                await page.wait_for_function("window.__verifier && window.__verifier.ready")
                await page.evaluate(_INPUT)
                pages[label] = page
            version = browser.version

            def in_page(name: str, label: str, file: Path, parse_only: bool) -> Any:
                async def run() -> tuple[int, float]:
                    page = pages[label]
                    await page.set_input_files("#bench-file", str(file))
                    c0 = tree_cpu_seconds()  # Chromium's processes are ours: its renderer's work
                    got = await page.evaluate(_TIMED, [keys_text, parse_only])
                    cpu.setdefault(name, []).append(tree_cpu_seconds() - c0)
                    assert got["valid"] and got["signed"] == n, got
                    return n, got["seconds"]

                return run

            cases: list[tuple[str, Any, str | None]] = [(base, python, None)]
            if "before" in pages:
                cases.append(
                    (
                        "before: page end to end (format 1)",
                        in_page("before: page end to end (format 1)", "before", v1, False),
                        base,
                    )
                )
            for fmt, file in (("format 1", v1), ("format 2", bundle)):
                for what, parse_only in (
                    ("end to end (read, parse, verify, draw)", False),
                    ("verifyBundle only", True),
                ):
                    name = f"page {what}, {fmt}"
                    cases.append((name, in_page(name, "now", file, parse_only), base))
            for label in pages:  # a warm-up of each page (untimed)
                await pages[label].set_input_files("#bench-file", str(v1))
                await pages[label].evaluate(_TIMED, [keys_text, True])
            for _ in range(args.repeat):  # A/B: every case once per round
                for name, run, _ in cases:
                    _, seconds = await run()
                    wall.setdefault(name, []).append(seconds)
            await browser.close()
    rows = [
        Row(
            name,
            n,
            statistics.median(wall[name]),
            unit="entries/s",
            baseline=b,
            note=f"median of {len(wall[name])}, range {n / max(wall[name]):,.0f}-{n / min(wall[name]):,.0f}",
        )
        for name, _, b in cases
    ]
    print_table(
        f"Bundle verify in Chromium {version} vs Python, {n:,} entries (rounds alternate)", rows
    )
    # Per CPU second: what a free core would do, on a machine that lends a share of one.
    per_cpu = {name: n / statistics.median(secs) for name, secs in cpu.items()}
    print("per CPU second (median run; the page: every Chromium process of this run):")
    for name, rate in per_cpu.items():
        print(f"  {name}: {rate:,.0f} entries per CPU second")
    print(f"load average: {os.getloadavg()}")
    for row in rows[1:]:
        line = {
            "bench": "browser_verify",
            "case": row.name,
            "entries": n,
            "per_s": round(row.rate),
            "baseline_per_s": round(rows[0].rate),
            "per_cpu_s": round(per_cpu[row.name]),
            "baseline_per_cpu_s": round(per_cpu[base]),
        }
        print(json.dumps(line))


if __name__ == "__main__":
    asyncio.run(main())
