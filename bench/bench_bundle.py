"""Record v2: bundle verification speed, and inclusion proofs in a 1,000,000-entry log.

    .venv/bin/python bench/bench_bundle.py [--quick] [--entries N] [--backend sqlite|postgres|both]
        [--before DIR]

* bundle verify: a bundle of N chained entries with a signed checkpoint every
  1,000 entries is written to a temp file in both formats (1: entries as
  objects; 2: rows with the canonical details text, what export writes);
  ``courtroom-client verify``'s code (``load_bundle`` + ``verify_bundle``: JSON
  parse, chain v1, the RFC 6962 tree, every signature) is timed on each, in
  one pass (``workers=1``) and as the CLI runs it (forked processes over
  ranges, one per CPU), beside chain v1 alone (``verify_export`` over the same
  entries as JSON Lines: what an export costs) and, with ``--before DIR`` (a
  checkout of an earlier commit, e.g. ``git worktree add`` or ``git archive``),
  that commit's verifier on the format 1 file in a subprocess. The cases run
  in alternating rounds (A/B on a shared machine); each is reported as the
  median wall-clock rate and per CPU second (this process and its forked
  workers, or the subprocess);
* inclusion proof: the tree of an N-entry session is stored (``merkle_nodes``,
  built with ``CompactRange`` as the server builds it; not timed), then
  ``RecordKeeper.inclusion`` (the route's server-side work: session row, tree
  size, one query for the O(log n) nodes, folding) is timed for random entries,
  beside the baseline of the same store's single-entry read
  (``SessionStore.entries(sid, seq, 1)``).

Ends with one JSON line per case (``{"bench": "bundle_verify", ...}``).
Not a test: it prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (
    NOISE_CORES,
    Neighbours,
    Row,
    clean_case,
    install_loop,
    machine,
    print_table,
    scratch_pg,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clients._bundle import (
    keys_from_document,
    load_bundle,
    verify_bundle,
)
from clients._bundle_ranges import _workers as bundle_workers
from clients._verify import verify_export
from protocol import GENESIS_HASH, canonical_details, entry_hash_canonical, format_timestamp
from protocol.checkpoint import Checkpoint, public_key_bytes
from protocol.merkle import CompactRange, leaf_hash, verify_inclusion
from server.common.signing import Keyring, PublicKey
from server.live.broker import MemoryBroker
from server.live.courtroom import Courtroom
from server.live.record import BOUNDARIES, RecordKeeper
from server.rules.commands import LogCustom
from server.rules.session import RulesConfig
from server.rules.state import Actor
from store import STORED_LEVEL, RecordStore, SessionStore, TreeState, migrate
from store._record_schema import merkle_nodes as MN
from store._schema import courtroom_sessions as S, session_log_entries as E
from timers import system_clock

JUDGE = Actor(user_id="1", account_role="JUDGE", name="Bench Judge")
SID = "00000000-0000-4000-8000-000000000001"


def make_bundle(n: int, path: Path, jsonl: Path, ring: Keyring, version: int = 2) -> Path:
    """Write an n-entry bundle in ``version``'s format to ``path`` (and the entries as
    JSON Lines to ``jsonl``); also the format 1 bundle beside it when ``version`` is 2.
    Returns the format 1 bundle's path."""
    ts = format_timestamp(datetime.now(UTC))
    tree = CompactRange()
    prev = GENESIS_HASH
    cps: list[dict[str, Any]] = []
    v1 = path if version == 1 else path.with_suffix(".v1.json")
    with (
        open(v1, "w") as out,
        open(jsonl, "w") as lines,
        open(path if version == 2 else os.devnull, "w") as rows,
    ):
        out.write(f'{{"format": "courtroom-bundle/1", "session_id": "{SID}", "status": "active",')
        out.write(' "entries": [')
        if version == 2:
            rows.write(f'{{"format":"courtroom-bundle/2","session_id":"{SID}","status":"active",')
            rows.write('"entries":[')
        for seq in range(1, n + 1):
            details = canonical_details({"i": seq, "note": "objection sustained", "by": "bench"})
            h = entry_hash_canonical(SID, seq, ts, "NOTE", "1", details, prev)
            entry = {
                "session_id": SID,
                "sequence_number": seq,
                "timestamp": ts,
                "event_type": "NOTE",
                "actor_id": "1",
                "details": json.loads(details),
                "previous_hash": prev,
                "hash": h,
            }
            text = json.dumps(entry)
            out.write(("," if seq > 1 else "") + text)
            lines.write(text + "\n")
            if version == 2:  # as the bundle route writes it: one row a line
                row = [SID, seq, ts, "NOTE", "1", details, prev, h]
                rows.write(("," if seq > 1 else "") + "\n" + json.dumps(row, separators=(",", ":")))
            prev = h
            tree.append(leaf_hash(h))
            if seq % 1000 == 0 or seq == n:
                cp = ring.sign(Checkpoint(SID, seq, tree.root(), h, ts))
                cps.append({**cp.as_dict(), "reason": "turn"})
        tail = ', "checkpoints": ' + json.dumps(cps)
        tail += ', "keys": ' + json.dumps([k.as_dict() for k in ring.keys]) + "}"
        out.write("]" + tail)
        if version == 2:
            rows.write("\n]" + tail)
    return v1


