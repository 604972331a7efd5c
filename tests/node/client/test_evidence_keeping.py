"""What a client keeps of a spot-checked session: every receipt and input, the first step's output and a
uniform random set of later outputs that the server cannot foresee, within the evidence budget however
long the session."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest
import torch
from scipy.stats import chisquare

from swarmtrust.node.client.evidence import HopEvidence, build_challenge
from swarmtrust.protocol.digests import tensor_digest
from swarmtrust.protocol.evidence import MAX_EVIDENCE_BYTES, Evidence, verify_evidence
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed
from tests.builders import new_key, signed_receipt

SERVER, CLIENT = new_key(), new_key()


def keep_session(kept: HopEvidence, tensors: Sequence[tuple[bytes, bytes, tuple[int, ...]]], dtype: str) -> None:
    """Feed ``kept`` a genuine session of ``SERVER``: (input, output, shape) per step."""
    session, nonce, prev = b"s" * 16, b"n" * 16, None
    for step, (data_in, data_out, shape) in enumerate(tensors):
        receipt: Signed[Receipt] = signed_receipt(
            SERVER,
            session_id=session,
            client_nonce=nonce,
            step=step,
            prev_receipt=prev,
            dtype=dtype,
            input_digest=tensor_digest(dtype, shape, data_in),
            input_shape=shape,
            output_digest=tensor_digest(dtype, shape, data_out),
            output_shape=shape,
        )
        prev = receipt.digest
        kept.add(receipt, data_in, data_out)


def small_session(steps: int) -> list[tuple[bytes, bytes, tuple[int, ...]]]:
    return [(bytes([step % 256]) * 16, bytes([step % 251]) * 16, (1, 1, 4)) for step in range(steps)]


def test_every_receipt_and_input_the_first_output_and_a_few_others_are_kept() -> None:
    kept = HopEvidence("k", compared_steps=5)
    keep_session(kept, small_session(40), "float32")
    assert len(kept.receipts) == len(kept.inputs) == 40
    assert 0 in kept.outputs and len(kept.outputs) == 6
    evidence = Evidence.decode(build_challenge(CLIENT, kept)[1])
    assert evidence.compared == tuple(sorted(kept.outputs))
    assert len(verify_evidence(evidence, bytes(SERVER.verify_key))) == 40


def test_a_short_session_compares_every_step() -> None:
    kept = HopEvidence("k", compared_steps=8)
    keep_session(kept, small_session(6), "float32")
    assert sorted(kept.outputs) == list(range(6))


@pytest.mark.slow  # heavy: in the full tier only
def test_later_steps_are_compared_uniformly() -> None:
    steps, slots, trials = 30, 4, 3000
    rng = random.Random(7)
    counts: Counter[int] = Counter()
    for _ in range(trials):
        kept = HopEvidence("k", compared_steps=slots, rng=rng)
        keep_session(kept, small_session(steps), "float32")
        counts.update(step for step in kept.outputs if step)
    observed = [counts[step] for step in range(1, steps)]
    assert sum(observed) == slots * trials
    # Each later step is kept in slots/(steps-1) of sessions, the last as often as the first.
    assert chisquare(observed).pvalue > 1e-4


def test_which_steps_are_compared_comes_from_the_operating_systems_randomness() -> None:
    # Nothing the server sees (session id, nonce, timing) seeds the draw.
    assert isinstance(HopEvidence("k").rng, random.SystemRandom)


@pytest.mark.slow  # heavy: in the full tier only
def test_a_long_llama_7b_sized_bfloat16_session_fits_the_budget_whole() -> None:
    """10,000 decode steps of hidden size 4096 in bfloat16 (80 MB of inputs) make one bundle under 64 MiB."""
    torch.manual_seed(0)
    hidden, steps = 4096, 10_000
    channel_scale = torch.exp(torch.randn(hidden))  # channels of very different scales, and one huge one
    channel_scale[7] *= 100
    states = (torch.randn(steps + 1, hidden) * channel_scale).to(torch.bfloat16)
    raw = states.view(torch.int16).numpy()
    tensors = [(raw[i].tobytes(), raw[i + 1].tobytes(), (1, 1, hidden)) for i in range(steps)]
    kept = HopEvidence("k")
    keep_session(kept, tensors, "bfloat16")
    challenge, encoded = build_challenge(CLIENT, kept)
    assert len(encoded) <= MAX_EVIDENCE_BYTES
    assert challenge.record.steps == steps  # not cut: every step can be compared
    evidence = Evidence.decode(encoded)
    assert len(verify_evidence(evidence, bytes(SERVER.verify_key))) == steps
    assert len(evidence.compared) == 257 and max(evidence.compared) > steps // 2


def test_a_session_too_long_for_the_budget_is_cut_to_a_whole_prefix() -> None:
    kept = HopEvidence("k", max_bundle_bytes=20_000)
    torch.manual_seed(1)
    states = torch.randn(401, 64).numpy()
    keep_session(kept, [(states[i].tobytes(), states[i + 1].tobytes(), (1, 1, 64)) for i in range(400)], "float32")
    challenge, encoded = build_challenge(CLIENT, kept)
    assert len(encoded) <= 20_000 and 0 < challenge.record.steps < 400
    evidence = Evidence.decode(encoded)
    assert challenge.record.first_step == 0 and 0 in evidence.compared
    assert len(verify_evidence(evidence, bytes(SERVER.verify_key))) == challenge.record.steps


def test_keeping_stops_at_the_memory_bound_and_the_bundle_ends_there() -> None:
    kept = HopEvidence("k", max_kept_bytes=16 * 2 * 10)
    keep_session(kept, small_session(30), "float32")
    assert kept.full and len(kept.receipts) == 10
    assert build_challenge(CLIENT, kept)[0].record.steps == 10


def test_a_client_cannot_ask_to_compare_more_steps_than_the_ledger_takes() -> None:
    import pytest

    from swarmtrust.node.client.evidence import COMPARED_STEPS

    with pytest.raises(ValueError, match="compared_steps"):
        HopEvidence("k", compared_steps=COMPARED_STEPS + 1)
