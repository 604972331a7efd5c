"""Reporting signed misbehaviour: a wrong receipt that, with another receipt of the same server, convicts it.

A receipt fault bans a server from this client's session; when the faulty receipt was signed by the server
and contradicts another receipt the client holds from it (``protocol.misbehaviour``: two receipts for one step,
or a link to anything but its own receipt of the step before), the client also sends the pair to the
ledger, signed as a ``MisbehaviourProof``, which convicts the server for everyone. The same pure rule
decides here and at the ledger, so a client never reports an honest server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import nacl.signing

from swarmtrust.node.client.faults import Fault
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.protocol.misbehaviour import Contradiction, build_proof, find_contradiction
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed

log = logging.getLogger(__name__)


def held_receipts(steps: Iterable[Iterable[Any]], replays: Iterable[Any]) -> list[Signed[Receipt]]:
    """Every receipt a session accepted: of its steps' hops (``HopRecord``) and of its replays."""
    records = [record for hops in steps for record in hops] + list(replays)
    return [record.receipt for record in records if record.receipt is not None]


def contradictions(faults: Sequence[Fault], held: Iterable[Signed[Receipt]]) -> list[Contradiction]:
    """The proofs in this client's hands: each faulty signed receipt against every receipt it accepted
    (at most one per server and session, which is all the ledger convicts on)."""
    accepted = list(held)
    found: dict[tuple[bytes, bytes], Contradiction] = {}
    for fault in faults:
        if fault.receipt is None:
            continue
        pair = find_contradiction(fault.receipt, accepted)
        if pair is not None:
            found.setdefault((pair.server_key, pair.session_id), pair)
    return list(found.values())


def report_misbehaviour(
    api: LedgerApi, reporter: nacl.signing.SigningKey, found: Sequence[Contradiction]
) -> list[dict[str, Any]]:
    """Send each proof to the ledger; what it answered (a refusal is logged and reported, never raised)."""
    answers = []
    for pair in found:
        proof = build_proof(reporter, pair, time.time_ns() // 1_000_000)
        try:
            answer = api.report_misbehaviour(proof.to_wire())
        except LedgerApiError as exc:
            log.warning("the ledger refused a misbehaviour proof against %s: %s", pair.server_key.hex()[:16], exc)
            answer = {"server_key": pair.server_key.hex(), "status": "failed", "error": str(exc)}
        else:
            log.warning("reported %s of server %s to the ledger: %s", pair.kind, pair.server_key.hex()[:16], answer)
        answers.append(answer)
    return answers