def python_verify(
    path: Path, trusted: dict[str, bytes], n: int, workers: int | None = None
) -> tuple[int, float]:
    """``courtroom-client verify``'s code on a bundle of ``n`` entries: (n, seconds).

    ``workers``: processes over ranges (None: as many as the client would use).
    """
    t0 = time.perf_counter()
    report = verify_bundle(load_bundle(path), trusted, workers=workers)
    dt = time.perf_counter() - t0
    assert report.valid and report.signed_size == n, report.failures
    return n, dt


_BEFORE = """
import json, sys, time
from clients._bundle import keys_from_document, load_bundle, verify_bundle
path, keys, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
trusted = keys_from_document(json.load(open(keys)))
t0, c0 = time.perf_counter(), time.process_time()
report = verify_bundle(load_bundle(path), trusted, workers=1)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
assert report.valid and report.signed_size == n, report.failures
print(json.dumps({"seconds": dt, "cpu": cpu}))
"""


def before_verify(tree: Path, path: Path, keys: Path, n: int) -> tuple[float, float]:
    """An earlier commit's verifier (``tree``: its checkout) on ``path``, in a subprocess:
    (wall seconds, CPU seconds) of its ``load_bundle`` + ``verify_bundle`` alone."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _BEFORE, str(path), str(keys), str(n)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return float(got["seconds"]), float(got["cpu"])


def _cpu_now() -> float:
    """This process's CPU seconds and its waited-for children's (the forked workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


async def bench_verify(
    n: int, before: Path | None = None, repeat: int = 3
) -> tuple[list[Row], dict[str, float]]:
    """The verify cases in alternating rounds; rows (median wall) and {case: entries per CPU s}."""
    private = Ed25519PrivateKey.generate()
    public = PublicKey("courtroom", public_key_bytes(private.public_key()), None, None)
    ring = Keyring("courtroom", private, [public])
    trusted = keys_from_document(ring.document())
    with tempfile.TemporaryDirectory() as tmp:
        path, jsonl = Path(tmp) / "b.json", Path(tmp) / "b.jsonl"
        v1 = make_bundle(n, path, jsonl, ring)
        keys = Path(tmp) / "keys.json"
        keys.write_text(json.dumps(ring.document()))
        print(
            f"  bundle: format 2 {path.stat().st_size / 1e6:.1f} MB, format 1 {v1.stat().st_size / 1e6:.1f} MB"
        )
        workers = bundle_workers()  # what courtroom-client verify uses here

        def in_process(file: Path, w: int | None) -> Callable[[], tuple[float, float]]:
            def run() -> tuple[float, float]:
                c0 = _cpu_now()
                _, dt = python_verify(file, trusted, n, w)
                return dt, _cpu_now() - c0

            return run

        def chain_only() -> tuple[float, float]:
            c0, t0 = _cpu_now(), time.perf_counter()
            r = verify_export(jsonl)
            dt = time.perf_counter() - t0
            assert r.valid and r.entries == n, r
            return dt, _cpu_now() - c0

        cps = f"{n // 1000 + (n % 1000 > 0)} checkpoints"
        cases: dict[str, Callable[[], tuple[float, float]]] = {
            "baseline: verify_export (chain v1 over JSON Lines)": chain_only,
        }
        if before is not None:
            cases[f"before ({before.name}): format 1, one pass"] = lambda: before_verify(
                before, v1, keys, n
            )
        cases[f"format 1, one pass ({cps})"] = in_process(v1, 1)
        cases[f"format 2, one pass ({cps})"] = in_process(path, 1)
        cases[f"format 2, {workers} processes over ranges"] = in_process(path, None)
        runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in cases}
        for _ in range(repeat):  # A/B: every case once per round
            for name, run in cases.items():
                watch = Neighbours()
                dt, cpu = run()
                runs[name].append((dt, cpu, watch.busy()[0]))
        rows: list[Row] = []
        per_cpu: dict[str, float] = {}
        base = next(iter(cases))
        first = f"format 1, one pass ({cps})"
        for name, got in runs.items():
            got.sort()
            dt, cpu, _ = got[len(got) // 2]
            noisy = max(o for _, _, o in got)
            note = f"median of {len(got)}, range {n / got[-1][0]:,.0f}-{n / got[0][0]:,.0f}"
            if noisy > NOISE_CORES:
                note += f" NOISY({noisy:.2f} cores elsewhere)"
            baseline = None if name == base else (base if name.startswith("before") else first)
            if name == first:
                baseline = next((k for k in cases if k.startswith("before")), base)
            rows.append(Row(name, n, dt, unit="entries/s", baseline=baseline, note=note))
            per_cpu[name] = n / statistics.median(c for _, c, _ in got)
        return rows, per_cpu


def _stand_in_entry(sid: str, seq: int, ts: str, h: str, prev: str) -> dict[str, Any]:
    return {
        "session_id": sid,
        "sequence_number": seq,
        "timestamp": ts,
        "event_type": "NOTE",
        "actor_id": None,
        "details": "{}",
        "previous_hash": prev,
        "hash_chain": h,
        "created_at": ts,
    }


async def bench_proof(
    label: str, url: str, n: int, samples: int
) -> tuple[list[Row], dict[str, float]]:
    await migrate(url)
    store = SessionStore(url)
    court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
    records = RecordStore(store)
    private = Ed25519PrivateKey.generate()
    keeper = RecordKeeper(store, records, Keyring("courtroom", private, []), system_clock)
    try:
        created = await court.create_session(JUDGE, title="bench proofs")
        sid = created.entries[0].session_id
        # An n-entry log and its tree, as the writer leaves them: the entries
        # (stand-in hashes; a proof's cost does not depend on them: the nodes
        # below STORED_LEVEL are rebuilt from these), the nodes from
        # STORED_LEVEL up, and the tree's size and edge in the session's row.
        t0 = time.perf_counter()
        tree = CompactRange()
        ts = format_timestamp(datetime.now(UTC))
        log: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        async with store.write_engine.begin() as c:
            for i in range(n):
                h = f"{i:064x}"
                if i:  # the session's first entry is its real creation
                    log.append(_stand_in_entry(sid, i + 1, ts, h, f"{i - 1:064x}"))
                for lv, idx, node in tree.extend((leaf_hash(h),), STORED_LEVEL):
                    nodes.append({"session_id": sid, "level": lv, "idx": idx, "hash": node})
                if len(log) >= 20_000:
                    await c.execute(E.insert(), log)
                    log = []
            if log:
                await c.execute(E.insert(), log)
            for k in range(0, len(nodes), 20_000):
                await c.execute(MN.insert(), nodes[k : k + 20_000])
            edge = TreeState.of(tree).edge
            await c.execute(
                S.update()
                .where(S.c.id == sid)
                .values(head_seq=n, tree_size=tree.size, tree_frontier=edge)
            )
        print(f"  {label}: stored the tree of {n:,} entries in {time.perf_counter() - t0:.1f} s")
        rng = random.Random(7)
        seqs = [rng.randint(1, n) for _ in range(samples)]
        # Warm the connection pool once, and check that what is timed is a real proof.
        p = await keeper.inclusion(sid, seqs[0], n)
        leaf = leaf_hash(f"{seqs[0] - 1:064x}")
        proof = [bytes.fromhex(h) for h in p["proof"]]
        assert verify_inclusion(leaf, seqs[0] - 1, n, proof, tree.root())
        times: list[float] = []

        async def proofs() -> tuple[int, float]:
            t0 = time.perf_counter()
            for s in seqs:
                t = time.perf_counter()
                await keeper.inclusion(sid, s, n)
                times.append(time.perf_counter() - t)
            return len(seqs), time.perf_counter() - t0

        async def reads() -> tuple[int, float]:
            t0 = time.perf_counter()
            for _ in seqs:
                await store.entries(sid, 1, 1)
            return len(seqs), time.perf_counter() - t0

        base = f"baseline {label}: one-entry read"
        rows = [
            await clean_case(base, reads, unit="ops/s", repeat=3, retries=0),
            await clean_case(
                f"{label}: inclusion proof, {n:,} entries",
                proofs,
                unit="ops/s",
                repeat=3,
                retries=0,
                baseline=base,
            ),
        ]
        # The target is "any entry": the tail and the worst of every timed proof, not only p50.
        times.sort()
        p50 = statistics.median(times) * 1000
        p99 = times[int(len(times) * 0.99) - 1] * 1000
        worst = times[-1] * 1000
        print(
            f"  {label}: inclusion proof server time p50 {p50:.2f} ms, p99 {p99:.2f} ms,"
            f" max {worst:.2f} ms ({len(times)} proofs)"
        )
        ms = {"p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(worst, 3)}
        return rows, ms
    finally:
        await store.close()


async def bench_append_cost(label: str, url: str, k: int, per: int) -> list[Row]:
    """Appends/s through ``Courtroom.execute`` with and without the record keeper.

    ``k`` sessions, one client each sending ``per`` NOTE commands in turn (as
    bench_append.py's "sessions" case). The baseline's writer grows no tree
    (``SessionStore(trees=False)``) and no keeper runs: the write path alone.
    With the tree, the writer grows it in each batch's transaction and the
    keeper signs on the same event loop: that is the cost measured. After the
    timed span the trees are waited for and checked (every entry is in its tree).
    The worst case signs a checkpoint after every entry (NOTE made a boundary),
    so every pass is stored at once.
    """
    await migrate(url)
    private = Ed25519PrivateKey.generate()
    rows: list[Row] = []
    for case, boundary in (("without tree", None), ("with tree", False), ("with tree", True)):
        store = SessionStore(url, trees=boundary is not None)
        records = RecordStore(store)
        try:
            court = Courtroom(store, MemoryBroker(), system_clock, RulesConfig())
            keeper = None
            if boundary is not None:
                keeper = RecordKeeper(store, records, Keyring("c", private, []), system_clock)
                court.on_commit(keeper.hook)
                await keeper.start()
                # Its start-up pass (catching up the trees the baseline's writer did not
                # grow) ends before NOTE becomes a boundary, or it would sign every old NOTE.
                await keeper.idle()
            if boundary:
                BOUNDARIES["NOTE"] = "turn"
            try:

                async def run(
                    court: Courtroom = court,
                    keeper: RecordKeeper | None = keeper,
                    records: RecordStore = records,
                ) -> tuple[int, float]:
                    created = await asyncio.gather(
                        *(court.create_session(JUDGE, title="bench") for _ in range(k))
                    )
                    sids = [c.entries[0].session_id for c in created]

                    async def client(s: str) -> None:
                        for i in range(per):
                            await court.execute(s, LogCustom("NOTE", {"i": i}), JUDGE)

                    t0 = time.perf_counter()
                    await asyncio.gather(*(client(s) for s in sids))
                    dt = time.perf_counter() - t0
                    if keeper is not None:
                        await keeper.idle()
                        sizes = [(await records.tree(s)).size for s in sids]
                        assert sizes == [per + 1] * k, sizes
                    return k * per, dt

                name = f"{label}: appends, {case}"
                if boundary:
                    name += ", a checkpoint after every entry"
                base = f"{label}: appends, without tree"
                rows.append(
                    await clean_case(
                        name,
                        run,
                        unit="appends/s",
                        repeat=3,
                        retries=0,
                        baseline=None if boundary is None else base,
                    )
                )
            finally:
                BOUNDARIES.pop("NOTE", None)
                if keeper is not None:
                    await keeper.close()
        finally:
            await store.close()
    return rows


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100,000 entries instead of 1,000,000")
    ap.add_argument("--entries", type=int)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--only", choices=("verify", "proof", "append"), action="append")
    ap.add_argument("--before", type=Path, help="a checkout of an earlier commit: its verifier too")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the verify cases")
    args = ap.parse_args()
    only = set(args.only or ("verify", "proof", "append"))
    n = args.entries or (100_000 if args.quick else 1_000_000)
    print(machine())
    results: list[dict[str, Any]] = []
    if "verify" in only:
        rows, per_cpu = await bench_verify(n, args.before, args.repeat)
        print_table(f"Bundle verify, {n:,} entries (rounds alternate the cases)", rows)
        print("per CPU second (median round; with its forked workers, or the subprocess):")
        for name, rate in per_cpu.items():
            print(f"  {name}: {rate:,.0f} entries per CPU second")
        print(f"load average: {os.getloadavg()}")
        for r in rows:
            results.append(
                {
                    "bench": "bundle_verify",
                    "case": r.name,
                    "entries": n,
                    "per_s": round(r.rate),
                    "per_cpu_s": round(per_cpu[r.name]),
                    "baseline": r.baseline,
                }
            )
    proof_rows: list[Row] = []
    backends = [b for b in ("sqlite", "postgres") if args.backend in (b, "both")]
    if "append" in only:
        k, per = (16, 50) if args.quick else (64, 100)
        append_rows: list[Row] = []
        for b in backends:
            async with _database(b) as url:
                if url is not None:
                    append_rows += await bench_append_cost(b, url, k, per)
        if append_rows:
            print_table(f"Appends with the record keeper ({k} sessions x {per})", append_rows)
            by = {r.name: r for r in append_rows}
            for r in append_rows:
                if r.baseline:
                    results.append(
                        {
                            "bench": "append_record_cost",
                            "case": r.name,
                            "per_s": round(r.rate),
                            "baseline_per_s": round(by[r.baseline].rate),
                        }
                    )
    if "proof" not in only:
        backends = []
    for b in [k for k in ("sqlite", "postgres") if k in backends]:
        async with _database(b) as url:
            if url is None:
                print("PostgreSQL unavailable: skipped")
                continue
            pr, ms = await bench_proof(b, url, n, 300)
            proof_rows += pr
            case = {"bench": "inclusion_proof", "backend": b, "entries": n}
            results.append({**case, **ms, "per_s": round(pr[1].rate)})
    if proof_rows:
        print_table(f"Inclusion proofs, {n:,} entries", proof_rows)
    for line in results:
        print(json.dumps(line))


@contextlib.asynccontextmanager
async def _database(backend: str) -> AsyncIterator[str | None]:
    if backend == "postgres":
        async with scratch_pg() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/a.db"


if __name__ == "__main__":
    install_loop("asyncio")
    asyncio.run(main())
