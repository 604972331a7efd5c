"""The command line as users run it: a real ``swarmtrust`` process per call."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swarmtrust.ledger.store import Ledger
from tests.builders import new_key, session_receipts

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

SWARMTRUST = [sys.executable, "-m", "swarmtrust"]
WIDE = {"COLUMNS": "400"}  # rich wraps error boxes at the terminal width; keep messages on one line


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SWARMTRUST, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **WIDE, **(env or {})}
    )


def test_console_script_is_installed() -> None:
    script = shutil.which("swarmtrust", path=str(Path(sys.executable).parent))
    assert script, "pip install -e . installs the swarmtrust console script"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for group in ("node", "ledger", "dht", "verifier", "api", "generate", "demo", "simulate"):
        assert group in done.stdout


def test_keygen_and_pubkey(tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    made = run("node", "keygen", "--out", str(key))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    shown = run("node", "pubkey", "--key", str(key))
    assert shown.returncode == 0
    public = shown.stdout.strip()
    assert len(public) == 64 and public in made.stdout

    again = run("node", "keygen", "--out", str(key))
    assert again.returncode == 1
    assert "--force" in again.stderr and again.stdout == ""
    assert run("node", "pubkey", "--key", str(key)).stdout.strip() == public, "nothing was overwritten"

    forced = run("node", "keygen", "--out", str(key), "--force")
    assert forced.returncode == 0
    assert run("node", "pubkey", "--key", str(key)).stdout.strip() != public


def test_a_readable_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    run("node", "keygen", "--out", str(key))
    key.chmod(0o644)
    done = run("node", "pubkey", "--key", str(key))
    assert done.returncode == 1
    assert f"chmod 600 {key}" in done.stderr
    assert done.stdout == ""


def test_simulate_reports_the_promised_figures_reproducibly(tmp_path: Path) -> None:
    args = ["simulate", "--adversary", "cheat:1", "--malicious-fraction", "0.3", "--requests", "600", "--json"]
    first, second = run(*args), run(*args)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    for key in (
        "honest_false_quarantines",
        "corrupted_output_share",
        "verification_overhead",
        "median_checks_to_quarantine",
    ):
        assert key in report
    assert report == json.loads(second.stdout), "a fixed seed reproduces the results"
    plotted = run(*args[:-1], "--plots", str(tmp_path))
    assert plotted.returncode == 0 and list(tmp_path.glob("*.png"))
    assert run("simulate", "--adversary", "bribe").returncode != 0


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["node", "start", "--key", "absent.key", "--blocks", "0:4", "--initial-peers", "/ip4/127.0.0.1/tcp/1"],
            "swarmtrust node keygen",
        ),
        (["node", "start", "--key", "k", "--blocks", "4:2", "--initial-peers", "/ip4/127.0.0.1/tcp/1"], "START < END"),
        (["node", "start", "--key", "k", "--blocks", "0:4"], "Missing option '--initial-peers'"),
        (
            ["node", "start", "--key", "k", "--blocks", "0:4", "--initial-peers", "x", "--behavior", "evil"],
            "--behavior",
        ),
        (["generate", "--max-new-tokens", "2", "--prompt", "hi"], "--initial-peers is required"),
        (["generate", "--max-new-tokens", "2", "--local"], "give --prompt TEXT or --prompt-ids"),
        (["generate", "--max-new-tokens", "2", "--local", "--prompt-ids", "1,x"], "comma-separated integers"),
        (["generate", "--max-new-tokens", "2", "--local", "--prompt", "hi", "--model", "/nonexistent"], "no model hub"),
    ],
)
def test_swarm_commands_refuse_bad_arguments_before_starting_anything(
    command: list[str], message: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [*SWARMTRUST, *command], capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, **WIDE}
    )
    assert done.returncode in (1, 2), done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_generate_local_prints_text_and_tokens() -> None:
    done = run("generate", "--local", "--prompt-ids", "1,75,104", "--max-new-tokens", "4", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["tokens"]) == 4 and report["local"] is True and isinstance(report["text"], str)


def test_python_dash_m_swarmtrust_node_works() -> None:
    command = [sys.executable, "-m", "swarmtrust.node", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "keygen" in done.stdout


def test_ledger_upgrade_then_audit_clean_then_tampered(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    from swarmtrust.ledger.migrate import head_revision

    assert f"empty -> {head_revision()}" in run("ledger", "upgrade", "--db", url).stdout
    assert f"already at schema revision {head_revision()}" in run("ledger", "upgrade", "--db", url).stdout
    with Ledger.open(url) as ledger:
        ledger.ingest_receipts([r.to_wire() for r in session_receipts(new_key(), 5)])

    clean = run("ledger", "audit", "--db", url, "--json")
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report["ok"] and report["events_checked"] == 5 and report["first_bad_seq"] is None

    with sqlite3.connect(db) as connection:
        connection.execute("DROP TRIGGER events_no_update")
        connection.execute("UPDATE events SET recorded_ms = recorded_ms + 1 WHERE seq = 3")
    dirty = run("ledger", "audit", "--db", url)
    assert dirty.returncode == 1
    assert "first bad sequence number: 3" in dirty.stdout

    anchored = run("ledger", "audit", "--db", url, "--anchor", report["head_hash"], "--json")
    assert json.loads(anchored.stdout)["first_bad_seq"] == 3


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    done = run("ledger", "upgrade", env={"SWARMTRUST_DB_URL": url})
    assert done.returncode == 0 and "env.db" in done.stdout
    assert (tmp_path / "env.db").exists()


def test_audit_of_a_database_without_schema_says_what_to_do(tmp_path: Path) -> None:
    done = run("ledger", "audit", "--db", f"sqlite:///{tmp_path}/empty.db")
    assert done.returncode == 1
    assert "swarmtrust ledger upgrade" in done.stderr


def test_demo_catches_every_cheater_and_leaves_nothing_running(tmp_path: Path) -> None:
    done = run("demo", "--data-dir", str(tmp_path), "--duration", "90", "--max-new-tokens", "8", "--json", timeout=300)
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    assert done.returncode == 0, _demo_failure(report, done.stderr)
    servers = report["servers"]
    cheaters = {s["public_key"] for s in servers.values() if s["behavior"] != "honest"}
    assert len(cheaters) == 2 and set(report["cheaters"]) == cheaters
    assert cheaters <= set(report["quarantined"]) and report["honest_quarantined"] == 0
    assert {s["behavior"].split(":")[0] for s in servers.values()} == {"honest", "cheat-rate", "honest-then-cheat"}
    for s in servers.values():
        if s["public_key"] in cheaters:
            assert s["state"] == "quarantined" and s["fails"] > 0 and s["quarantined_after"]["sessions"] >= 1
            assert s["share_after"] in (0.0, None)  # no traffic once caught (None: caught at the very end)
        else:
            assert s["state"] != "quarantined" and s["fails"] == 0
    failover = report["failover"]
    assert failover["tokens_match_local"] and len(failover["tokens"]) == 8 and failover["failovers"] == 1
    replacement = failover["replacement"]  # paid for the replayed history as well as for its own steps
    paid_tokens = failover["replayed_tokens"] + replacement["steps_served"]
    assert replacement["block_tokens_paid"] == paid_tokens * replacement["blocks"] > 0
    market = report["market"]
    assert report["credits_slashed"] == market["slashed"] > 0 and market["bounties"] > 0 and market["paid"] > 0
    assert market["released"] > 0
    assert market["in_accounts"] + market["in_escrow"] + market["in_bonds"] + market["treasury"] == market["minted"]
    assert report["dashboard_shows_cheaters_quarantined"] and report["dashboard_url"].endswith("/dashboard")
    assert report["refused"] == ["bad_signature", "conflict"]
    assert report["audit_clean"] and report["tampering_caught"] and report["merkle_proof_ok"]
    assert report["rewrite_caught"] and report["checkpoint"]["seq"] > 0, "a rewritten copy fails the checkpoint"
    unbond = report["unbond"]  # by `swarmtrust market unbond`, as an operator runs it
    assert unbond["server"] is not None and unbond["before_window"] == "bond_locked"
    assert unbond["after_window"] == "accepted" or report["undecided_spot_checks"]
    assert (tmp_path / "ledger.db").exists()
    groups = set(report["process_groups"])
    assert len(groups) == 10  # the DHT, the ledger service, five servers and three verifiers
    assert [pid for pid in _live_pids() if _group(pid) in groups] == [], "the demo left processes behind"


def test_demo_refuses_a_swarm_it_cannot_run() -> None:
    done = run("demo", "--servers", "4", "--cheaters", "3")
    assert done.returncode == 2
    assert "--cheaters must be 0 to 2" in done.stderr


def _demo_failure(report: dict[str, Any], stderr: str) -> str:
    """What a failed demo run said, in a form that survives pytest's truncation."""
    if not report:
        return stderr[-3000:]
    servers = {
        name: (s["behavior"], s["sessions"], s["state"], s["fails"], s["quarantined_after"], s["share_after"])
        for name, s in report["servers"].items()
    }
    checks = (
        "honest_quarantined", "credits_slashed", "refused", "merkle_proof_ok", "audit_clean", "tampering_caught",
        "rewrite_caught",
    )  # fmt: skip
    return f"servers {servers}; traffic {report['traffic']}; " + ", ".join(f"{k}={report.get(k)}" for k in checks)


