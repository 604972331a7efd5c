"""An honest server can never be framed: whatever a client drives against a real ``BlockServer`` handler
(opens, steps, reopened ids, stateless forwards, concurrent sessions with one id, restarts, clocks that
jump), the set of receipts it signed holds no proof of misbehaviour against it (``protocol.misbehaviour``).

In process: the inference handler is driven through in-memory streams in hivemind's framing, the forward
handler called directly, and a restart is a new ``BlockServer`` over the same registry directory."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import torch
from hivemind.p2p import P2PHandlerError
from hivemind.proto import runtime_pb2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from swarmtrust.node.behaviors import Behavior, BehaviorRuntime
from swarmtrust.node.block_rpc import OpenSession, StepMeta, StepReply, pack_metadata, tensor_to_proto, unpack_metadata
from swarmtrust.node.frames import read_message, write_end, write_message
from swarmtrust.node.model.span import Span
from swarmtrust.node.server.config import ServerLimits
from swarmtrust.node.server.handler import BlockServer, RequestRejectedError
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.node.server.session_registry import SessionRegistry
from swarmtrust.protocol.misbehaviour import DAY_MS, MAX_SESSION_AGE_MS, PROOF_HORIZON_MS, NotAProofError, contradiction
from swarmtrust.protocol.receipts import Receipt
from swarmtrust.protocol.signing import Signed, open_signed
from tests.node.swarm_helpers import tiny

pytestmark = pytest.mark.processes  # starts processes or servers: not in the fast tier

KEY = nacl.signing.SigningKey.generate()
T0 = 1_795_000_000_000
SESSION_IDS = [bytes([n]) * 16 for n in range(3)]  # few ids, so that clients collide on them often


class RecordingSigner(ReceiptSigner):
    """The server's own signer, keeping everything it ever signed (what a framer could collect)."""

    def __init__(self, signed: list[Signed[Receipt]]) -> None:
        super().__init__(KEY, "tiny", "float32")
        self.signed = signed

    def sign_step(self, **fields: Any) -> Signed[Receipt]:
        signed = super().sign_step(**fields)
        self.signed.append(signed)
        return signed


class _Sink:
    """Collects what ``node.frames`` writes: one frame's bytes."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


def frame(message: runtime_pb2.ExpertRequest | None) -> bytes:
    """A request as the client's side of the stream writes it (None: the end of its requests)."""
    sink = _Sink()
    if message is None:
        write_end(sink)  # type: ignore[arg-type]
    else:
        write_message(sink, message)  # type: ignore[arg-type]
    return sink.data


async def parse_reply(data: bytes) -> runtime_pb2.ExpertResponse | None:
    """A reply frame: the step's response, or None for an error (a refusal) or the stream's end."""
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    try:
        return await read_message(reader, runtime_pb2.ExpertResponse, max_bytes=1 << 24)
    except P2PHandlerError:
        return None


class Stream:
    """One client stream to the inference handler, in memory: requests in, one reply frame per request out.
    It is also the writer the handler is given."""

    def __init__(self, server: BlockServer) -> None:
        self.reader = asyncio.StreamReader()
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.task = asyncio.create_task(server.serve_inference(_INFO, self.reader, self))  # type: ignore[arg-type]

    def write(self, data: bytes) -> None:
        self.replies.put_nowait(data)

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.replies.put_nowait(b"")  # the handler is done with this stream

    async def request(self, request: runtime_pb2.ExpertRequest) -> runtime_pb2.ExpertResponse | None:
        """Send one request; the server's answer, or None if it refused (which ends the stream)."""
        if self.task.done():
            return None
        self.reader.feed_data(frame(request))
        reply = await self.replies.get()
        return await parse_reply(reply) if reply else None

    async def end(self) -> None:
        self.reader.feed_data(frame(None))
        self.reader.feed_eof()
        await self.task


@dataclass
class Client:
    """A (possibly dishonest) client's view: streams it opened, and the step it thinks each is on."""

    streams: dict[int, tuple[Stream, bytes, int]] = field(default_factory=dict)


