"""BLAKE2b-256 digests: of tensors (dtype, shape, little-endian bytes), of signed records, and of pairs.

Pure functions over bytes; the torch adapter is ``node.tensors``. Everything that needs a digest in
swarmtrust goes through here, so the server, the client, the verifier and the ledger agree bit for bit.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from typing import Literal, get_args

from swarmtrust.protocol.errors import WireFormatError

DIGEST_SIZE = 32

# Wire names of the activation dtypes swarmtrust carries, with their sizes in bytes.
DTYPE_SIZES: dict[str, int] = {"float32": 4, "bfloat16": 2, "float16": 2}
Dtype = Literal["float32", "bfloat16", "float16"]  # the same names, as a field type of wire records


_DTYPES: dict[str, Dtype] = {name: name for name in get_args(Dtype)}
assert set(_DTYPES) == set(DTYPE_SIZES), "Dtype names the dtypes DTYPE_SIZES sizes"


def dtype_named(name: str) -> Dtype:
    """``name`` as a ``Dtype``; WireFormatError for a name the wire does not carry."""
    dtype = _DTYPES.get(name)
    if dtype is None:
        raise WireFormatError(f"dtype {name!r} is not carried on the wire; expected one of {sorted(DTYPE_SIZES)}")
    return dtype


_TENSOR_DOMAIN = b"swarmtrust/tensor/v1"


def blake2b_256(*parts: bytes) -> bytes:
    """BLAKE2b with a 32-byte digest over the concatenation of ``parts``."""
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    for part in parts:
        h.update(part)
    return h.digest()


def tensor_digest(dtype: str, shape: Sequence[int], data: bytes | bytearray | memoryview) -> bytes:
    """Digest of a tensor given as its dtype name, shape and contiguous little-endian bytes.

    The header (dtype name, rank, each dimension as u64) is hashed before the bytes, so the same bytes
    under another dtype or shape give another digest.
    """
    itemsize = DTYPE_SIZES.get(dtype)
    if itemsize is None:
        raise WireFormatError(f"tensor dtype {dtype!r} is not one of {sorted(DTYPE_SIZES)}")
    expected = math.prod(shape) * itemsize
    if memoryview(data).nbytes != expected:
        raise WireFormatError(
            f"tensor of dtype {dtype} and shape {tuple(shape)} needs {expected} bytes, got {memoryview(data).nbytes}"
        )
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(_TENSOR_DOMAIN)
    h.update(dtype.encode("ascii") + b"\x00")
    h.update(struct.pack(f"<B{len(shape)}Q", len(shape), *shape))
    h.update(data)
    return h.digest()


def record_digest(domain: bytes, body: bytes) -> bytes:
    """Digest naming a signed record: its domain prefix and canonical body (what the signature covers)."""
    return blake2b_256(domain, body)


def span_digest(layer_digests: Sequence[bytes]) -> bytes:
    """The weights digest of consecutive blocks, from their block digests in order."""
    return blake2b_256(b"swarmtrust/span/v1", *layer_digests)
