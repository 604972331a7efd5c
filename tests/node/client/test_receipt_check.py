from __future__ import annotations

import os
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.client.receipt_check import ReceiptFault, StepFacts, check_receipt
from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.misbehaviour import RECEIPT_CLOCK_SLACK_MS
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import open_signed, sign_record
from tests.builders import build_receipt, new_key

SERVER = new_key()
MALLORY = new_key()


def honest() -> tuple[bytes, StepFacts]:
    receipt = build_receipt(SERVER, step=3, prev_receipt=os.urandom(32))
    facts = StepFacts(
        server_key=receipt.server_key,
        model_id=receipt.model_id,
        weights_digest=receipt.weights_digest,
        block_start=receipt.block_start,
        block_end=receipt.block_end,
        dtype=receipt.dtype,
        session_id=receipt.session_id,
        client_nonce=receipt.client_nonce,
        step=receipt.step,
        prev_receipt=receipt.prev_receipt,
        input_digest=receipt.input_digest,
        input_shape=receipt.input_shape,
        output_digest=receipt.output_digest,
        output_shape=receipt.output_shape,
    )
    return sign_record(receipt, SERVER).to_wire(), facts


def test_an_honest_receipt_passes() -> None:
    wire, facts = honest()
    assert check_receipt(wire, facts).record.step == 3


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"server_key": bytes(MALLORY.verify_key)}, "wrong_server"),
        ({"session_id": bytes(16)}, "wrong_session"),
        ({"step": 4}, "wrong_step"),
        ({"client_nonce": bytes(16)}, "wrong_nonce"),
        ({"model_id": "other"}, "wrong_model"),
        ({"block_end": 5}, "wrong_blocks"),
        ({"weights_digest": bytes(32)}, "wrong_weights"),
        ({"dtype": "bfloat16"}, "wrong_dtype"),
        ({"input_digest": bytes(32)}, "wrong_input"),
        ({"output_shape": (1, 2, 64)}, "wrong_output"),
        ({"prev_receipt": bytes(32)}, "broken_chain"),
    ],
)
def test_a_receipt_that_misstates_the_step_is_a_fault(change: dict[str, object], reason: str) -> None:
    wire, facts = honest()
    with pytest.raises(ReceiptFault) as caught:
        check_receipt(wire, replace(facts, **change))  # type: ignore[arg-type]
    assert caught.value.reason == reason


def test_missing_forged_and_garbled_receipts_are_faults() -> None:
    _wire, facts = honest()
    with pytest.raises(ReceiptFault) as missing:
        check_receipt(None, facts)
    assert missing.value.reason == "missing"
    body = build_receipt(SERVER).encode()
    forged = pack([body, MALLORY.sign(Receipt.DOMAIN + body).signature])
    with pytest.raises(ReceiptFault) as bad:
        check_receipt(forged, facts)
    assert bad.value.reason == "bad_signature"
    with pytest.raises(ReceiptFault) as garbled:
        check_receipt(b"\x00garbage", facts)
    assert garbled.value.reason == "malformed"


@settings(max_examples=200)
@given(offset=st.integers(min_value=-10 * RECEIPT_CLOCK_SLACK_MS, max_value=10 * RECEIPT_CLOCK_SLACK_MS))
def test_a_receipt_dated_off_the_clients_clock_is_a_fault(offset: int) -> None:
    """Whatever date a server signs: accepted only within the slack of the client's clock, else a fault that
    keeps the signed receipt (with another of the server's, it may convict)."""
    wire, facts = honest()
    signed_ms = open_signed(Receipt, wire).record.timestamp_ms
    if abs(offset) <= RECEIPT_CLOCK_SLACK_MS:
        assert check_receipt(wire, facts, now_ms=signed_ms + offset).record.step == 3
    else:
        with pytest.raises(ReceiptFault) as caught:
            check_receipt(wire, facts, now_ms=signed_ms + offset)
        assert caught.value.reason == "wrong_time" and caught.value.receipt is not None
