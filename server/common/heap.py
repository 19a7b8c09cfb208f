"""Keep full garbage collections off the clock's path.

A full (generation 2) collection walks every tracked object: with 5,000
observers connected it paused the loop for 0.7-1.0 s, and every tick waited
behind it (docs/benchmarks.md, "Ticks"). The fix is ``gc.freeze()``: objects
that exist at that moment move to a permanent generation that collections
never walk. We freeze after startup and again after each burst of arrivals,
right after a tick went out (so the next tick is a whole interval away).

The price: a frozen object is never collected, so cycles left by
connections that have since closed stay in memory. When most of the frozen
connections are gone and no clock runs on this node, the keeper unfreezes,
collects and freezes again; that one full collection happens while no clock
can be delayed.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger("courtroom.heap")


class Action(Enum):
    FREEZE = "freeze"
    REBUILD = "rebuild"  # unfreeze, collect, freeze


@dataclass
class FreezePolicy:
    """Pure: when to freeze again, given the connections now and at the last freeze."""

    grow_ratio: float = 1.2
    min_change: int = 200
    frozen_at: int = 0

    def decide(self, connections: int, clocks_running: int) -> Action | None:
        grown = max(self.frozen_at * self.grow_ratio, self.frozen_at + self.min_change)
        if connections >= grown:
            self.frozen_at = connections
            return Action.FREEZE
        shrunk = self.frozen_at - connections >= max(self.min_change, self.frozen_at // 2)
        if shrunk and clocks_running == 0:
            self.frozen_at = connections
            return Action.REBUILD
        return None


class HeapKeeper:
    def __init__(
        self,
        policy: FreezePolicy | None = None,
        *,
        freeze: Callable[[], None] = gc.freeze,
        unfreeze: Callable[[], None] = gc.unfreeze,
        collect: Callable[[], int] = gc.collect,
    ) -> None:
        self.policy = policy or FreezePolicy()
        self._freeze, self._unfreeze, self._collect = freeze, unfreeze, collect
        self.active = False

    def start(self) -> None:
        """After startup: collect what startup left, freeze the rest (modules, app)."""
        self._collect()
        self._freeze()
        self.active = True

    def stop(self) -> None:
        """Give the process its ordinary collector back (embedding, tests)."""
        if self.active:
            self.active = False
            self._unfreeze()

    def after_tick(self, connections: int, clocks_running: int) -> None:
        if not self.active:
            return
        action = self.policy.decide(connections, clocks_running)
        if action is Action.FREEZE:
            self._freeze()
        elif action is Action.REBUILD:
            self._unfreeze()
            found = self._collect()
            self._freeze()
            log.info("heap rebuilt at %d connections (%d unreachable freed)", connections, found)
