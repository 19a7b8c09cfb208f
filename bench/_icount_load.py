"""The append load of bench_tree_cost.py, once, as a child process to be counted under callgrind.

    python bench/_icount_load.py URL WITH_TREE(0|1) SESSIONS PER

Migrates ``URL`` and runs ``bench_tree_cost.one``: ``SESSIONS`` sessions, one
client each sending ``PER`` NOTE commands through ``Courtroom.execute``, with
the writer growing the trees and the record keeper hooked in (1), or the write
path alone (0). bench/bench_instructions.py runs it and reads the counts.
"""

from __future__ import annotations

import asyncio
import sys

from _common import install_loop
from bench_tree_cost import one

from store import migrate


async def main(url: str, with_tree: bool, sessions: int, per: int) -> None:
    await migrate(url)
    await one(url, with_tree, sessions, per)


if __name__ == "__main__":
    install_loop("asyncio")
    url, tree, sessions, per = sys.argv[1:5]
    asyncio.run(main(url, tree == "1", int(sessions), int(per)))