class Harness:
    def __init__(self, span: Span, directory: Path) -> None:
        self.span = span
        self.directory = directory
        self.now = T0
        self.signed: list[Signed[Receipt]] = []
        self.registry = SessionRegistry.open(directory, bytes(KEY.verify_key), clock=lambda: self.now)
        self.server = self._server()
        self.client = Client()
        self.slots = itertools.count()

    def _server(self) -> BlockServer:
        return BlockServer(
            self.span,
            RecordingSigner(self.signed),
            BehaviorRuntime(Behavior()),
            ServerLimits(max_session_tokens=64),
            registry=self.registry,
        )

    def hidden(self, tokens: int) -> runtime_pb2.Tensor:
        return tensor_to_proto(torch.randn(1, tokens, self.span.hidden_size))[0]

    def opening(self, session: bytes, tokens: int) -> runtime_pb2.ExpertRequest:
        opened = OpenSession(
            model_id="tiny", start=0, end=2, session_id=session, client_nonce=os.urandom(16), max_length=64
        )
        meta = StepMeta(session_id=session, step=0, open=opened)
        return runtime_pb2.ExpertRequest(tensors=[self.hidden(tokens)], metadata=pack_metadata(meta))

    async def open(self, session: bytes, tokens: int) -> None:
        stream = Stream(self.server)
        if await stream.request(self.opening(session, tokens)) is not None:
            self.client.streams[next(self.slots)] = (stream, session, 1)

    async def step(self, slot: int, skew: int) -> None:
        if not self.client.streams:
            return
        key = sorted(self.client.streams)[slot % len(self.client.streams)]
        stream, session, step = self.client.streams[key]
        meta = StepMeta(session_id=session, step=max(0, step + skew))  # a skew asks for a step out of order
        request = runtime_pb2.ExpertRequest(tensors=[self.hidden(1)], metadata=pack_metadata(meta))
        if await stream.request(request) is not None:
            self.client.streams[key] = (stream, session, step + 1)
        else:
            del self.client.streams[key]

    async def close(self, slot: int) -> None:
        if self.client.streams:
            key = sorted(self.client.streams)[slot % len(self.client.streams)]
            stream, _, _ = self.client.streams.pop(key)
            await stream.end()

    async def forward(self, session: bytes) -> None:
        with contextlib.suppress(RequestRejectedError):  # a refused forward signs nothing
            await self.server.rpc_forward(self.opening(session, 2), _CONTEXT)  # type: ignore[arg-type]

    async def restart(self) -> None:
        """The process dies (every stream with it) and starts again over the same directory."""
        for key in list(self.client.streams):
            await self.close(key)
        self.registry.close()
        self.registry = SessionRegistry.open(self.directory, bytes(KEY.verify_key), clock=lambda: self.now)
        self.server = self._server()

    async def shutdown(self) -> None:
        for key in list(self.client.streams):
            await self.close(key)
        self.registry.close()


class _Info:
    peer_id = "client"


class _Context:
    remote_id = "client"


_INFO, _CONTEXT = _Info(), _Context()

ACTIONS = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(SESSION_IDS), st.integers(1, 3)),
    st.tuples(st.just("step"), st.integers(0, 5), st.sampled_from([0, 0, 0, -1, 1])),
    st.tuples(st.just("close"), st.integers(0, 5)),
    st.tuples(st.just("forward"), st.sampled_from(SESSION_IDS)),
    st.tuples(st.just("restart")),
    # the clock moves: a little, past a session's age limit, past the proof horizon, or back (NTP, a bad RTC)
    st.tuples(
        st.just("clock"),
        st.sampled_from([1_000, MAX_SESSION_AGE_MS + 1, PROOF_HORIZON_MS, 40 * DAY_MS, -DAY_MS, -40 * DAY_MS]),
    ),
)


@pytest.fixture(scope="module")
def span() -> Span:
    return Span.load(tiny(), 0, 2)


def no_proof_among(signed: list[Signed[Receipt]]) -> None:
    for a, b in itertools.combinations(signed, 2):
        try:
            found = contradiction(a, b)
        except NotAProofError:
            continue
        pytest.fail(f"the honest server signed a proof against itself: {found.kind} at step {found.step}")


