"""The sans-I/O core of the client: which frames to deliver, when to resync.

Rule 1: the client delivers entries ``1, 2, 3 ...`` (or from where it started)
exactly once and in order, whatever the connection does. An event at or below
``last_sequence`` is a duplicate (a replay overlapping what was delivered) and
is dropped; an event above ``last_sequence + 1`` reveals a gap, and nothing
after a gap is delivered until the missing entries are fetched by resuming
from ``last_sequence``.

Rule 2: a tick is derived from the head ``sequence_number`` it carries, so it
is delivered only when the client has that entry (not ahead of
``last_sequence``) and it is not older than a tick already delivered.

Rule 3: after a reconnect the server's welcome head must not be behind
``last_sequence``; if it is, the server forgot entries the client delivered
and :class:`ResyncError` is raised.

Nothing here awaits or reads a clock: the connection feeds it messages and
the local receive time, and acts on the verdicts.
"""

from __future__ import annotations

import enum

from clients._chain import ChainCheck
from clients._clock import ClockOffset
from clients._errors import ResyncError
from clients._messages import Event, Tick, Welcome
from protocol import GENESIS_HASH, CloseCode

__all__ = ["TRANSIENT_CLOSE_CODES", "StreamState", "Verdict", "reconnect_after"]

# Beyond the protocol's own reconnect codes: 1006 is "no close frame" (the
# server process died, the network dropped), 1012 "service restart" and 1014
# "bad gateway" come from proxies and ASGI servers restarting in front of us.
TRANSIENT_CLOSE_CODES: frozenset[int] = frozenset(
    {c.value for c in CloseCode if c.reconnect} | {1006, 1012, 1014}
)


def reconnect_after(code: int) -> bool:
    """Whether a close with ``code`` calls for reconnecting with ``resume_from``.

    Terminal codes (1000, 1008, 1009, 4401, 4403, 4404) and any code the
    protocol does not name return False: retrying a refusal only repeats it.
    """
    return code in TRANSIENT_CLOSE_CODES


class Verdict(enum.Enum):
    DELIVER = "deliver"
    DUPLICATE = "duplicate"
    GAP = "gap"


class StreamState:
    """Delivery state of one session stream across connections.

    Args:
        session_id: the session.
        start: deliver entries after this sequence number; 0 is the whole
            log (verified from genesis), None is live only (from the head of
            the first welcome, verified from that head's hash).
        anchor_hash: the hash of entry ``start`` when ``start`` > 0, if known.
    """

    def __init__(self, session_id: str, start: int | None = 0, anchor_hash: str | None = None):
        if start is not None and start < 0:
            raise ValueError("start must be 0 or more")
        self.session_id = session_id
        self._last: int | None = start
        self._tick_seq = -1
        self.chain: ChainCheck | None = None
        if start is not None:
            self.chain = ChainCheck(session_id, start, GENESIS_HASH if start == 0 else anchor_hash)
        self.clock = ClockOffset()
        self.welcome: Welcome | None = None
        self.duplicates = 0
        self.gaps = 0

    @property
    def last_sequence(self) -> int | None:
        """The last delivered sequence number (the start before any; None if live and unwelcomed)."""
        return self._last

    @property
    def resume_from(self) -> int | None:
        """What to send as ``resume_from`` in the next hello."""
        return self._last

    @property
    def verified(self) -> bool:
        return self.chain is None or self.chain.verified

    @property
    def first_bad_sequence(self) -> int | None:
        return None if self.chain is None else self.chain.first_bad_sequence

    def on_welcome(self, welcome: Welcome, received_ms: float) -> None:
        """Record a welcome (the first, or after a reconnect).

        Raises:
            ResyncError: the server's head is behind what was delivered, or it
                says it could not recover from ``resume_from``.
        """
        self.welcome = welcome
        self.clock.observe(welcome.server_time_ms, received_ms)
        if self._last is None:
            # Live only: start at this head and trust its hash as the anchor.
            self._last = welcome.head_sequence
            self.chain = ChainCheck(self.session_id, welcome.head_sequence, welcome.head_hash)
            return
        if welcome.head_sequence < self._last or welcome.recovered is False:
            raise ResyncError(
                f"the server's head is #{welcome.head_sequence} but this client "
                f"already delivered #{self._last}"
            )
        if (
            welcome.head_sequence == self._last
            and self.chain is not None
            and self.chain.head_hash is not None
            and self.chain.verified
            and welcome.head_hash != self.chain.head_hash
        ):
            raise ResyncError(
                f"the server's entry #{self._last} differs from the one this client delivered"
            )

    def on_event(self, event: Event) -> Verdict:
        """Decide what to do with an event; DELIVER also records and verifies it."""
        last = self._last
        if last is None:  # an event before welcome: the server broke the order
            self.gaps += 1
            return Verdict.GAP
        if event.sequence_number <= last:
            self.duplicates += 1
            return Verdict.DUPLICATE
        if event.sequence_number > last + 1:
            self.gaps += 1
            return Verdict.GAP
        self._last = event.sequence_number
        assert self.chain is not None
        self.chain.feed(event)
        return Verdict.DELIVER

    def on_tick(self, tick: Tick, received_ms: float) -> bool:
        """Whether to deliver a tick (Rule 2); its timestamp feeds the clock offset either way."""
        self.clock.observe(tick.server_time_ms, received_ms)
        if self._last is None or tick.sequence_number > self._last:
            return False
        if tick.sequence_number < self._tick_seq:
            return False
        self._tick_seq = tick.sequence_number
        return True
