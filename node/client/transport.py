"""One inference stream to one server: send a step, await its reply, within a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from hivemind.p2p import PeerID
from hivemind.proto import runtime_pb2

from node.errors import SwarmtrustError
from node.protocol import INFERENCE_HANDLER


class HopUnavailableError(SwarmtrustError):
    """A server stopped answering: it closed the stream, failed, or missed the deadline."""


class HopStream:
    def __init__(self, p2p: Any, peer_id: str) -> None:
        self._p2p = p2p
        self._peer_id = PeerID.from_base58(peer_id)
        self._requests: asyncio.Queue[runtime_pb2.ExpertRequest | None] = asyncio.Queue()
        self._responses: AsyncIterator[runtime_pb2.ExpertResponse] | None = None

    async def _outgoing(self) -> AsyncIterator[runtime_pb2.ExpertRequest]:
        while (request := await self._requests.get()) is not None:
            yield request

    async def _open(self, timeout: float) -> AsyncIterator[runtime_pb2.ExpertResponse]:
        responses: AsyncIterator[runtime_pb2.ExpertResponse] = await asyncio.wait_for(
            self._p2p.iterate_protobuf_handler(
                self._peer_id, INFERENCE_HANDLER, self._outgoing(), runtime_pb2.ExpertResponse
            ),
            timeout,
        )
        self._responses = responses
        return responses

    async def step(self, request: runtime_pb2.ExpertRequest, timeout: float) -> runtime_pb2.ExpertResponse:
        try:
            responses = self._responses or await self._open(timeout)
            await self._requests.put(request)
            return await asyncio.wait_for(anext(responses), timeout)
        except StopAsyncIteration:
            raise HopUnavailableError("the server closed the session") from None
        except TimeoutError:
            raise HopUnavailableError(f"no answer within {timeout:.0f} s") from None

    async def close(self) -> None:
        """End the session: the server sees the end of the stream and frees it. A server that is gone or
        slow is not waited for beyond a second."""
        await self._requests.put(None)
        responses = self._responses
        if responses is None:
            return

        async def drain() -> None:
            async for _ in responses:
                pass

        try:
            await asyncio.wait_for(drain(), 1.0)
        except Exception:
            aclose = getattr(responses, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
