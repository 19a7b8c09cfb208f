# protocol/_merkle_native.c: protocol.merkle.extend_py's fold and levels_py, in C.
from collections.abc import Iterable
from typing import Any

def extend(
    edge: bytes,
    size: int,
    leaves: Iterable[Any],
    min_level: int,
    created: list[Any],
    key: str | None = None,
    entries: bool = False,
) -> tuple[int, bytes]: ...
def levels(hashes: bytes, leaves: bool, top: int | None) -> list[bytes]: ...
