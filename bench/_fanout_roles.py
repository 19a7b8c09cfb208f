"""The processes bench_fanout starts besides the courtroom server: clients and the baseline.

``client_main`` is ``--role clients`` (stdin: one JSON command a line; stdout:
JSON replies): it opens sets of observers and counts the tagged events each
receives. ``baseline_main`` is ``--role baseline-server``: plain
``websockets`` and ``broadcast()``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _common import (
    client_role,
    hold_observer,
    raise_nofile,
    reply,
)

MARK = b'"event_type":"'


TAG_LEN = 10  # BENCH00001, SYNCS00001: one length, so frame sizes stay equal


def tag(kind: str, n: int) -> str:
    t = f"{kind}{n:05d}"
    assert len(t) == TAG_LEN
    return t


@dataclass
class Expect:
    k: int
    remaining: int
    sample: bytes | None = None


@dataclass
class ClientState:
    sets: dict[str, list[Any]] = field(default_factory=dict)
    expect: dict[str, Expect] = field(default_factory=dict)
    closes: Counter[str] = field(default_factory=Counter)


async def _reader(ws: Any, st: ClientState, set_name: str) -> None:
    from websockets.exceptions import ConnectionClosed

    counts: dict[bytes, int] = {}
    expect = st.expect
    try:
        while True:
            msg = await ws.recv(decode=False)
            i = msg.find(MARK)
            if i < 0:
                continue
            t = msg[i + 14 : i + 14 + TAG_LEN].decode()
            exp = expect.get(t)
            if exp is None:
                continue
            c = counts.get(t, 0) + 1
            counts[t] = c
            if exp.sample is None:
                exp.sample = msg
            if c == exp.k:
                exp.remaining -= 1
                if exp.remaining == 0:
                    reply(
                        {
                            "op": "done",
                            "tag": t,
                            "t_last": time.monotonic(),
                            "sample": exp.sample.decode(),
                        }
                    )
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else "none"
        st.closes[f"{set_name}:{code}"] += 1


async def _open(
    st: ClientState, name: str, url: str, hello: str | None, deflate: bool, sem: asyncio.Semaphore
) -> Any:
    from websockets.asyncio.client import connect

    async with sem:
        ws = await connect(
            url,
            compression="deflate" if deflate else None,
            max_size=None,
            ping_interval=None,
            open_timeout=120,
            close_timeout=2,
        )
        if hello is not None:
            await ws.send(hello)
            first = await asyncio.wait_for(ws.recv(decode=False), 120)
            if b'"welcome"' not in first:
                raise RuntimeError(f"expected a welcome, got {first[:200]!r}")
    ws.reader_task = asyncio.create_task(_reader(ws, st, name))  # type: ignore[attr-defined]
    return ws


async def client_main() -> None:
    st = ClientState()

    async def handle(cmd: dict[str, Any]) -> bool:
        op = cmd["op"]
        if op == "connect":
            t0 = time.monotonic()
            sem = asyncio.Semaphore(cmd.get("concurrency", 50))
            conns = await asyncio.gather(
                *(
                    _open(st, cmd["set"], cmd["url"], cmd.get("hello"), cmd["deflate"], sem)
                    for _ in range(cmd["n"])
                )
            )
            st.sets.setdefault(cmd["set"], []).extend(conns)
            reply({"op": "connected", "n": len(conns), "seconds": time.monotonic() - t0})
        elif op == "expect":
            alive = sum(1 for ws in st.sets[cmd["set"]] if not ws.reader_task.done())
            st.expect[cmd["tag"]] = Expect(k=cmd["k"], remaining=alive)
            reply({"op": "expecting", "tag": cmd["tag"], "alive": alive})
        elif op == "status":
            exp = st.expect.get(cmd["tag"])
            reply(
                {
                    "op": "status",
                    "tag": cmd["tag"],
                    "remaining": None if exp is None else exp.remaining,
                    "closes": dict(st.closes),
                }
            )
        elif op == "exit":
            return False
        return True

    await client_role(handle)


async def baseline_main(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    raise_nofile()
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/control":
            async for frame in ws:
                broadcast(clients, frame)
                await ws.send("ack")
            return
        await hold_observer(ws, clients)

    async with serve(handler, "127.0.0.1", port, max_size=2**20, backlog=4096) as server:
        await server.serve_forever()
