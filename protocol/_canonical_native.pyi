# protocol/_canonical_native.c: the scan behind protocol._canonical.first_noncanonical.
from typing import Any

def prefix(texts: list[Any], start: int) -> int: ...
