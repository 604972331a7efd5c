"""RPC handlers of a block server: an inference stream per session, pushed inputs from the servers
before this one in clients' chains, and a stateless forward pass.

A bad request (wrong model, blocks, dtype or hidden size; a batch, chunk or session over the limits;
an unknown session; a step out of order; a push that never came) is refused with a ``RequestRejectedError``
naming what was wrong. The caller gets that message as an error frame (``P2PHandlerError`` on its side)
and only that session ends: the server keeps serving others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import torch
from hivemind.p2p import P2PContext, P2PHandlerError
from hivemind.p2p.p2p_daemon_bindings.datastructures import StreamInfo
from hivemind.proto import runtime_pb2

from swarmtrust.node.behaviors import BehaviorRuntime
from swarmtrust.node.block_rpc import (
    MAX_METADATA_BYTES,
    OpenSession,
    StepMeta,
    StepReply,
    WireTensor,
    pack_metadata,
    tensor_from_proto,
    tensor_to_proto,
    unpack_metadata,
)
from swarmtrust.node.frames import read_message, write_error, write_message
from swarmtrust.node.model.span import Span
from swarmtrust.node.server.config import ServerLimits
from swarmtrust.node.server.pushes import PUSH_WAIT_SECONDS, PushError, PushInbox, PushOutbox
from swarmtrust.node.server.receipting import ReceiptSigner
from swarmtrust.node.server.session_registry import SessionRefusedError, SessionRegistry
from swarmtrust.node.server.sessions import Session
from swarmtrust.node.server.status import ServerTally
from swarmtrust.node.server.step_batcher import StepBatcher
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError

log = logging.getLogger(__name__)


class RequestRejectedError(SwarmtrustError):
    """A client's request that this server will not serve; the message says why."""


@dataclass(frozen=True)
class _Output:
    """A step's output: the tensor, its protobuf and the exact bytes that protobuf carries."""

    tensor: torch.Tensor
    proto: runtime_pb2.Tensor
    data: bytes


