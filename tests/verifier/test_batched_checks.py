"""A server that batches concurrent sessions' decode steps is never failed for it: each session keeps its own
receipts, and a verifier's check of it (one prefill replay against the shipped thresholds) passes.

First through the real handler: sessions stepping at once on one ``BlockServer`` (in-memory streams in
hivemind's framing) share forward passes, and the real ``check_evidence`` passes every one of them. Then as a
property over what clients send: whatever the sessions' lengths, spans and dtypes, and whatever the sessions
beside it send (huge values, infinities, NaNs), no honest session served in a batch comes near its thresholds
any more than served alone."""

from __future__ import annotations

import asyncio
import functools
import os
import random

import nacl.signing
import torch
from hivemind.proto import runtime_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.node.behaviors import Behavior, BehaviorRuntime
from swarmtrust.node.block_rpc import OpenSession, StepMeta, StepReply, pack_metadata, tensor_to_proto, unpack_metadata
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.span import Span
from swarmtrust.node.server.config import ServerLimits
from swarmtrust.node.server.handler import BlockServer
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.protocol.evidence import Evidence
from swarmtrust.verifier.batched_serving import serve_together, severity
from swarmtrust.verifier.checking import check_evidence
from swarmtrust.verifier.escalation import replay_stepwise
from swarmtrust.verifier.replay import SpanCache
from swarmtrust.verifier.tolerance import load_tolerances
from tests.node.server.test_no_equivocation import Stream
from tests.node.swarm_helpers import tiny

SERVER = nacl.signing.SigningKey.generate()
SESSIONS = 3
DECODE_STEPS = 6


@functools.cache
def span(start: int, end: int, dtype: str) -> Span:
    return Span.load(tiny(), start, end, getattr(torch, dtype))


@functools.cache
def head() -> ModelHead:
    return ModelHead(tiny())


def request(session: bytes, step: int, hidden: torch.Tensor, opened: OpenSession | None) -> runtime_pb2.ExpertRequest:
    meta = StepMeta(session_id=session, step=step, open=opened)
    return runtime_pb2.ExpertRequest(tensors=[tensor_to_proto(hidden)[0]], metadata=pack_metadata(meta))


def test_sessions_stepping_at_once_share_passes_and_each_passes_its_check() -> None:
    layer = span(0, 4, "float32")
    server = BlockServer(layer, ReceiptSigner(SERVER, "tiny", "float32"), BehaviorRuntime(Behavior()), ServerLimits())
    ids = [os.urandom(16) for _ in range(SESSIONS)]
    tokens = [torch.randint(3, 250, (1, 4 + 3 * n + DECODE_STEPS)) for n in range(SESSIONS)]
    inputs = [head().embed(t) for t in tokens]
    steps = [[x[:, : 4 + 3 * n], *x[:, 4 + 3 * n :].split(1, dim=1)] for n, x in enumerate(inputs)]
    kept: list[list[tuple[bytes, bytes, bytes]]] = [[] for _ in ids]  # per session: (receipt, input, output)

    async def clients() -> None:
        streams = [Stream(server) for _ in ids]
        for index in range(DECODE_STEPS + 1):
            sent = []
            for n, session in enumerate(ids):
                opened = None
                if index == 0:
                    opened = OpenSession(model_id="tiny", start=0, end=4, session_id=session,
                                         client_nonce=os.urandom(16), max_length=64)  # fmt: skip
                sent.append(request(session, index, steps[n][index], opened))
            replies = await asyncio.gather(*(s.request(r) for s, r in zip(streams, sent, strict=True)))
            for n, (reply, req) in enumerate(zip(replies, sent, strict=True)):
                assert reply is not None, f"session {n} was refused at step {index}"
                receipt = unpack_metadata(reply.metadata, StepReply).receipt
                assert receipt is not None
                kept[n].append((receipt, req.tensors[0].buffer, reply.tensors[0].buffer))
        for stream in streams:
            await stream.end()

    asyncio.run(clients())
    tally = server.tally
    assert tally.one_token_steps == SESSIONS * DECODE_STEPS
    assert tally.one_token_passes == DECODE_STEPS  # every round's steps arrived together: one pass each
    spans, tolerances = SpanCache(tiny()), load_tolerances()
    for n, session in enumerate(kept):
        evidence = Evidence(*(tuple(column) for column in zip(*session, strict=True)))
        finding = check_evidence(evidence.encode(), bytes(SERVER.verify_key), spans, tolerances)
        assert finding.outcome == "pass", f"session {n}: {finding.detail}"


HOSTILE = st.sampled_from([1e30, float("inf"), float("nan"), 0.0])


@settings(max_examples=30, deadline=None)
@given(
    dtype=st.sampled_from(["float32", "bfloat16", "float16"]),
    seed=st.integers(0, 2**32 - 1),
    shapes=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 12)), min_size=2, max_size=5),
    hostile=st.one_of(st.none(), HOSTILE),
)
def test_no_honest_session_comes_nearer_its_thresholds_for_being_batched(
    dtype: str, seed: int, shapes: list[tuple[int, int]], hostile: float | None
) -> None:
    """Sessions of any lengths on a random span, from any tokens; with ``hostile`` the last session sends only
    that value. Each honest session, batched, passes its check with the severity it has alone (to rounding)."""
    rng = random.Random(seed)
    start = rng.randrange(8)
    layer = span(start, rng.randint(start + 1, 8), dtype)
    sessions = []
    for prompt, decode in shapes:
        embedded = head().embed(torch.tensor([[rng.randint(3, 255) for _ in range(prompt + decode)]])).to(layer.dtype)
        sessions.append([embedded[:, :prompt]] + [embedded[:, t : t + 1] for t in range(prompt, prompt + decode)])
    honest = len(sessions) - (hostile is not None)
    if hostile is not None:
        sessions[-1] = [torch.full(x.shape, hostile).to(layer.dtype) for x in sessions[-1]]
    tolerance = load_tolerances().span("tiny", layer.start, layer.end, dtype)
    together = serve_together(layer, sessions)
    for steps, batched in zip(sessions[:honest], together, strict=False):
        shared, lone = (
            severity(layer, tolerance, steps, batched),
            severity(layer, tolerance, steps, replay_stepwise(layer, steps)),
        )
        assert shared < 1, f"an honest batched session fails its check (severity {shared:.3f})"
        assert shared <= 1.5 * lone + 0.05, f"batched {shared:.3f} against {lone:.3f} alone"
