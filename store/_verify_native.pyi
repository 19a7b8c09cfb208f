# store/_verify_native.c: the longest run of a SQLite log that verifies, read with SQLite's own API.

def verify(
    uri: str,
    session_id: str,
    after: int | None,
    through: int | None,
    expected: int | None,
    previous_hash: str | None,
) -> tuple[int, int | None, str, int | None, tuple[int, str] | None, bool]: ...
