"""NOTE streams for the fault tests (test_kill_writer.py, test_database_down.py).

A stream is one client logging NOTEs one after another, each sent once the one
before was answered, until the first that does not succeed. Its details
``{"c": client, "i": i}`` name the client and count its commands from 0, so the
log read back tells whose command each entry is. What was acknowledged goes
into an ``Acked``; what ended the stream is returned, for the test to judge.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2 as httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from protocol import verify_entries

# One session's acknowledged NOTEs: (client, i) -> the sequence number it was given.
Acked = dict[tuple[str, int], int]
PAGE = 10_000  # the most entries GET /logs returns at once


def note(client: str, i: int) -> dict[str, Any]:
    return {"c": client, "i": i}


async def http_notes(
    http: httpx.AsyncClient, h: dict[str, str], sid: str, client: str, acked: Acked
) -> httpx.Response | httpx.HTTPError:
    """POST NOTEs until one is not a 200; returns that answer, or the error if none came."""
    i = 0
    while True:
        try:
            r = await http.post(
                f"/api/session/{sid}/log",
                json={"event_type": "NOTE", "details": note(client, i)},
                headers=h,
            )
        except httpx.HTTPError as exc:
            return exc  # no answer (the server is gone?): this command's fate is unknown
        if r.status_code != 200:
            return r
        (acked[(client, i)],) = r.json()["entries"]
        i += 1


async def ws_notes(
    ws: ClientConnection, client: str, acked: Acked, timeout: float = 15.0
) -> dict[str, Any] | TimeoutError | ConnectionClosed:
    """Send ``log`` frames (``id`` = i) on a welcomed socket until one gets no ``reply``.

    Returns the ``error`` frame that ended the stream, or what cut it short (no
    answer within ``timeout``, the socket closed). Events and ticks are skipped.
    """
    i = 0
    while True:
        frame = {"type": "log", "id": i, "event_type": "NOTE", "details": note(client, i)}
        try:
            await ws.send(json.dumps(frame))
            while True:
                msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                if msg["type"] == "error":
                    return msg
                if msg["type"] == "reply" and msg["ref"] == i:
                    break
        except (TimeoutError, ConnectionClosed) as exc:
            return exc
        (acked[(client, i)],) = msg["result"]["entries"]
        i += 1


def read_log(http: httpx.Client, h: dict[str, str], sid: str) -> list[dict[str, Any]]:
    """A session's whole log, a page at a time."""
    entries: list[dict[str, Any]] = []
    while True:
        r = http.get(
            f"/api/session/{sid}/logs",
            params={"from_sequence": len(entries) + 1, "limit": PAGE},
            headers=h,
        )
        r.raise_for_status()
        page = r.json()["entries"]
        entries += page
        if len(page) < PAGE:
            return entries


def check_log(entries: list[dict[str, Any]], acked: Acked) -> None:
    """1..N with no gap, a chain that verifies, every acknowledged NOTE whole at its number."""
    assert [e["sequence_number"] for e in entries] == list(range(1, len(entries) + 1))
    result = verify_entries(entries)
    assert result.valid, result
    by_seq = {e["sequence_number"]: e for e in entries}
    for (client, i), seq in acked.items():
        e = by_seq.get(seq)
        assert e is not None, f"acknowledged #{seq} ({client}, {i}) is missing"
        assert e["details"] == note(client, i)
