"""What a client owes after a generation: block-tokens per server session, from the receipts it checked."""

from __future__ import annotations

import os

from swarmtrust.node.client.payments import Bill, bills
from swarmtrust.node.client.session import HopRecord
from tests.builders import new_key, signed_receipt


def test_each_server_session_is_billed_the_tokens_times_the_blocks_its_receipts_show() -> None:
    first, second = new_key(), new_key()
    a, b = os.urandom(16), os.urandom(16)
    steps = []
    for step, tokens in enumerate((5, 1, 1)):  # a 5-token prompt, then one token per step
        shape = (1, tokens, 64)
        steps.append(
            [
                HopRecord(bytes(first.verify_key).hex(), (0, 3), signed_receipt(
                    first, session_id=a, step=step, block_start=0, block_end=3, input_shape=shape, output_shape=shape
                ), 0.01),
                HopRecord(bytes(second.verify_key).hex(), (3, 8), signed_receipt(
                    second, session_id=b, step=step, block_start=3, block_end=8, input_shape=shape, output_shape=shape
                ), 0.01),
            ]
        )  # fmt: skip
    steps.append([HopRecord(bytes(first.verify_key).hex(), (0, 3), None, 0.01)])  # no receipt: not billed
    assert bills(steps) == [
        Bill(bytes(first.verify_key).hex(), a, 7 * 3),
        Bill(bytes(second.verify_key).hex(), b, 7 * 5),
    ]
