"""Incremental chain v1 verification of what the client delivers.

:class:`protocol.ChainVerifier` checks a log from entry 1. A client that
resumes from entry N, or joins live, starts in the middle of the chain, so
this check is anchored at a known ``(sequence_number, hash)``: the genesis
``(0, 64 zeros)`` by default, the welcome's head for a live-only client.
From a genesis anchor it delegates to ``ChainVerifier`` itself; from any other
anchor it applies the same three tests (next sequence number, ``previous_hash``
links to the last hash, ``hash`` recomputed with :func:`protocol.entry_hash`)
with the same constant-time comparisons.
"""

from __future__ import annotations

from clients._messages import Event
from protocol import GENESIS_HASH, ChainVerifier, entry_hash, hashes_equal

__all__ = ["ChainCheck"]


class ChainCheck:
    """Feed delivered events in order; read :attr:`verified` at any time.

    Args:
        session_id: the session every entry must belong to.
        anchor_sequence: the last entry already trusted (0 for none).
        anchor_hash: its hash (``GENESIS_HASH`` for none); ``None`` trusts the
            first fed entry's ``previous_hash`` (its own hash is still recomputed).
    """

    __slots__ = ("_session_id", "_verifier", "_last_seq", "_last_hash", "_count", "_bad")

    def __init__(
        self, session_id: str, anchor_sequence: int = 0, anchor_hash: str | None = GENESIS_HASH
    ) -> None:
        self._session_id = session_id
        genesis = anchor_sequence == 0 and anchor_hash == GENESIS_HASH
        self._verifier = ChainVerifier(session_id) if genesis else None
        self._last_seq = anchor_sequence
        self._last_hash = anchor_hash
        self._count = 0
        self._bad: int | None = None

    @property
    def verified(self) -> bool:
        """True while every entry fed so far chains correctly from the anchor."""
        return self._bad is None

    @property
    def first_bad_sequence(self) -> int | None:
        """The sequence number of the first entry that did not verify."""
        return self._bad

    @property
    def count(self) -> int:
        """How many entries were fed."""
        return self._count

    @property
    def head_hash(self) -> str | None:
        """The hash of the last entry that verified (the anchor before any)."""
        return self._last_hash

    def feed(self, event: Event) -> bool:
        """Check the next entry; returns whether the chain still verifies.

        Once an entry fails, everything after it hangs off a broken link: the
        first failure is kept and later entries are not checked.
        """
        self._count += 1
        if self._bad is not None:
            return False
        if self._verifier is not None:
            ok = self._verifier.feed(event.as_entry())
        else:
            ok = self._check(event)
        if ok:
            self._last_seq = event.sequence_number
            self._last_hash = event.hash
        else:
            self._bad = event.sequence_number
        return ok

    def _check(self, e: Event) -> bool:
        if e.session_id != self._session_id or e.sequence_number != self._last_seq + 1:
            return False
        if self._last_hash is not None and not hashes_equal(e.previous_hash, self._last_hash):
            return False
        try:
            expected = entry_hash(
                e.session_id,
                e.sequence_number,
                e.timestamp,
                e.event_type,
                e.actor_id,
                e.details,
                e.previous_hash,
            )
        except (TypeError, ValueError):  # details that JSON cannot encode
            return False
        return hashes_equal(e.hash, expected)
