"""Login throttling: exponential back-off per account and per client address.

Each key (a username, a client address) may fail ``free`` times in a row; every
further failure locks it for twice as long as the previous one (1 s, 2 s, 4 s …
up to ``max_backoff_ms``). A locked key is refused with 429 and ``Retry-After``
before the password is even checked, so a locked account costs the server no
hashing. A successful sign-in clears its account's count (not its address's: one
right password must not reset a spray from that address). Keys idle for longer
than the maximum back-off are forgotten, so memory stays bounded. Time is an input
(``clock``, epoch ms), as everywhere in the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocol.errors import RateLimited

__all__ = ["LoginThrottle", "Throttled"]


class Throttled(RateLimited):
    """429: too many failed sign-ins; ``retry_after`` is in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(slots=True)
class _Record:
    failures: int = 0
    locked_until: int = 0
    last: int = 0


class _Keyed:
    def __init__(self, free: int, max_backoff_ms: int) -> None:
        self.free = free
        self.max_backoff_ms = max_backoff_ms
        self.records: dict[str, _Record] = {}

    def wait_ms(self, key: str, now: int) -> int:
        r = self.records.get(key)
        return 0 if r is None else max(0, r.locked_until - now)

    def fail(self, key: str, now: int) -> None:
        r = self.records.setdefault(key, _Record())
        r.failures += 1
        r.last = now
        over = r.failures - self.free
        if over > 0:
            r.locked_until = now + min(self.max_backoff_ms, 1000 * 2 ** min(over - 1, 30))
        if len(self.records) > 10_000:
            self.forget(now)

    def clear(self, key: str) -> None:
        self.records.pop(key, None)

    def forget(self, now: int) -> None:
        idle = [k for k, r in self.records.items() if now - r.last > 2 * self.max_backoff_ms]
        for k in idle:
            del self.records[k]


class LoginThrottle:
    def __init__(
        self,
        clock: Callable[[], int],
        *,
        free_per_account: int = 5,
        free_per_address: int = 20,
        max_backoff_ms: int = 900_000,
    ) -> None:
        self.clock = clock
        self.accounts = _Keyed(free_per_account, max_backoff_ms)
        self.addresses = _Keyed(free_per_address, max_backoff_ms)

    def check(self, username: str, address: str) -> None:
        """Raises:
        Throttled: the account or the address is locked for now.
        """
        now = self.clock()
        wait = max(
            self.accounts.wait_ms(username.lower(), now), self.addresses.wait_ms(address, now)
        )
        if wait > 0:
            raise Throttled("too many failed sign-ins: try again later", -(-wait // 1000))

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        self.accounts.fail(username.lower(), now)
        self.addresses.fail(address, now)

    def succeeded(self, username: str) -> None:
        self.accounts.clear(username.lower())
