"""The client's errors.

    ClientError
    ├── CommandError            the server refused a command (wire ``error`` frame)
    ├── ConnectionClosedError   the connection ended for good (terminal close code,
    │                           or reconnecting gave up); ``code`` is the close code
    ├── HTTPError               an HTTP call (login, export) failed
    ├── UnreadableExport        an export file is not JSON Lines (not a chain failure)
    └── ResyncError             the server's log is behind what this client already
                                delivered: the two copies of the log diverged

They do not derive from :class:`protocol.errors.CourtroomError`: that tree
carries a wire ``ErrorCode`` in ``code`` for the server to map to HTTP and
close codes, while here ``code`` is whatever the server sent (a close code is
an ``int``). Refused commands keep the wire code as a string so that a newer
server's code still reaches the caller intact.
"""

from __future__ import annotations

__all__ = [
    "ClientError",
    "CommandError",
    "ConnectionClosedError",
    "HTTPError",
    "ResyncError",
    "UnreadableExport",
]


class ClientError(Exception):
    """Base of every error the courtroom client raises on purpose."""


class CommandError(ClientError):
    """The server refused a command; nothing was written.

    Attributes:
        code: the wire error code (``conflict``, ``forbidden``, ...; see
            :class:`protocol.ErrorCode`).
        message: the server's human-readable reason.
        temporary: the server says retrying later may succeed.
        ref: the ``id`` of the refused command.
    """

    def __init__(
        self, code: str, message: str, *, temporary: bool = False, ref: int | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.temporary = temporary
        self.ref = ref


class ConnectionClosedError(ClientError):
    """The connection is over and the client will not reconnect by itself.

    Attributes:
        code: the WebSocket close code (1006 when the connection was lost
            without a close frame or could not be opened).
        reason: the close reason, or what went wrong.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        code = int(code)  # a CloseCode prints as its name in messages otherwise
        super().__init__(f"connection closed with {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class ResyncError(ClientError):
    """The server's head is behind the last entry this client delivered.

    The server lost entries this client already has (a restore from an old
    backup, another data directory). Resuming cannot give a gap-free stream,
    so the client stops instead of guessing.
    """


class HTTPError(ClientError):
    """An HTTP call failed: refused by the server, or the server could not be reached.

    Attributes:
        status: the HTTP status, or None when no response came.
        code: the wire error code of the response body (``unauthorized`` ...), if any.
        detail: the server's explanation, or the transport error.
    """

    def __init__(self, status: int | None, detail: str, code: str | None = None) -> None:
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{where}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class UnreadableExport(ClientError):
    """An export cannot be read: missing, not UTF-8, or a line that is not JSON.

    This is distinct from an export that reads fine but does not verify.

    Attributes:
        line: the 1-based line number, when the problem is in one line.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line
