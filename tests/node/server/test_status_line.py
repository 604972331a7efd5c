"""The operator's status line: what the server served, and with ``--ledger`` the spot checks, trust and
earnings the ledger gives it. Pure formatting, then a real server, ledger service and client on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.server.status import LedgerStanding, ServerTally, status_line
from tests.node.swarm_helpers import wait_for_line


def test_the_line_says_what_was_served_and_since_the_last_line() -> None:
    line = status_line(ServerTally(5, 120), ServerTally(3, 100), 2, None)
    assert line.startswith("2 session(s) open; 5 sessions, 120 steps served (+2 sessions, +20 steps since")
    assert "no ledger (start with --ledger URL" in line
    assert "forward pass" not in line  # no one-token steps since the last line: nothing to say of batching


def test_the_line_says_how_many_sessions_shared_a_forward_pass_since_the_last_line() -> None:
    since = ServerTally(1, 10, 8, 8)
    now = ServerTally(4, 40, 38, 18)  # 30 one-token steps in 10 passes since the last line
    assert "; one-token steps 3.0 sessions a forward pass" in status_line(now, since, 4, None)


def test_the_line_gives_the_ledger_standing_or_why_it_is_missing() -> None:
    standing = LedgerStanding("trusted", 0.8123, 14, 1, 2_500_000, 300_000)
    line = status_line(ServerTally(1, 1), ServerTally(), 0, standing)
    assert "spot checks 14 passed, 1 failed; trust 0.812 (trusted); earned 2.50 credits, 0.30 in escrow" in line
    assert status_line(ServerTally(), ServerTally(), 0, "no answer (timed out)").endswith(
        "ledger: no answer (timed out)"
    )


@pytest.mark.processes
def test_a_running_server_reports_its_sessions_and_its_standing_at_the_ledger(tmp_path: Path) -> None:
    with LocalSwarm(tmp_path) as swarm:
        peer = swarm.start_dht()
        swarm.start_api()
        server = swarm.launch_server("reporter", "0:8", "--status-interval", "0.5")
        LocalSwarm.ready(server)
        assert "spot checks 0 passed, 0 failed" in wait_for_line(server, "spot checks"), "the ledger's view, newcomer"
        generate = [sys.executable, "-m", "swarmtrust", "generate", "--initial-peers", peer, "--prompt-ids", "1,2,3"]
        done = subprocess.run([*generate, "--max-new-tokens", "4"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        line = wait_for_line(server, "1 sessions, 4 steps served")
        assert "trust" in line and "(newcomer)" in line and "earned 0.00 credits" in line
