"""Schemathesis hooks for the ledger service's spec (loaded through ``SCHEMATHESIS_HOOKS``).

Signed writes carry msgpack bodies, documented as opaque binary: send what schemathesis generates as
they are, so that those routes are fuzzed too rather than skipped as unserialisable.
"""

from __future__ import annotations

from typing import Any

import msgpack
import schemathesis


@schemathesis.serializer("application/x-msgpack")
def as_msgpack(ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return bytes(msgpack.packb(value, use_bin_type=True, default=str))
