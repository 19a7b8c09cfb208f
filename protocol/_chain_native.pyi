# protocol/_chain_native.c: protocol._chain's entry_hash_canonical_py and feed_rows_py, in C.
from collections.abc import Iterable, Sequence
from typing import Any

def feed(
    rows: Iterable[Sequence[Any]],
    session_id: Any,
    expected: int,
    previous_hash: Any,
    digests: list[bytes] | None,
) -> tuple[int, int, Any, Any, Any]: ...
def entry_hash(
    session_id: str,
    sequence_number: int,
    timestamp: str,
    event_type: str,
    actor_id: str | None,
    details_json: str,
    previous_hash: str,
) -> str: ...
