# store/_verify_native.c: the longest run of a stored log that verifies, from SQLite's API or COPY text.

def verify(
    uri: str,
    session_id: str,
    after: int | None,
    through: int | None,
    expected: int | None,
    previous_hash: str | None,
) -> tuple[int, int | None, str, int | None, tuple[int, str] | None, bool]: ...
def verify_copy(
    data: bytes,
    session_id: str,
    expected: int | None,
    previous_hash: str | None,
) -> tuple[int, int | None, str, int | None, tuple[int, str] | None, bool]: ...
