"""``courtroom serve`` raises its soft open-files limit to the hard one at start-up."""

from __future__ import annotations

import resource
import subprocess
import sys


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
    code = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({low}, {hard}))\n"
        "from server.http.serve import raise_open_files_limit\n"
        "print(raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    # An unlimited hard limit is left alone (there is no number to raise to).
    want = low if hard == resource.RLIM_INFINITY else hard
    assert out == [str(want), str(want)]
