"""The command path's metrics (``CommandTally``): plain numbers, exposed as Prometheus text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.live.metrics import CommandTally


def scrape(tally: CommandTally) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(tally)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_commands_entries_and_latencies_reach_the_scrape() -> None:
    tally = CommandTally()
    tally.command("LogCustom", "ok")
    tally.command("LogCustom", "ok")
    tally.command("StartSession", "refused")
    tally.appended(1)  # a session's first entry: no command latency
    tally.appended(2, 0.0004)
    tally.appended(1, 0.001)  # on a bound: counted in that bucket (le)
    tally.appended(1, 3.0)  # above every bound
    got = scrape(tally)
    ok = (("outcome", "ok"), ("type", "LogCustom"))
    refused = (("outcome", "refused"), ("type", "StartSession"))
    assert got[("courtroom_commands_total", ok)] == 2
    assert got[("courtroom_commands_total", refused)] == 1
    assert got[("courtroom_log_entries_appended_total", ())] == 5
    bucket = {
        le: got[("courtroom_append_seconds_bucket", (("le", le),))]
        for le in ("0.0005", "0.001", "1.0", "+Inf")
    }
    assert bucket == {"0.0005": 1, "0.001": 2, "1.0": 2, "+Inf": 3}
    assert got[("courtroom_append_seconds_count", ())] == 3
    assert abs(got[("courtroom_append_seconds_sum", ())] - 3.0014) < 1e-9


def test_an_idle_tally_exposes_every_metric_at_zero() -> None:
    got = scrape(CommandTally())
    assert got[("courtroom_log_entries_appended_total", ())] == 0
    assert got[("courtroom_append_seconds_count", ())] == 0
    assert not any(name == "courtroom_commands_total" for name, _ in got)
