"""Resident memory per idle observer connection, beside a bare ``websockets`` server.

    .venv/bin/python bench/bench_idle_memory.py [--quick] [--sizes 1000,5000,10000,20000]
        [--client-procs 4] [--settle 2]

About 2-3 minutes with the defaults on 2 cores.

Processes (all on this machine):

* the courtroom server: ``python -m server.node.cli serve`` (uvicorn, the real app, its
  embedded default: a SQLite file in a temp dir, the in-process broker); one
  session, created over HTTP; every connection is an anonymous observer of it;
* the baseline: a plain ``websockets.asyncio.server.serve`` (``--role
  baseline-server``) whose handler reads the hello, sends a welcome and waits
  for the close (``bench/_common.py`` ``hold_observer``): the least a Python
  server can hold per connection with the same library;
* ``--client-procs`` client processes (``--role clients``) holding the
  connections with a minimal RFC 6455 client (``IdleClient``: handshake, hello,
  wait for the welcome, answer pings, nothing else);
* this driver.

Each system in turn: start it, open and close one connection (so lazy imports
and first-use caches are paid), wait for the process to settle, read its
resident set (``VmRSS`` in ``/proc/PID/status``) as the base, then grow the
crowd to each size in ``--sizes`` and, once every connection has its welcome
and the resident set has stopped moving, read it again.

    bytes_per_conn = (VmRSS at N connections - VmRSS at the base) / N

The last size is 20,000 on purpose: the open-files cap (``RLIMIT_NOFILE``) is
20,000 here, hard and soft, and each server also holds its listening socket,
its database files, pipes and its event loop: a few descriptors short of
20,000 connections. The table says how many connections each server really
held, and what happened to the rest.

Prints a table and one JSON line per size:
``{"bench": "idle_memory", "connections": N, "bytes_per_conn": X,
"baseline_bytes_per_conn": Y, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Api,
    Baseline,
    ClientProc,
    Neighbours,
    Node,
    client_role,
    create_users,
    hold_observer,
    machine,
    raise_nofile,
    reply,
    server_env,
    stop_clients,
)

HELLO = json.dumps({"type": "hello", "v": 1, "token": None, "as": "observer"}).encode()


# --------------------------------------------------------------------------
# role: clients
# --------------------------------------------------------------------------


class IdleClient(asyncio.Protocol):
    """Handshake, hello, welcome; then only answers the server's pings."""

    def __init__(self, host: str, path: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the welcome ({exc})"))

    def send(self, opcode: int, payload: bytes) -> None:
        key = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        else:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        self.transport.write(head + key + masked)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(bytes(buf[:120]).decode("latin-1")))
                self.transport.close()
                return
            del buf[: end + 4]
            self.upgraded = True
            self.send(0x1, HELLO)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            ln, h = buf[pos + 1] & 0x7F, 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, h = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, h = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < h + ln:
                break
            op = buf[pos] & 0x0F
            payload = bytes(buf[pos + h : pos + h + ln])
            pos += h + ln
            if op == 0x1 and not self.ready.done():
                if payload.startswith(b'{"type":"welcome"'):
                    self.ready.set_result(None)
                elif not payload.startswith((b'{"type":"event"', b'{"type":"tick"')):
                    self.ready.set_exception(ConnectionError(payload[:200].decode()))
            elif op == 0x9:
                self.send(0xA, payload)
            elif op == 0x8:
                if not self.closed:
                    self.send(0x8, payload[:2])
                self.closed = True
                self.transport.close()
        del buf[:pos]


async def client_main() -> None:
    conns: list[IdleClient] = []

    async def open_one(port: int, path: str, sem: asyncio.Semaphore, timeout: float) -> str:
        async with sem:
            loop = asyncio.get_running_loop()
            try:
                _, proto = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: IdleClient(f"127.0.0.1:{port}", path), "127.0.0.1", port
                    ),
                    timeout,
                )
                await asyncio.wait_for(proto.ready, timeout)
            except (OSError, ConnectionError, TimeoutError) as exc:
                return type(exc).__name__ + (f": {str(exc)[:80]}" if str(exc) else "")
            conns.append(proto)
            return ""

    async def handle(cmd: dict[str, Any]) -> bool:
        if cmd["op"] == "connect":
            t0 = time.monotonic()
            sem = asyncio.Semaphore(cmd.get("concurrency", 64))
            results = await asyncio.gather(
                *(
                    open_one(cmd["port"], cmd["path"], sem, cmd.get("timeout", 20.0))
                    for _ in range(cmd["n"])
                )
            )
            errors: dict[str, int] = {}
            for r in results:
                if r:
                    errors[r] = errors.get(r, 0) + 1
            reply(
                {
                    "op": "connected",
                    "ok": sum(1 for r in results if not r),
                    "errors": errors,
                    "seconds": time.monotonic() - t0,
                }
            )
        elif cmd["op"] == "alive":
            reply({"op": "alive", "n": sum(1 for c in conns if not c.closed)})
        elif cmd["op"] == "exit":
            return False
        return True

    await client_role(handle)


# --------------------------------------------------------------------------
# role: baseline server
# --------------------------------------------------------------------------


