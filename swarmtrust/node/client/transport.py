"""One inference stream to one server: send a step, await its reply, within a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from hivemind.p2p import PeerID
from hivemind.proto import runtime_pb2

from swarmtrust.node.block_rpc import INFERENCE_HANDLER
from swarmtrust.node.frames import read_message, write_end, write_message
from swarmtrust.protocol.errors import SwarmtrustError

# A reply is one tensor no larger than the step sent, plus a receipt; this bounds what a server can make
# the client buffer.
_REPLY_OVERHEAD_BYTES = 64 * 1024


class HopUnavailableError(SwarmtrustError):
    """A server stopped answering: it closed the stream, failed, or missed the deadline."""


class HopTimeoutError(HopUnavailableError):
    """A server missed the deadline (it may still be working, or waiting on something)."""


class HopStream:
    def __init__(self, p2p: Any, peer_id: str) -> None:
        self._p2p = p2p
        self._peer_id = PeerID.from_base58(peer_id)
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def step(self, request: runtime_pb2.ExpertRequest, timeout: float) -> runtime_pb2.ExpertResponse:
        """Send one request and return the server's reply; ``P2PHandlerError`` when it refused it."""
        await self.send(request, timeout)
        return await self.receive(timeout, sum(len(t.buffer) for t in request.tensors))

    async def send(self, request: runtime_pb2.ExpertRequest, timeout: float) -> None:
        async with self._deadline(timeout):
            if self._stream is None:
                _, reader, writer = await self._p2p.call_binary_stream_handler(self._peer_id, INFERENCE_HANDLER)
                self._stream = reader, writer
            writer = self._stream[1]
            write_message(writer, request)
            await writer.drain()

    async def receive(self, timeout: float, tensor_bytes: int) -> runtime_pb2.ExpertResponse:
        """The reply to the oldest request not yet answered, whose tensor holds at most ``tensor_bytes``."""
        if self._stream is None:
            raise HopUnavailableError("no request was sent on this stream")
        async with self._deadline(timeout):
            response = await read_message(
                self._stream[0], runtime_pb2.ExpertResponse, max_bytes=tensor_bytes + _REPLY_OVERHEAD_BYTES
            )
        if response is None:
            raise HopUnavailableError("the server closed the session")
        return response

    @contextlib.asynccontextmanager
    async def _deadline(self, timeout: float) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(timeout):
                yield
        except TimeoutError:
            raise HopTimeoutError(f"no answer within {timeout:.0f} s") from None

    def abort(self) -> None:
        """Drop the stream at once: its server may still be busy with (or waiting on) a step of it."""
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None

    async def close(self) -> None:
        """End the session: the server sees the end of the stream and frees it. A server that is gone or
        slow is not waited for beyond a second."""
        if self._stream is None:
            return
        reader, writer = self._stream
        self._stream = None
        with contextlib.suppress(Exception):
            write_end(writer)
            async with asyncio.timeout(1.0):
                while await reader.read(65536):  # the server closes its side once it has freed the session
                    pass
        writer.close()
