"""Prometheus metrics: the seeds' round metrics plus the hub's and the log's."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from server.live.outbound import STATS


class _DirectWrites(Collector):
    """Read at scrape time: counting per delivery through a Counter would cost a lock each."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "courtroom_ws_frames_direct",
            "Frames written straight to an idle socket (no queue, no writer wake-up)",
            value=STATS.direct,
        )


class CommandTally(Collector):
    """The command path's metrics as plain numbers, read at scrape time.

    ``courtroom_commands_total{type,outcome}``, ``courtroom_log_entries_appended_total``
    and the ``courtroom_append_seconds`` histogram. Through prometheus_client's
    Counter and Histogram every command took four locks (~3 µs of the event
    loop's time, docs/benchmarks.md); here a command adds to a few ints. Only
    the event loop's thread writes them, and scrapes run on it too.
    """

    BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

    def __init__(self) -> None:
        self.commands: dict[tuple[str, str], int] = {}
        self.entries = 0
        self._counts = [0] * (len(self.BUCKETS) + 1)  # the last: above every bound
        self._sum = 0.0

    def command(self, kind: str, outcome: str) -> None:
        key = (kind, outcome)
        self.commands[key] = self.commands.get(key, 0) + 1

    def appended(self, entries: int, seconds: float | None = None) -> None:
        """``entries`` committed, by a command that took ``seconds`` (None: no command)."""
        self.entries += entries
        if seconds is not None:
            self._counts[bisect_left(self.BUCKETS, seconds)] += 1
            self._sum += seconds

    def collect(self) -> Iterator[Metric]:
        commands = CounterMetricFamily(
            "courtroom_commands", "Commands by type and outcome", labels=["type", "outcome"]
        )
        for (kind, outcome), n in sorted(self.commands.items()):
            commands.add_metric([kind, outcome], n)
        yield commands
        yield CounterMetricFamily(
            "courtroom_log_entries_appended", "Log entries committed", value=self.entries
        )
        cumulative, buckets = 0, []
        for bound, n in zip((*map(str, self.BUCKETS), "+Inf"), self._counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "courtroom_append_seconds",
            "Time to commit one command's entries",
            buckets=buckets,
            sum_value=self._sum,
        )


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.ws_connections = Gauge(
            "courtroom_ws_connections", "Open WebSocket connections", registry=r
        )
        self.ws_subscribers = Gauge(
            "courtroom_ws_subscribers", "Connections subscribed to a session channel", registry=r
        )
        self.ws_closed = Counter(
            "courtroom_ws_closed_total", "WebSocket closes by code", ["code"], registry=r
        )
        self.tally = CommandTally()
        r.register(self.tally)
        self.deliveries = Counter(
            "courtroom_fanout_deliveries_total", "Event frames queued to subscribers", registry=r
        )
        r.register(_DirectWrites())
        self.gap_fills = Counter(
            "courtroom_gap_fills_total", "Gaps in delivery filled from the log", registry=r
        )
        # The seed's round engine metrics (seed 002).
        self.rounds_started = Counter("rounds_started", "Total rounds started", registry=r)
        self.rounds_completed = Counter("rounds_completed", "Total rounds completed", registry=r)
        self.turns_submitted = Counter("turns_submitted", "Total turns submitted", registry=r)
        self.turns_timed_out = Counter("turns_timed_out", "Total turns that timed out", registry=r)
        self.avg_turn_duration = Gauge(
            "avg_turn_duration_seconds", "Average turn duration", registry=r
        )
        self.percent_turns_late = Gauge("percent_turns_late", "% of late submissions", registry=r)
        self._turn_total_ms = 0
        self._turns_ended = 0
        self._turns_late = 0

    def turn_ended(self, duration_ms: int, late: bool) -> None:
        self._turns_ended += 1
        self._turn_total_ms += max(0, duration_ms)
        self._turns_late += int(late)
        self.avg_turn_duration.set(self._turn_total_ms / self._turns_ended / 1000)
        self.percent_turns_late.set(100 * self._turns_late / self._turns_ended)


METRICS = Metrics()
