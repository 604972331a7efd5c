"""Anyone holding two checkpoints of one number signed by one ledger key reports them in the DHT with
``swarmtrust dht report-fork``; a reader finds the report, checks it proves itself, and a client's memory stops
trusting the ledger on it. A pair that proves nothing is refused in one line and nothing is stored. Real processes:
a DHT bootstrap peer and the command, over loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nacl.signing
import pytest

from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.checkpoint_memory import CheckpointMemory, LedgerHistoryError
from swarmtrust.node.client.fork_reports import reported_forks
from swarmtrust.node.dht import start_dht
from swarmtrust.node.network import NetworkOptions
from swarmtrust.protocol.checkpoints import Checkpoint
from swarmtrust.protocol.keys import generate_key_file
from swarmtrust.protocol.signing import Signed
from tests.builders import signed_checkpoint

pytestmark = pytest.mark.processes

LEDGER = nacl.signing.SigningKey(bytes(range(32)))
KEY = bytes(LEDGER.verify_key)


def checkpoint(number: int, state: bytes, ledger: nacl.signing.SigningKey = LEDGER) -> Signed[Checkpoint]:
    return signed_checkpoint(ledger, number, state=state)


def report(tmp_path: Path, peer: str, first: bytes, second: bytes) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "swarmtrust", "dht", "report-fork", first.hex(), second.hex(),
               "--key", str(tmp_path / "reporter.key"), "--initial-peers", peer]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_a_reported_fork_is_found_and_proves_itself_and_a_pair_that_proves_nothing_is_refused(tmp_path: Path) -> None:
    generate_key_file(tmp_path / "reporter.key")
    genuine, rewritten = checkpoint(2, bytes(32)).to_wire(), checkpoint(2, b"\x01" * 32).to_wire()
    other_number = checkpoint(3, b"\x01" * 32).to_wire()
    with LocalSwarm(tmp_path) as swarm:
        peer = swarm.start_dht()
        for first, second, said in [
            (genuine, genuine, "prove no fork"),  # one checkpoint twice
            (genuine, other_number, "prove no fork"),
            (genuine, rewritten[:-1] + bytes([rewritten[-1] ^ 1]), "not a ledger-signed checkpoint"),  # signature
        ]:
            refused = report(tmp_path, peer, first, second)
            assert refused.returncode != 0 and said in refused.stderr and "Traceback" not in refused.stderr
        reader = start_dht([peer], NetworkOptions(), client_mode=True)
        try:
            assert reported_forks(reader, KEY) == [], "a refused pair was stored"
            done = report(tmp_path, peer, genuine, rewritten)
            assert done.returncode == 0, done.stderr
            assert f"ledger {KEY.hex()} signed two checkpoints numbered 2" in done.stdout
            found = reported_forks(reader, KEY)
        finally:
            reader.shutdown()
    assert len(found) == 1 and {found[0].first, found[0].second} == {genuine, rewritten}
    assert found[0].fork().number == 2
    memory = CheckpointMemory()
    assert memory.note_fork(KEY, KEY, found[0].first, found[0].second, "the DHT")
    with pytest.raises(LedgerHistoryError, match=r"signed two checkpoints numbered 2 .*no longer trusting it"):
        memory.admit(KEY, 2, bytes(32), "dht", lambda n: None, KEY)
    # a report proving a fork of another ledger changes nothing for this one
    stranger = nacl.signing.SigningKey(bytes(range(2, 34)))
    held = CheckpointMemory()
    pair = checkpoint(1, bytes(32), stranger).to_wire(), checkpoint(1, b"\x01" * 32, stranger).to_wire()
    assert held.note_fork(KEY, KEY, *pair, "the DHT") is False and KEY not in held.distrusted
