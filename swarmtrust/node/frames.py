"""Protobuf messages framed on a hivemind binary stream, written with one socket write each.

The framing is hivemind's own for protobuf streams (a marker byte, the length as 8 big-endian bytes,
the serialized message; an error marker with an empty ``RPCError`` ends a stream), so either end may
still be hivemind's ``iterate_protobuf_handler`` or ``add_protobuf_handler``. The inference path uses
it directly because hivemind's generic stream plumbing (a queue, a task and three writes per message)
costs about a third of a loopback round trip between block servers (docs/BENCHMARKS.md, issue 3).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar, cast

from google.protobuf.message import DecodeError, Message
from hivemind.p2p import P2PHandlerError
from hivemind.proto.p2pd_pb2 import RPCError

from swarmtrust.protocol.errors import WireFormatError

MESSAGE_MARKER = b"\x00"
ERROR_MARKER = b"\x01"
_LENGTH_BYTES = 8

M = TypeVar("M", bound=Message)


def write_message(writer: asyncio.StreamWriter, message: Message) -> None:
    data = message.SerializeToString()
    writer.write(MESSAGE_MARKER + len(data).to_bytes(_LENGTH_BYTES, "big") + data)


def write_error(writer: asyncio.StreamWriter, text: str) -> None:
    """Tell the peer its request failed and why (a hivemind caller raises ``P2PHandlerError``)."""
    data = RPCError(message=text).SerializeToString()
    writer.write(ERROR_MARKER + len(data).to_bytes(_LENGTH_BYTES, "big") + data)


def write_end(writer: asyncio.StreamWriter) -> None:
    """The end of this side's messages (hivemind's ``END_OF_STREAM``)."""
    writer.write(ERROR_MARKER + bytes(_LENGTH_BYTES))


async def read_message(reader: asyncio.StreamReader, message_type: type[M], *, max_bytes: int) -> M | None:
    """The next message, or None when the peer ended the stream or closed the connection.

    Raises ``P2PHandlerError`` with the peer's text when it reported an error, and ``WireFormatError``
    for a frame that is oversized or not a message of ``message_type``.
    """
    try:
        header = await reader.readexactly(1 + _LENGTH_BYTES)
    except asyncio.IncompleteReadError:
        return None
    length = int.from_bytes(header[1:], "big")
    if length > max_bytes:
        raise WireFormatError(f"a message of {length} bytes is over the limit of {max_bytes} bytes")
    try:
        data = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ConnectionResetError("the peer closed the stream in the middle of a message") from None
    marker = header[:1]
    if marker == MESSAGE_MARKER:
        return cast(M, _parse(message_type, data))
    if marker == ERROR_MARKER:
        error = _parse(RPCError, data)
        if not error.message:
            return None
        raise P2PHandlerError(error.message)
    raise WireFormatError(f"unknown frame marker {marker.hex()}")


def _parse(message_type: type[Any], data: bytes) -> Any:
    message = message_type()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise WireFormatError(f"not a {message_type.__name__}: {exc}") from exc
    return message
