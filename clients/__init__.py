"""The courtroom's Python client: a reconnecting asyncio client and offline tools.

Depends on :mod:`protocol` (the wire contract and chain v1) and on
``websockets``, ``orjson`` and ``httpx2``; never on the server.

    from clients import CourtroomClient

    async with CourtroomClient("http://127.0.0.1:8000", session_id) as client:
        async for msg in client:     # Event | Tick, each entry once, in order
            print(msg)

The command-line tools (``courtroom-client watch|judge|export|verify``) live
in :mod:`clients.cli`.
"""

from __future__ import annotations

from clients._backoff import Backoff
from clients._chain import ChainCheck
from clients._clock import ClockOffset
from clients._connection import CourtroomClient
from clients._errors import (
    ClientError,
    CommandError,
    ConnectionClosedError,
    HTTPError,
    ResyncError,
    UnreadableExport,
)
from clients._http import HttpApi
from clients._messages import (
    Event,
    Pong,
    Reply,
    ServerError,
    ServerMessage,
    Tick,
    Welcome,
    parse_frame,
)
from clients._script import ScriptError, Send, Step, Wait, parse_script
from clients._status import ConnectionStatus
from clients._stream import TRANSIENT_CLOSE_CODES, StreamState, Verdict, reconnect_after
from clients._urls import http_base, ws_url
from clients._verify import verify_export, verify_lines

__all__ = [
    "TRANSIENT_CLOSE_CODES",
    "Backoff",
    "ChainCheck",
    "ClientError",
    "ClockOffset",
    "CommandError",
    "ConnectionClosedError",
    "ConnectionStatus",
    "CourtroomClient",
    "Event",
    "HTTPError",
    "HttpApi",
    "Pong",
    "Reply",
    "ResyncError",
    "ScriptError",
    "Send",
    "ServerError",
    "ServerMessage",
    "Step",
    "StreamState",
    "Tick",
    "UnreadableExport",
    "Verdict",
    "Wait",
    "Welcome",
    "http_base",
    "parse_frame",
    "parse_script",
    "reconnect_after",
    "verify_export",
    "verify_lines",
    "ws_url",
]
