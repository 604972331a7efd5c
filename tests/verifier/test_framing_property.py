"""No bundle a client can assemble from an honest server's genuine receipts and tensors gets it failed.

A dishonest client holds everything an honest server ever returned to it: receipts (all signatures valid)
and the exact tensors sent and received. Hypothesis builds any bundle from those pieces — prefixes,
suffixes, gaps, reorderings, duplicates, steps spliced from two sessions or two spans, other steps'
tensors, a batch row cut out of a tensor, any choice of compared steps — signs a challenge for it with a
fresh key and submits it to a real ledger (SQLite and PostgreSQL). The property: the ledger refuses it
(and nothing is recorded against the server), or it is admitted and the verifier's real check, replaying the
real `tiny` model, passes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from swarmtrust.ledger.models import ChallengeRow
from swarmtrust.ledger.spotchecks import SpotCheckError, SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.node.client.evidence import challenge_of
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.node.tensors import little_endian_bytes
from swarmtrust.protocol.evidence import Evidence
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, open_signed
from swarmtrust.verifier.checking import check_evidence
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.tolerance import load_tolerances
from tests.builders import new_key
from tests.node.swarm_helpers import tiny

SERVER, LEDGER = new_key(), new_key()


@dataclass(frozen=True)
class Step:
    receipt: bytes  # signed wire
    input: bytes
    output: bytes
    batch: int


def honest_session(span: Span, batch: int, prompt: int, decode: int, seed: int) -> list[Step]:
    """One session as a block server computes it (prefill, then decode steps with a KV cache), each step
    signed by the server's own receipt signer."""
    signer = ReceiptSigner(SERVER, "tiny", "float32")
    hidden = torch.randn(batch, prompt + decode, span.hidden_size, generator=torch.Generator().manual_seed(seed))
    inputs = [hidden[:, :prompt]] + [hidden[:, t : t + 1] for t in range(prompt, prompt + decode)]
    state, session, nonce, prev = CacheState(), os.urandom(16), os.urandom(16), None
    steps = []
    for index, x in enumerate(inputs):
        y = span.forward(x, state)
        data_in, data_out = bytes(little_endian_bytes(x)), bytes(little_endian_bytes(y))
        signed = signer.sign_step(
            session_id=session, step=index, client_nonce=nonce, block_start=span.start, block_end=span.end,
            weights_digest=span.weights_digest, input_bytes=data_in, input_shape=tuple(x.shape),
            output_bytes=data_out, output_shape=tuple(y.shape), prev_receipt=prev,
        )  # fmt: skip
        prev = signed.digest
        steps.append(Step(signed.to_wire(), data_in, data_out, batch))
    return steps


@pytest.fixture(scope="module")
def sessions() -> list[list[Step]]:
    first, second = Span.load(tiny(), 0, 4), Span.load(tiny(), 4, 8)
    return [
        honest_session(first, 2, 5, 6, seed=1),
        honest_session(first, 1, 3, 5, seed=2),
        honest_session(second, 1, 4, 4, seed=3),
    ]


@pytest.fixture(scope="module")
def spans() -> SpanCache:
    return SpanCache(tiny())


# --- what a dishonest client can build -------------------------------------------------------------------


