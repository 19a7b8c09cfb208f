"""``courtroom demo`` (what ``make run`` calls): a second run says the same things again."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from server.node.cli import DEMO_PASSWORD, DEMO_USERS, main


def test_a_second_demo_prints_the_accounts_and_the_session_again(tmp_path: Path) -> None:
    env = {
        "COURTROOM_DATA_DIR": str(tmp_path / "data"),
        "COURTROOM_SECRET_KEY": "demo-test-secret-" + "x" * 32,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
    }
    runner = CliRunner()
    first = runner.invoke(main, ["demo"], env=env)
    second = runner.invoke(main, ["demo"], env=env)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output

    accounts = f"demo accounts: {', '.join(u for u, _, _ in DEMO_USERS)}; password {DEMO_PASSWORD}"
    sid = re.search(r"^demo session ([0-9a-f-]{36})$", first.output, re.M)
    assert sid is not None, first.output
    assert accounts in first.output.splitlines()
    # The same session (not a second one), and the accounts again.
    assert f"demo session {sid.group(1)} (from an earlier run)" in second.output.splitlines()
    assert accounts in second.output.splitlines()
    assert "exists already" not in second.output
