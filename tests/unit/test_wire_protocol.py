"""The trimmed parts of the uvicorn protocol (server/live/wire.py): Inbox, Flag, slotted attributes."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from server.live.wire import CourtroomWebSocketProtocol, Flag, Inbox


async def test_inbox_delivers_in_order_to_a_waiting_reader() -> None:
    inbox: Inbox[int] = Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await reader == 1
    assert inbox.qsize() == 1 and not inbox.empty()
    assert await inbox.get() == 2
    assert inbox.empty()


async def test_a_cancelled_get_loses_nothing() -> None:
    inbox: Inbox[str] = Inbox()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(inbox.get(), 0.01)
    inbox.put_nowait("hello")  # the cancelled reader's future is skipped, not set
    assert await asyncio.wait_for(inbox.get(), 1) == "hello"


async def test_flag_wakes_every_waiter_and_forgets_cancelled_ones() -> None:
    flag = Flag()
    assert flag.is_set()
    await flag.wait()  # set: returns at once
    flag.clear()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    gone = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.gather(*waiters)
    assert gone.cancelled() and flag.is_set()


def test_the_protocol_keeps_uvicorns_attributes_in_slots() -> None:
    config = Config(app=lambda scope, receive, send: None, ws=CourtroomWebSocketProtocol)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        ours = CourtroomWebSocketProtocol(
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        theirs = WebSocketsSansIOProtocol(
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
    finally:
        loop.close()
    # Same attributes, but past 30 in a dict the keys stop being shared with the class.
    assert ours.config is config and ours.ping_interval == theirs.ping_interval
    assert len(vars(ours)) < 30 <= len(vars(theirs))
    assert isinstance(ours.queue, Inbox) and isinstance(ours.writable, Flag)