@st.composite
def bundles(draw: st.DrawFn, sessions: list[list[Step]]) -> list[tuple[Step, bytes, bytes | None]]:
    """A list of (step whose receipt is used, input bytes, output bytes or None) from genuine pieces."""
    pieces = [(s, t) for s in range(len(sessions)) for t in range(len(sessions[s]))]
    base = draw(st.integers(0, len(sessions) - 1))
    shape = draw(st.sampled_from(["whole", "prefix", "suffix", "gap", "reorder", "duplicate", "splice", "any"]))
    steps = list(sessions[base])
    if shape == "prefix":
        steps = steps[: draw(st.integers(1, len(steps)))]
    elif shape == "suffix":
        steps = steps[draw(st.integers(1, len(steps) - 1)) :]
    elif shape == "gap":
        del steps[draw(st.integers(0, len(steps) - 1))]
    elif shape == "reorder":
        steps = draw(st.permutations(steps))
    elif shape == "duplicate":
        at = draw(st.integers(0, len(steps) - 1))
        steps.insert(at, steps[at])
    elif shape == "splice":
        other = sessions[draw(st.integers(0, len(sessions) - 1))]
        cut = draw(st.integers(1, len(steps)))
        steps = steps[:cut] + other[draw(st.integers(0, len(other) - 1)) :]
    else:
        chosen = draw(st.lists(st.sampled_from(pieces), min_size=1, max_size=8))
        steps = [sessions[s][t] for s, t in chosen]
    tampered: list[tuple[Step, bytes, bytes]] = [(step, step.input, step.output) for step in steps]
    for _ in range(draw(st.integers(0, 2))):  # tensors not of their own step, or a batch row cut out
        at = draw(st.integers(0, len(tampered) - 1))
        step, data_in, data_out = tampered[at]
        s, t = draw(st.sampled_from(pieces))
        swap = draw(st.sampled_from(["input", "output", "row"]))
        if swap == "input":
            data_in = sessions[s][t].input
        elif swap == "output":
            data_out = sessions[s][t].output
        elif step.batch > 1:
            data_out = data_out[: len(data_out) // step.batch]
        tampered[at] = (step, data_in, data_out)
    compared = draw(st.lists(st.booleans(), min_size=len(tampered), max_size=len(tampered)))
    out: list[tuple[Step, bytes, bytes | None]] = [
        (step, data_in, data_out if keep else None)
        for (step, data_in, data_out), keep in zip(tampered, compared, strict=True)
    ]
    if all(output is None for _, _, output in out):
        step, data_in, _ = out[0]
        out[0] = (step, data_in, step.output)
    return out


# --- the property -----------------------------------------------------------------------------------------


def submit(checks: SpotChecks, bundle: list[tuple[Step, bytes, bytes | None]]) -> bytes | None:
    """The encoded evidence if the ledger admitted it, None if it refused it."""
    receipts: list[Signed[Receipt]] = [open_signed(Receipt, step.receipt) for step, _, _ in bundle]
    evidence = Evidence(
        tuple(step.receipt for step, _, _ in bundle),
        tuple(data_in for _, data_in, _ in bundle),
        tuple(data_out for _, _, data_out in bundle),
    )
    encoded = evidence.encode()
    challenge = challenge_of(new_key(), receipts, encoded)
    try:
        checks.submit_challenge(challenge.to_wire(), encoded)
    except SpotCheckError as refused:
        assert refused.status in (400, 409, 413, 422), refused
        return None
    return encoded


def challenges_against_server(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(ChallengeRow)
                .where(ChallengeRow.server_key == bytes(SERVER.verify_key).hex())
            ).scalar_one()
        )


@pytest.mark.slow  # heavy: in the full tier only
def test_an_honest_server_is_never_failed_by_any_bundle_of_its_genuine_work(
    ledger: Ledger, sessions: list[list[Step]], spans: SpanCache
) -> None:
    checks = SpotChecks(ledger.engine, LEDGER, SpotCheckPolicy())
    tolerances = load_tolerances()
    seen: dict[str, int] = {"admitted": 0, "refused": 0}

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
    @given(st.data())
    def property_holds(data: Any) -> None:
        bundle = data.draw(bundles(sessions))
        before = challenges_against_server(ledger)
        encoded = submit(checks, bundle)
        if encoded is None:
            seen["refused"] += 1
            assert challenges_against_server(ledger) == before  # a refusal records nothing against the server
            return
        seen["admitted"] += 1
        finding = check_evidence(encoded, bytes(SERVER.verify_key), spans, tolerances)
        assert finding.outcome == "pass", (finding.outcome, finding.detail)

    property_holds()
    # Both sides of the property were exercised: some bundles were admitted and checked, others refused.
    assert seen["admitted"] >= 10 and seen["refused"] >= 10, seen