A, B = SESSION_IDS[0], SESSION_IDS[1]
FORGET = ("clock", 40 * DAY_MS)  # past the registry's memory: the next restart forgets every id opened before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program=st.lists(ACTIONS, min_size=1, max_size=14))
# A clock set back after the registry forgot an id must not let a reopening sign near the first opening ...
@example(program=[("open", A, 2), FORGET, ("restart",), ("clock", -40 * DAY_MS), ("open", A, 2)])
# ... nor may a session opened long ago go on signing, to meet its own id's next opening
@example(program=[("open", A, 2), FORGET, ("step", 0, 0), ("restart",), ("open", A, 2), ("step", 0, 0)])
# the same id opened concurrently, and by a forward pass
@example(program=[("open", B, 1), ("open", B, 3), ("forward", B), ("step", 0, 0), ("step", 1, 0)])
def test_whatever_clients_do_an_honest_server_never_signs_a_proof_against_itself(
    span: Span, tmp_path_factory: pytest.TempPathFactory, program: list[tuple[Any, ...]]
) -> None:
    harness = Harness(span, tmp_path_factory.mktemp("registry"))

    async def drive() -> None:
        try:
            for action, *args in program:
                if action == "open":
                    await harness.open(*args)
                elif action == "step":
                    await harness.step(*args)
                elif action == "close":
                    await harness.close(*args)
                elif action == "forward":
                    await harness.forward(*args)
                elif action == "restart":
                    await harness.restart()
                else:
                    harness.now += args[0]
        finally:
            await harness.shutdown()

    asyncio.run(drive())
    no_proof_among(harness.signed)


def test_a_reopened_id_is_refused_before_and_after_a_restart_and_fresh_ids_still_serve(
    span: Span, tmp_path: Path
) -> None:
    harness = Harness(span, tmp_path)

    async def drive() -> list[bool]:
        outcomes = []
        try:
            for _ in range(2):
                await harness.open(SESSION_IDS[0], 2)
                outcomes.append(bool(harness.client.streams))
                await harness.restart()
            await harness.open(os.urandom(16), 2)  # a failover's fresh id
            outcomes.append(bool(harness.client.streams))
        finally:
            await harness.shutdown()
        return outcomes

    assert asyncio.run(drive()) == [True, False, True]
    assert len(harness.signed) == 2
    no_proof_among(harness.signed)


def test_an_equivocating_server_signs_what_convicts_it(span: Span, tmp_path: Path) -> None:
    """The check above can fail: the ``equivocate`` adversary, driven the same way, signs a proof."""
    harness = Harness(span, tmp_path)
    harness.server.behavior = BehaviorRuntime(Behavior("equivocate", equivocate=True))
    signer = harness.server.signer
    twins: list[Signed[Receipt]] = []
    original_twin = signer.sign_twin

    def recording_twin(receipt: Receipt) -> Signed[Receipt]:
        twins.append(original_twin(receipt))
        return twins[-1]

    signer.sign_twin = recording_twin  # type: ignore[method-assign]

    async def drive() -> None:
        try:
            await harness.open(SESSION_IDS[1], 2)
            await harness.step(0, 0)
        finally:
            await harness.shutdown()

    asyncio.run(drive())
    with pytest.raises(pytest.fail.Exception):
        no_proof_among(harness.signed + twins)
    assert contradiction(harness.signed[0], harness.signed[1]).kind == "broken_chain"


def test_the_wire_replies_carry_the_receipts_the_server_signed(span: Span, tmp_path: Path) -> None:
    harness = Harness(span, tmp_path)

    async def drive() -> runtime_pb2.ExpertResponse | None:
        stream = Stream(harness.server)
        try:
            return await stream.request(harness.opening(SESSION_IDS[2], 3))
        finally:
            await stream.end()
            harness.registry.close()

    response = asyncio.run(drive())
    assert response is not None
    receipt = open_signed(Receipt, unpack_metadata(response.metadata, StepReply).receipt or b"")
    assert receipt.digest == harness.signed[0].digest and receipt.record.timestamp_ms == T0


def test_forwards_count_against_the_session_limit_and_a_refused_one_claims_no_id(span: Span, tmp_path: Path) -> None:
    """A stateless forward claims an id on disk like an open: while ``max_sessions`` are busy it is refused
    before it claims anything, and once it is done it holds no slot."""
    harness = Harness(span, tmp_path)
    harness.server = BlockServer(
        span,
        RecordingSigner(harness.signed),
        BehaviorRuntime(Behavior()),
        ServerLimits(max_session_tokens=64, max_sessions=1),
        registry=harness.registry,
    )

    async def drive() -> tuple[int, int, int]:
        try:
            await harness.open(os.urandom(16), 2)  # the one slot, held by a live session
            busy = os.urandom(16)
            with pytest.raises(RequestRejectedError, match="busy"):
                await harness.server.rpc_forward(harness.opening(busy, 2), _CONTEXT)  # type: ignore[arg-type]
            refused_claimed = int(busy in harness.registry)
            await harness.close(0)
            await harness.forward(os.urandom(16))  # the slot is free again: served
            return refused_claimed, len(harness.registry), harness.server.open_sessions
        finally:
            await harness.shutdown()

    assert asyncio.run(drive()) == (0, 2, 0)
    assert len(harness.signed) == 2
