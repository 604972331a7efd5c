"""The receipt floor the performance benchmarks report is timed over real receipts that a client accepts."""

from __future__ import annotations

from bench.crypto_floor import ed25519_ms, receipt_after_pass_ms
from swarmtrust.node.model.source import resolve_model


def test_a_hops_receipt_after_a_forward_pass_is_signed_checked_and_chained() -> None:
    # check_receipt raises on any field the client would refuse (the chain link included), so a figure at all
    # means every sampled receipt was one a client accepts.
    cost = receipt_after_pass_ms(resolve_model("tiny"), 0, 2, samples=5)
    assert 0 < cost < 1000


def test_ed25519_alone_is_timed_over_a_receipt_sized_message() -> None:
    assert 0 < ed25519_ms(samples=3) < 1000
