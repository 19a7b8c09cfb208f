"""One outgoing message, encoded once, in the two forms a socket may want.

Fan-out sends the same message to every subscriber. ``OutFrame`` wraps the
JSON text once, with its complete WebSocket frame (``wire``, for the direct
path, see ``server/live/wire.py``; a plain attribute, as it is read once per
delivery) and, built at most once and only if asked, its ``str`` (for the
ASGI ``websocket.send`` path). A server-to-client frame is unmasked
and, with no extension applied, byte-identical for every connection: this is
what ``websockets.broadcast()`` exploits, and so do we.
"""

from __future__ import annotations

import struct

_TEXT_FIN = 0x81  # FIN + opcode 1 (text); RSV bits clear: an uncompressed message


def text_frame(payload: bytes) -> bytes:
    """RFC 6455 section 5.2: an unmasked, unfragmented text frame of ``payload``."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", _TEXT_FIN, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", _TEXT_FIN, 126, n)
    else:
        header = struct.pack("!BBQ", _TEXT_FIN, 127, n)
    return header + payload


class OutFrame:
    __slots__ = ("data", "wire", "_text", "_joined")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.wire = text_frame(data)
        self._text: str | None = None
        self._joined: tuple[OutFrame, bytes] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.data.decode()
        return self._text

    def wire_then(self, after: OutFrame) -> bytes:
        """This frame followed by ``after`` as one write (an event and its tick)."""
        joined = self._joined
        if joined is None or joined[0] is not after:
            joined = self._joined = (after, self.wire + after.wire)
        return joined[1]

    def __repr__(self) -> str:
        return f"OutFrame({self.data[:60]!r})"
