"""Canonical msgpack encoding of records as fixed-order lists, and strict decoding.

A record travels as a msgpack array whose positions are fixed by its type. Encoding is canonical
(smallest integer forms, UTF-8 strings, ``bin`` for bytes, float64 for floats), and decoding insists on
it by re-encoding and comparing, so one record has exactly one byte string and a signature over those
bytes cannot be re-wrapped into another encoding of the same values.
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack

from swarmtrust.protocol.errors import RecordTooLargeError, WireFormatError

_PACKERS = threading.local()  # a Packer is reusable but keeps a buffer: one per thread
_KEEP_PACKER_BYTES = 64 * 1024  # a Packer's buffer only grows: one that packed more is not kept


def pack(values: list[Any]) -> bytes:
    """Encode a list of plain values (int, str, bytes, float, bool, None, nested lists) canonically."""
    # The same bytes as ``msgpack.packb(values, use_bin_type=True)``, without building a Packer per call
    # (half the cost of packing a receipt).
    try:
        packer = _PACKERS.packer
    except AttributeError:
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    packed: bytes = packer.pack(values)
    if len(packed) > _KEEP_PACKER_BYTES:  # e.g. evidence of up to 64 MiB: its buffer goes with the Packer
        del _PACKERS.packer
    return packed


def unpack_list(
    data: bytes, *, max_bytes: int, what: str, canonical: bool = True, max_items: int | None = None
) -> list[Any]:
    """Decode ``data`` as one msgpack array of at most ``max_bytes`` bytes, canonical unless told not to.

    ``max_items`` bounds every array inside it (a few bytes per item could otherwise make millions of Python
    objects). Raises ``RecordTooLargeError`` before decoding anything oversized, and ``WireFormatError`` for
    anything that is not exactly one (canonical) array.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireFormatError(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise RecordTooLargeError(f"{what}: {len(data)} bytes is over the limit of {max_bytes} bytes")
    data = bytes(data)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            **({} if max_items is None else {"max_array_len": max_items, "max_map_len": max_items}),
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise WireFormatError(f"{what}: not a msgpack value ({exc})") from exc
    if not isinstance(value, list):
        raise WireFormatError(f"{what}: expected a msgpack array, got {type(value).__name__}")
    if not canonical:
        return value
    try:
        reencoded = pack(value)
    except (TypeError, ValueError) as exc:  # e.g. ext types, which records never use
        raise WireFormatError(f"{what}: holds a value records never use ({exc})") from exc
    if reencoded != data:
        raise WireFormatError(f"{what}: not in canonical encoding (re-encode the values with swarmtrust)")
    return value
