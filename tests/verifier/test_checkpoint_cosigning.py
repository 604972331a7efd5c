"""A verifier's co-signature that the ledger could not take is sent again. A real ledger service is stopped just
as the co-signature goes out (a real refused connection) and started again: the next round sends it, and the
checkpoint becomes final. The fold has moved past that checkpoint by then, so nothing else would ever sign it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from swarmtrust.checkpoint_cosigning import CheckpointCosigner
from swarmtrust.launcher import ChildProcess, LocalSwarm, free_port
from swarmtrust.ledger.checkpoints import propose_checkpoint
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.keys import generate_key_file, load_signing_key
from tests.rest import rest_get
from tests.verifier.earned_weight import earn_weight

pytestmark = pytest.mark.processes  # a ledger service, stopped and started again


class StopsTheLedgerFirst(LedgerApi):
    """A verifier's connection to the ledger that stops the ledger service just before its first co-signature."""

    def __init__(self, url: str, key: nacl.signing.SigningKey, service: ChildProcess) -> None:
        super().__init__(url, key)
        self.service: ChildProcess | None = service

    def cosign_checkpoint(self, number: int, signature_wire: bytes) -> dict[str, Any]:
        if self.service is not None:
            self.service.stop()
            self.service = None
        return super().cosign_checkpoint(number, signature_wire)


def test_a_co_signature_the_ledger_could_not_take_is_sent_again(tmp_path: Path) -> None:
    for name in ("ledger", "verifier"):
        generate_key_file(tmp_path / f"{name}.key")
    ledger_key, verifier = load_signing_key(tmp_path / "ledger.key"), load_signing_key(tmp_path / "verifier.key")
    db_url = f"sqlite:///{tmp_path}/ledger.db"
    earn_weight(db_url, ledger_key, [verifier])
    with Ledger.open(db_url) as ledger:
        proposed = propose_checkpoint(ledger.engine, ledger_key).checkpoint
    assert proposed is not None and set(proposed.record.signing_set) == {bytes(verifier.verify_key)}
    port = free_port()
    with LocalSwarm(tmp_path) as swarm:
        url = swarm.start_api("--port", str(port), db_url=db_url)
        with StopsTheLedgerFirst(url, verifier, swarm.processes[-1]) as api:
            cosigner = CheckpointCosigner(api, verifier)
            with pytest.raises(LedgerApiError) as unreachable:
                cosigner.round()
            assert unreachable.value.status == 0 and cosigner.cosigned == 0 and set(cosigner.unsent) == {1}
            swarm.start_api("--port", str(port), db_url=db_url)
            assert rest_get(url, "/checkpoints/1")["signers"] == [], "the ledger took nothing while it was down"
            assert cosigner.round() == 1, "the co-signature made before is sent again"
            assert cosigner.unsent == {} and cosigner.round() == 0, "and only once"
        answer = rest_get(url, "/checkpoints")
        assert answer["latest"]["signers"] == [bytes(verifier.verify_key).hex()]
        assert answer["latest_final"]["number"] == 1
