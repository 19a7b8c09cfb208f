"""The one error hierarchy of the courtroom, shared by server, store and clients.

    CourtroomError                 code            HTTP  close
    ├── ProtocolError              bad_request     400   (1008 before welcome)
    │   └── FrameTooLarge          too_large       413   1009
    ├── Unauthorized               unauthorized    401   4401
    ├── PermissionDenied           forbidden       403   4403
    │   └── FeatureDisabled        forbidden       403   4403
    ├── NotFound                   not_found       404   4404
    ├── InvalidTransition          conflict        409
    ├── Conflict                   conflict        409
    ├── ValidationFailed           bad_request     422
    ├── RateLimited                rate_limited    429   1013
    ├── Unavailable                unavailable     503   1013   (temporary)
    └── StoreError                 internal        500   1011
        └── ChainIntegrityError    internal        500

Every refusal carries a wire ``code`` from :class:`protocol.ErrorCode`; the
server maps the hierarchy to HTTP statuses and WebSocket errors in one place
(``server/common/errors.py``). A refused command writes nothing.
"""

from __future__ import annotations

from protocol._codes import ErrorCode


class CourtroomError(Exception):
    """Base of every error the courtroom raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL
    http_status: int = 500
    temporary: bool = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__


class ProtocolError(CourtroomError):
    """A message that is not valid JSON, not an object, or not of the contract's shape."""

    code = ErrorCode.BAD_REQUEST
    http_status = 400


class FrameTooLarge(ProtocolError):
    code = ErrorCode.TOO_LARGE
    http_status = 413


class Unauthorized(CourtroomError):
    code = ErrorCode.UNAUTHORIZED
    http_status = 401


class PermissionDenied(CourtroomError):
    code = ErrorCode.FORBIDDEN
    http_status = 403


class FeatureDisabled(PermissionDenied):
    """A feature flag is off; the seeds answer 403."""


class NotFound(CourtroomError):
    code = ErrorCode.NOT_FOUND
    http_status = 404


class InvalidTransition(CourtroomError):
    """An illegal state transition; the state is left unchanged."""

    code = ErrorCode.CONFLICT
    http_status = 409


class Conflict(CourtroomError):
    """A legal command at the wrong moment: not your turn, already submitted."""

    code = ErrorCode.CONFLICT
    http_status = 409


class ValidationFailed(CourtroomError):
    """Well-formed input that breaks a domain constraint (the seeds' 422)."""

    code = ErrorCode.BAD_REQUEST
    http_status = 422


class RateLimited(CourtroomError):
    code = ErrorCode.RATE_LIMITED
    http_status = 429
    temporary = True


class Unavailable(CourtroomError):
    """A dependency (database, broker) is down; retry later."""

    code = ErrorCode.UNAVAILABLE
    http_status = 503
    temporary = True


class StoreError(CourtroomError):
    code = ErrorCode.INTERNAL
    http_status = 500


class ChainIntegrityError(StoreError):
    """The stored chain does not verify where the server expected it to."""


__all__ = [
    "ChainIntegrityError",
    "Conflict",
    "CourtroomError",
    "FeatureDisabled",
    "FrameTooLarge",
    "InvalidTransition",
    "NotFound",
    "PermissionDenied",
    "ProtocolError",
    "RateLimited",
    "StoreError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
]