def _live_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_generate_stops_at_a_stop_string_and_at_the_end_of_sequence_token() -> None:
    """--stop ends generation once the text holds the string; the model's eos token (2 for tiny) ends it unless
    --ignore-eos."""
    base = ["generate", "--local", "--prompt", "Hello", "--max-new-tokens", "10", "--json"]
    free = json.loads(run(*base, "--ignore-eos").stdout)
    assert free["stopped"] == "length" and len(free["tokens"]) == 10
    stop = free["text"][2:4]  # text the fourth token or so completes
    stopped = json.loads(run(*base, "--ignore-eos", "--stop", stop).stdout)
    assert stopped["stopped"] == "stop string" and stop in stopped["text"]
    assert stopped["tokens"] == free["tokens"][: len(stopped["tokens"])] and len(stopped["tokens"]) < 10


def test_generate_streams_the_text_it_prints() -> None:
    streamed = run("generate", "--local", "--prompt", "Hello", "--max-new-tokens", "6", "--ignore-eos")
    whole = run("generate", "--local", "--prompt", "Hello", "--max-new-tokens", "6", "--ignore-eos", "--no-stream")
    assert streamed.returncode == whole.returncode == 0, streamed.stderr + whole.stderr
    assert streamed.stdout == whole.stdout and streamed.stdout.strip(), "the same text, printed as it came"
