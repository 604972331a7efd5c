"""What a client reports: a faulty receipt its server signed, paired with one it accepted, when (and only
when) the pair convicts; a fault that proves nothing about the server's signatures is never reported."""

from __future__ import annotations

import os
from dataclasses import replace

from swarmtrust.node.client.faults import Fault, signed_receipt_of
from swarmtrust.node.client.misbehaviour import contradictions, held_receipts
from swarmtrust.node.client.receipt_check import ReceiptFault, StepFacts, check_receipt
from swarmtrust.node.client.session import HopRecord
from swarmtrust.protocol.receipts import Receipt, receipt_id_for
from swarmtrust.protocol.signing import Signed
from tests.builders import new_key, resign, session_receipts

SERVER = new_key()


def facts_for(receipt: Receipt, prev: bytes | None) -> StepFacts:
    """What an honest client knows of the step ``receipt`` claims (its chain link: ``prev``)."""
    return StepFacts(
        receipt.server_key, receipt.model_id, receipt.weights_digest, receipt.block_start, receipt.block_end,
        receipt.dtype, receipt.session_id, receipt.client_nonce, receipt.step, prev, receipt.input_digest,
        receipt.input_shape, receipt.output_digest, receipt.output_shape,
    )  # fmt: skip


def fault_of(wire: bytes, facts: StepFacts) -> Fault:
    try:
        check_receipt(wire, facts)
    except ReceiptFault as error:
        return Fault(facts.step, facts.server_key.hex(), error.reason, str(error), signed_receipt_of(error))
    raise AssertionError("the receipt passed")


def next_step(receipt: Signed[Receipt], prev_receipt: bytes) -> Signed[Receipt]:
    r = receipt.record
    step_id = receipt_id_for(r.server_key, r.session_id, r.step + 1)
    return resign(r, SERVER, step=r.step + 1, prev_receipt=prev_receipt, receipt_id=step_id)


def records(receipts: list[Signed[Receipt]]) -> list[list[HopRecord]]:
    return [[HopRecord(SERVER.verify_key.encode().hex(), (0, 4), r, 0.01)] for r in receipts]


def test_a_receipt_chained_to_a_twin_of_the_step_before_is_reported_as_a_broken_chain() -> None:
    accepted = session_receipts(SERVER, 2)
    twin = resign(accepted[1].record, SERVER, timestamp_ms=accepted[1].record.timestamp_ms + 1)
    step_2 = next_step(accepted[1], prev_receipt=twin.digest)
    fault = fault_of(step_2.to_wire(), facts_for(step_2.record, accepted[1].digest))
    assert fault.reason == "broken_chain" and fault.receipt is not None
    (found,) = contradictions([fault], held_receipts(records(accepted), []))
    assert (found.kind, found.step, found.first.digest) == ("broken_chain", 2, accepted[1].digest)


def test_faults_that_prove_nothing_of_the_servers_signatures_are_not_reported() -> None:
    accepted = session_receipts(SERVER, 2)
    wrong_output = resign(accepted[1].record, SERVER, output_digest=os.urandom(32))  # a lie, yet one receipt
    step_2 = next_step(accepted[1], prev_receipt=accepted[1].digest)
    faults = [
        fault_of(step_2.to_wire(), _wrong_input(step_2.record)),  # signed and chained right, wrong input
        Fault(1, SERVER.verify_key.encode().hex(), "unavailable", "timed out"),
        fault_of(b"\x00", facts_for(accepted[1].record, accepted[0].digest)),
    ]
    assert [f.receipt is not None for f in faults] == [True, False, False]
    assert contradictions(faults, held_receipts(records(accepted), [])) == []
    # the receipt with the wrong output does contradict the accepted one of its step: that one is reported
    lie = fault_of(wrong_output.to_wire(), facts_for(accepted[1].record, accepted[0].digest))
    assert [c.kind for c in contradictions([lie], held_receipts(records(accepted), []))] == ["equivocation"]


def _wrong_input(receipt: Receipt) -> StepFacts:
    return replace(facts_for(receipt, receipt.prev_receipt), input_digest=os.urandom(32))