class BlockServer:
    def __init__(
        self,
        span: Span,
        signer: ReceiptSigner,
        behavior: BehaviorRuntime,
        limits: ServerLimits,
        *,
        receipts: bool = True,
        outbox: PushOutbox | None = None,
        registry: SessionRegistry | None = None,
    ) -> None:
        self.span = span
        self.signer = signer
        self.behavior = behavior
        self.limits = limits
        self.receipts = receipts
        self.open_sessions = 0
        self.tally = ServerTally()  # what it served, for the operator's status line
        self.inbox = PushInbox()
        self.outbox = outbox
        # Every session id ever opened here (in memory only unless given one on disk, as ``app`` does).
        self.registry = registry if registry is not None else SessionRegistry.in_memory()
        # concurrent sessions' one-token steps share forward passes (``limits.batch_sessions`` at most each)
        self.batcher = StepBatcher(
            span, limits.batch_sessions, behavior.skipped_blocks, lambda steps: self.tally.count_pass(steps)
        )
        self._max_elements = limits.max_batch * limits.max_session_tokens * span.hidden_size
        self._max_frame = self._max_elements * 4 + MAX_METADATA_BYTES + 1024  # float32 at most, plus framing

    async def serve_inference(
        self, stream: StreamInfo, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One client's inference session on one stream: a reply per step, in order, until the client ends
        the stream. A refused request ends the session with the reason; the server keeps serving others."""
        session: Session | None = None
        limit = self._max_frame
        try:
            while (request := await read_message(reader, runtime_pb2.ExpertRequest, max_bytes=limit)) is not None:
                meta = self._meta(request)
                if session is None:
                    session = self._open(meta)
                    self.open_sessions += 1
                    self.tally.sessions += 1
                    self.inbox.track(session.session_id, 0)
                    await self.registry.durable()  # its id is on disk before anything is signed in it
                self._check_step(session, meta)
                hidden = await self._input(session, meta, request)
                self._check_push(meta, hidden)
                output = await self._compute(session, hidden)
                if meta.push_to is not None and self.outbox is not None:  # the next hop waits on this: first
                    self.outbox.push(meta.push_to, output.proto)
                response = self._answer(session, hidden, output)
                self.inbox.track(session.session_id, session.next_step)
                write_message(writer, response)
                await writer.drain()
        except (RequestRejectedError, WireFormatError, PushError) as exc:
            log.info("refused a request from %s: %s", stream.peer_id, exc)
            with contextlib.suppress(ConnectionError):
                write_error(writer, str(exc))
        except (ConnectionError, P2PHandlerError):
            log.debug("the client of a session on this server went away")
        except Exception as exc:  # a bug here must not pass silently, nor take the server down
            log.exception("a session failed on this server")
            with contextlib.suppress(ConnectionError):
                write_error(writer, f"the server failed this step: {exc}")
        finally:
            if session is not None:
                self.open_sessions -= 1
                self.inbox.close(session.session_id)
            writer.close()

    async def serve_pushes(
        self, stream: StreamInfo, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Pushed inputs from the server before this one in some client's chain."""
        try:
            # only one-token steps are pushed
            await self.inbox.serve(stream, reader, max_tensor_bytes=self.limits.max_batch * self.span.hidden_size * 4)
        finally:
            writer.close()

    async def _input(self, session: Session, meta: StepMeta, request: runtime_pb2.ExpertRequest) -> WireTensor:
        if meta.pushed_by is None:
            return self._hidden(request)
        if request.tensors:
            raise RequestRejectedError("a pushed step carries no tensor: its input comes from the previous hop")
        return self._checked_hidden(
            await self.inbox.take(session.session_id, meta.step, meta.pushed_by, PUSH_WAIT_SECONDS)
        )

    def _check_push(self, meta: StepMeta, hidden: WireTensor) -> None:
        if meta.push_to is None:
            return
        if self.outbox is None:
            raise RequestRejectedError("this server does not push outputs; send each hop its input yourself")
        if hidden.shape[1] != 1:
            raise RequestRejectedError(f"only one-token steps are pushed, this one has {hidden.shape[1]} tokens")

    async def rpc_forward(self, request: runtime_pb2.ExpertRequest, context: P2PContext) -> runtime_pb2.ExpertResponse:
        try:
            meta = self._meta(request)
            if meta.step != 0:
                raise RequestRejectedError("a forward pass is step 0 of its own session")
            session = self._open(meta)
        except (RequestRejectedError, WireFormatError) as exc:
            log.info("refused a forward from %s: %s", context.remote_id, exc)
            raise RequestRejectedError(str(exc)) from None
        self.open_sessions += 1  # a forward claims an id and waits on the disk: it counts as a session till done
        self.tally.sessions += 1
        try:
            await self.registry.durable()
            hidden = self._hidden(request)
            self._admit(session, hidden)
            output = self.span.forward(
                hidden.to_torch(),
                None,
                start=session.block_start,
                end=session.block_end,
                skip=self.behavior.skipped_blocks(session.block_start, session.block_end),
            )
            return self._answer(session, hidden, self._finish(output))
        except (RequestRejectedError, WireFormatError) as exc:
            log.info("refused a forward from %s: %s", context.remote_id, exc)
            raise RequestRejectedError(str(exc)) from None
        finally:
            self.open_sessions -= 1

    # --- validation ----------------------------------------------------------------------------------

    def _meta(self, request: runtime_pb2.ExpertRequest) -> StepMeta:
        return unpack_metadata(request.metadata, StepMeta)

    def _open(self, meta: StepMeta) -> Session:
        opened = meta.open
        if opened is None:
            raise RequestRejectedError(f"unknown session {meta.session_id.hex()}: open it first (step 0 with 'open')")
        self._check_open(opened)
        if opened.session_id != meta.session_id:
            raise RequestRejectedError("the step's session id differs from the one being opened")
        if self.open_sessions >= self.limits.max_sessions:  # forwards too: each one claims an id on disk
            raise RequestRejectedError(f"server busy: {self.open_sessions} sessions open; try another server")
        try:  # last: an id is spent only on a session that will run (open, or a forward pass, alike)
            opened_ms = self.registry.claim(opened.session_id)
        except SessionRefusedError as exc:
            raise RequestRejectedError(str(exc)) from None
        return Session(
            session_id=opened.session_id,
            client_nonce=opened.client_nonce,
            block_start=opened.start,
            block_end=opened.end,
            weights_digest=self.span.digest_of(opened.start, opened.end),
            max_tokens=opened.max_length,
            opened_ms=opened_ms,
            receipts=self.receipts,
        )

    def _check_open(self, opened: OpenSession) -> None:
        span = self.span
        if opened.model_id != span.model_id:
            raise RequestRejectedError(f"this server serves model {span.model_id!r}, not {opened.model_id!r}")
        if not span.start <= opened.start < opened.end <= span.end:
            raise RequestRejectedError(
                f"blocks {opened.start}:{opened.end} are not within the served blocks {span.start}:{span.end}"
            )
        if opened.max_length > self.limits.max_session_tokens:
            raise RequestRejectedError(
                f"max_length {opened.max_length} is over this server's limit of {self.limits.max_session_tokens}"
            )
        if not opened.receipts and self.receipts:
            raise RequestRejectedError("this server signs a receipt for every step; sessions without them are refused")

    def _check_step(self, session: Session, meta: StepMeta) -> None:
        if meta.session_id != session.session_id:
            raise RequestRejectedError(f"unknown session {meta.session_id.hex()} on this stream")
        if meta.open is not None and meta.step != 0:
            raise RequestRejectedError("a session is opened only once, at step 0")
        if meta.step != session.next_step:
            raise RequestRejectedError(f"step {meta.step} is out of order: expected step {session.next_step}")

    def _hidden(self, request: runtime_pb2.ExpertRequest) -> WireTensor:
        if len(request.tensors) != 1:
            raise RequestRejectedError(f"expected exactly one tensor of hidden states, got {len(request.tensors)}")
        return self._checked_hidden(request.tensors[0])

    def _checked_hidden(self, proto: runtime_pb2.Tensor) -> WireTensor:
        tensor = tensor_from_proto(proto, max_elements=self._max_elements)
        if tensor.dtype != self.signer.dtype:
            raise RequestRejectedError(f"hidden states must be {self.signer.dtype}, got {tensor.dtype}")
        if len(tensor.shape) != 3 or tensor.shape[2] != self.span.hidden_size:
            raise RequestRejectedError(
                f"hidden states must be (batch, tokens, {self.span.hidden_size}), got {tensor.shape}"
            )
        batch, tokens = tensor.shape[0], tensor.shape[1]
        if not 1 <= batch <= self.limits.max_batch:
            raise RequestRejectedError(f"batch of {batch} is outside this server's 1..{self.limits.max_batch}")
        if tokens < 1:
            raise RequestRejectedError("a step needs at least one token")
        return tensor

    # --- computing a step ------------------------------------------------------------------------------

    def _admit(self, session: Session, hidden: WireTensor) -> None:
        """Refuse a step the session cannot take (over its length, or another batch than its first step's)."""
        tokens = hidden.shape[1]
        if session.cache.length + tokens > session.max_tokens:
            total = session.cache.length + tokens
            raise RequestRejectedError(
                f"the session would hold {total} tokens, over its max_length {session.max_tokens}"
            )
        if session.cache.length and hidden.shape[0] != session.batch:
            raise RequestRejectedError(f"the session's batch is {session.batch}, this step has {hidden.shape[0]}")
        session.batch = hidden.shape[0]

    async def _compute(self, session: Session, hidden: WireTensor) -> _Output:
        """A step of an inference session: one-token steps through the batcher (with other sessions' steps
        that wait with it), longer ones alone."""
        self._admit(session, hidden)
        start, end = session.block_start, session.block_end
        if hidden.shape[1] == 1:
            output = await self.batcher.step(hidden.to_torch(), session.cache, start, end)
        else:
            skip = self.behavior.skipped_blocks(start, end)
            output = self.span.forward(hidden.to_torch(), session.cache, start=start, end=end, skip=skip)
        return self._finish(output)

    def _finish(self, output: torch.Tensor) -> _Output:
        output = self.behavior.finish_step(output)
        proto, output_bytes = tensor_to_proto(output)
        return _Output(output, proto, output_bytes)

    def _answer(self, session: Session, hidden: WireTensor, output: _Output) -> runtime_pb2.ExpertResponse:
        """The reply to a computed step, with its signed receipt; the session moves on to its next step."""
        receipt = self._receipt(session, hidden, output.tensor, output.data)
        reply = StepReply(step=session.next_step, receipt=receipt)
        session.next_step += 1
        self.tally.steps += 1
        return runtime_pb2.ExpertResponse(tensors=[output.proto], metadata=pack_metadata(reply))

    def _receipt(self, session: Session, hidden: WireTensor, output: torch.Tensor, output_bytes: bytes) -> bytes | None:
        if not session.receipts:
            return None
        try:
            signed_ms = self.registry.signing_time(session.opened_ms)
        except SessionRefusedError as exc:
            raise RequestRejectedError(str(exc)) from None
        signed = self.signer.sign_step(
            session_id=session.session_id,
            step=session.next_step,
            client_nonce=session.client_nonce,
            block_start=session.block_start,
            block_end=session.block_end,
            weights_digest=session.weights_digest,
            input_bytes=hidden.data,
            input_shape=hidden.shape,
            output_bytes=output_bytes,
            output_shape=tuple(output.shape),
            prev_receipt=self._link(session),
            timestamp_ms=signed_ms,
        )
        session.prev_receipt, session.last_receipt = signed.digest, signed.record
        if self.behavior.behavior.withhold:
            return None  # computed and even chained, but never handed over
        return signed.to_wire()

    def _link(self, session: Session) -> bytes | None:
        """The digest a step's receipt chains to: the session's last receipt (an equivocator's twin of it)."""
        if self.behavior.behavior.equivocate and session.last_receipt is not None:
            return self.signer.sign_twin(session.last_receipt).digest
        return session.prev_receipt
