"""Hidden states pushed between the servers of a chain: an outbox of streams to next hops, and an inbox
where a pushed input waits for the step its client announced.

An input is taken only for a session open on this server, for the step its client is on, and only from
the peer that client named for that step (libp2p authenticates the sender's peer id); anything else is
dropped. A step whose push does not come in time is refused; its client then starts that server's session
afresh and sends it every step itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from hivemind.p2p import P2PDaemonError, P2PHandlerError, PeerID
from hivemind.p2p.p2p_daemon_bindings.datastructures import StreamInfo
from hivemind.proto import runtime_pb2

from swarmtrust.node.block_rpc import (
    MAX_METADATA_BYTES,
    PUSH_HANDLER,
    PushMeta,
    PushTarget,
    pack_metadata,
    unpack_metadata,
)
from swarmtrust.node.frames import read_message, write_message
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError

log = logging.getLogger(__name__)

# A pushed input later than this after its client's request is given up. The request comes when the chain's
# first server starts, so this bounds the compute of all the servers before this one in a chain.
PUSH_WAIT_SECONDS = 15.0
_MAX_SENDERS_PER_STEP = 4  # pushes held for a step before its client names the sender
_OPEN_TIMEOUT_SECONDS = 5.0
_MAX_UNREAD_BYTES = 1 << 20  # pushes a next hop has not read yet, past which its stream is dropped


class PushError(SwarmtrustError):
    """A pushed input that did not come, or came from a peer other than the one the client named."""


@dataclass
class _Slot:
    """One step of one session: the sender its client named (once its request came), and pushes so far."""

    expected: str | None = None
    arrived: dict[str, runtime_pb2.Tensor] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class PushInbox:
    def __init__(self) -> None:
        self._next_step: dict[bytes, int] = {}  # open sessions: their next step
        self._slots: dict[tuple[bytes, int], _Slot] = {}

    def is_open(self, session_id: bytes) -> bool:
        return session_id in self._next_step

    @property
    def held(self) -> int:
        """Steps holding pushed inputs not yet taken."""
        return len(self._slots)

    def track(self, session_id: bytes, next_step: int) -> None:
        """The session is open here and on ``next_step`` (called when it opens and after every step);
        pushes held for its earlier steps are dropped."""
        self._next_step[session_id] = next_step
        for key in [key for key in self._slots if key[0] == session_id and key[1] < next_step]:
            del self._slots[key]

    def close(self, session_id: bytes) -> None:
        self._next_step.pop(session_id, None)
        for key in [key for key in self._slots if key[0] == session_id]:
            del self._slots[key]

    def deliver(self, sender: str, meta: PushMeta, tensor: runtime_pb2.Tensor) -> bool:
        """Hold a pushed input for its step; False (dropped) unless that session is open here, on that step,
        and the sender is the one its client named (or the client has not named one yet)."""
        if self._next_step.get(meta.session_id) != meta.step:
            return False
        slot = self._slots.setdefault((meta.session_id, meta.step), _Slot())
        if slot.expected not in (None, sender) or sender in slot.arrived:
            return False
        if len(slot.arrived) >= _MAX_SENDERS_PER_STEP:
            return False
        slot.arrived[sender] = tensor
        if slot.expected == sender:
            slot.ready.set()
        return True

    async def take(self, session_id: bytes, step: int, sender: str, timeout: float) -> runtime_pb2.Tensor:
        """The input ``sender`` pushed for this step, waiting for it up to ``timeout`` seconds."""
        key = (session_id, step)
        slot = self._slots.setdefault(key, _Slot())
        slot.expected = sender
        try:
            if sender not in slot.arrived:
                async with asyncio.timeout(timeout):
                    await slot.ready.wait()
            return slot.arrived[sender]
        except TimeoutError:
            raise PushError(f"no input for step {step} was pushed by {sender} within {timeout:.0f} s") from None
        finally:
            self._slots.pop(key, None)

    async def serve(self, stream: StreamInfo, reader: asyncio.StreamReader, max_tensor_bytes: int) -> None:
        """Take pushes from one peer's stream until it ends; a malformed one ends the stream."""
        sender = stream.peer_id.to_base58()
        limit = max_tensor_bytes + MAX_METADATA_BYTES + 1024
        try:
            while (message := await read_message(reader, runtime_pb2.ExpertRequest, max_bytes=limit)) is not None:
                meta = unpack_metadata(message.metadata, PushMeta)
                if len(message.tensors) != 1 or not self.deliver(sender, meta, message.tensors[0]):
                    log.debug("dropped a push from %s for step %d", sender, meta.step)
        except WireFormatError as exc:
            log.info("closed the push stream from %s: %s", sender, exc)
        except (ConnectionError, P2PHandlerError):
            log.debug("the push stream from %s broke", sender)


class PushOutbox:
    """Streams to next hops' servers, opened on first use and kept. A push never holds up the step that
    makes it: a stream still to be opened is opened in the background, and one whose server stops reading
    (or that breaks) is dropped, losing that push (its client notices) and opened afresh for the next."""

    def __init__(self, p2p: Any) -> None:
        self._p2p = p2p
        self._writers: dict[str, asyncio.StreamWriter] = {}
        self._opening: dict[str, asyncio.Task[None]] = {}  # one stream per peer, however many sessions use it

    def push(self, target: PushTarget, tensor: runtime_pb2.Tensor) -> None:
        message = runtime_pb2.ExpertRequest(
            tensors=[tensor], metadata=pack_metadata(PushMeta(session_id=target.session_id, step=target.step))
        )
        writer = self._writers.get(target.peer_id)
        if writer is not None and not writer.is_closing():
            if writer.transport.get_write_buffer_size() <= _MAX_UNREAD_BYTES:
                write_message(writer, message)
                return
            log.info("%s stopped reading its push stream: dropped it", target.peer_id)
            writer.transport.abort()
        self._writers.pop(target.peer_id, None)
        if target.peer_id not in self._opening:
            task = asyncio.create_task(self._open_and_push(target.peer_id, message))
            self._opening[target.peer_id] = task
            task.add_done_callback(lambda _: self._opening.pop(target.peer_id, None))

    async def _open_and_push(self, peer_id: str, message: runtime_pb2.ExpertRequest) -> None:
        try:
            async with asyncio.timeout(_OPEN_TIMEOUT_SECONDS):
                _, _, writer = await self._p2p.call_binary_stream_handler(PeerID.from_base58(peer_id), PUSH_HANDLER)
        except (OSError, EOFError, ValueError, TimeoutError, P2PDaemonError) as exc:
            log.info("could not open a push stream to %s: %s", peer_id, exc)
            return
        self._writers[peer_id] = writer
        write_message(writer, message)

    def close(self) -> None:
        for task in list(self._opening.values()):
            task.cancel()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