async def baseline_main(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    raise_nofile()
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/control":
            async for _ in ws:
                await ws.send("ack")
            return
        await hold_observer(ws, clients)

    # As the courtroom's uvicorn: no compression, pings every 20 s, a 4,096 backlog.
    async with serve(
        handler, "127.0.0.1", port, compression=None, max_size=2**16, backlog=4096
    ) as server:
        await server.serve_forever()


# --------------------------------------------------------------------------
# role: the driver
# --------------------------------------------------------------------------


def rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def settled_rss(pid: int, settle: float, limit: float = 20.0) -> int:
    """The resident set once it moved by under 0.5 % over ``settle`` seconds."""
    deadline = time.monotonic() + limit
    last = rss(pid)
    while True:
        await asyncio.sleep(settle)
        now = rss(pid)
        if abs(now - last) <= last * 0.005 or time.monotonic() > deadline:
            return now
        last = now


async def measure(
    name: str,
    pid: int,
    port: int,
    path: str,
    sizes: list[int],
    clients: list[ClientProc],
    settle: float,
) -> list[dict[str, Any]]:
    # Warm-up: one connection in and out, so first-use costs are in the base.
    warm = clients[0]
    await warm.send(op="connect", port=port, path=path, n=1)
    assert (await warm.wait("connected", 60))["ok"] == 1
    base = await settled_rss(pid, settle)
    held = 1
    rows = []
    for size in sizes:
        want = size - held
        share = [
            want // len(clients) + (1 if i < want % len(clients) else 0)
            for i in range(len(clients))
        ]
        t0 = time.monotonic()
        for c, n in zip(clients, share, strict=True):
            await c.send(op="connect", port=port, path=path, n=n)
        errors: dict[str, int] = {}
        for c in clients:
            got = await c.wait("connected", 900)
            held += got["ok"]
            for k, v in got["errors"].items():
                errors[k] = errors.get(k, 0) + v
        seconds = time.monotonic() - t0
        now = await settled_rss(pid, settle)
        alive = 0
        for c in clients:
            await c.send(op="alive")
            alive += (await c.wait("alive", 60))["n"]
        rows.append(
            {
                "system": name,
                "size": size,
                "held": alive,
                "rss_base": base,
                "rss": now,
                "per_conn": (now - base) / max(alive, 1),
                "open_files": open_files(pid),
                "connect_s": seconds,
                "errors": errors,
            }
        )
        print(
            f"  {name:10} {size:>6,}: held {alive:,} in {seconds:.1f} s, "
            f"RSS {now / 2**20:.1f} MiB (base {base / 2**20:.1f}), "
            f"{(now - base) / max(alive, 1) / 1024:.1f} KiB/conn, "
            f"{open_files(pid):,} open files" + (f", failed: {errors}" if errors else ""),
            flush=True,
        )
    return rows


async def driver_main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    print(f"# idle memory per observer connection, {machine()}")
    neighbours = Neighbours()
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        # The courtroom server.
        env = server_env(tmp / "data", COURTROOM_LOG_LEVEL="warning")
        create_users(env, [("judge", "JUDGE")])
        wrapper = ["-m", "server.node.cli", "serve", "--app", args.app, "--host", "127.0.0.1"]
        node = Node("courtroom", env, tmp, wrapper if args.app else ())
        node.start()
        clients = [await ClientProc.spawn("bench_idle_memory.py") for _ in range(args.client_procs)]
        try:
            await node.wait_healthy()
            api = Api(node.base_url)
            await api.login("judge")
            sid = (await api.call("POST", "/api/session/create", json={"title": "idle"}))["id"]
            await api.close()
            results["courtroom"] = await measure(
                "courtroom", node.pid, node.port, f"/ws/sessions/{sid}", sizes, clients, args.settle
            )
        finally:
            await stop_clients(clients)
            node.stop()
        tail = node.tail()
        limit_lines = [ln for ln in tail.splitlines() if "open files" in ln or "resource" in ln]

        if args.no_baseline:
            return
        # The baseline, with fresh client processes.
        base = Baseline("bench_idle_memory.py")
        clients = [await ClientProc.spawn("bench_idle_memory.py") for _ in range(args.client_procs)]
        try:
            await base.connect()
            await base.control.close()  # type: ignore[union-attr]
            base.control = None
            results["baseline"] = await measure(
                "baseline", base.pid, base.port, "/", sizes, clients, args.settle
            )
        finally:
            await stop_clients(clients)
            await base.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"{'connections':>11} | {'courtroom held':>14} | {'KiB/conn':>8} | {'baseline held':>13} | {'KiB/conn':>8} | ratio"
    )
    for c, b in zip(results["courtroom"], results["baseline"], strict=True):
        print(
            f"{c['size']:>11,} | {c['held']:>14,} | {c['per_conn'] / 1024:>8.1f} | "
            f"{b['held']:>13,} | {b['per_conn'] / 1024:>8.1f} | {c['per_conn'] / b['per_conn']:.2f}"
        )
    if limit_lines:
        print("courtroom log at the cap:", *limit_lines[-3:], sep="\n  ")
    print(neighbours.line())
    for c, b in zip(results["courtroom"], results["baseline"], strict=True):
        print(
            json.dumps(
                {
                    "bench": "idle_memory",
                    "connections": c["size"],
                    "bytes_per_conn": round(c["per_conn"]),
                    "baseline_bytes_per_conn": round(b["per_conn"]),
                    "held": c["held"],
                    "baseline_held": b["held"],
                    "rss_bytes": c["rss"],
                    "baseline_rss_bytes": b["rss"],
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000,10000,20000")
    ap.add_argument("--client-procs", type=int, default=4)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds between RSS reads")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 500 and 2,000, 2 clients")
    ap.add_argument("--role", default="driver", help=argparse.SUPPRESS)
    # What-if: serve another ASGI app (module:attribute) in place of server.node.main:app.
    ap.add_argument("--app", default="", help=argparse.SUPPRESS)
    ap.add_argument("--no-baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.client_procs = "500,2000", 2
    if args.role == "clients":
        asyncio.run(client_main())
    elif args.role == "baseline-server":
        asyncio.run(baseline_main(args.port))
    else:
        asyncio.run(driver_main(args))


if __name__ == "__main__":
    main()
