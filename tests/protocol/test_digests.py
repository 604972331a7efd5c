from __future__ import annotations

import hashlib
import struct

import pytest
import torch

from swarmtrust.node.tensors import TORCH_DTYPES, fingerprint, little_endian_bytes, output_sketch
from swarmtrust.protocol.digests import DTYPE_SIZES, tensor_digest
from swarmtrust.protocol.errors import WireFormatError

# Pinned so that any change to the digest definition is a visible, deliberate wire-format change.
ARANGE_2X3_FLOAT32 = "68d8134fb3fcdf1ea32cc8efee4ea8e7730c7e05b00210b173470925da462976"


def test_torch_and_wire_dtype_tables_agree() -> None:
    assert set(TORCH_DTYPES) == set(DTYPE_SIZES)
    for name, dtype in TORCH_DTYPES.items():
        assert torch.empty(0, dtype=dtype).element_size() == DTYPE_SIZES[name]


def test_the_digest_is_the_documented_definition_and_is_pinned() -> None:
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    spec = hashlib.blake2b(digest_size=32)
    spec.update(b"swarmtrust/tensor/v1" + b"float32\x00")
    spec.update(struct.pack("<BQQ", 2, 2, 3))
    spec.update(struct.pack("<6f", 0, 1, 2, 3, 4, 5))
    assert fingerprint(tensor).digest == spec.digest()
    assert fingerprint(tensor).digest.hex() == ARANGE_2X3_FLOAT32


def test_digest_covers_dtype_shape_and_every_byte() -> None:
    base = torch.arange(12, dtype=torch.float32)
    digests = {
        fingerprint(base).digest,
        fingerprint(base.reshape(3, 4)).digest,
        fingerprint(base.reshape(4, 3)).digest,
        fingerprint(base.to(torch.bfloat16)).digest,
        fingerprint(base.to(torch.float16)).digest,
    }
    assert len(digests) == 5
    # Same bytes, other dtype name: the header keeps them apart.
    raw = bytes(little_endian_bytes(base.to(torch.bfloat16)))
    assert tensor_digest("bfloat16", (12,), raw) != tensor_digest("float16", (12,), raw)
    changed = base.clone()
    changed[7] = torch.nextafter(changed[7], torch.tensor(100.0))
    assert fingerprint(changed).digest != fingerprint(base).digest, "one ulp changes the digest"


def test_layout_does_not_matter_only_values() -> None:
    matrix = torch.randn(8, 16)
    transposed_back = matrix.t().contiguous().t()  # not contiguous, same values
    assert not transposed_back.is_contiguous()
    assert fingerprint(transposed_back) == fingerprint(matrix)


def test_sizes_must_match_the_shape() -> None:
    with pytest.raises(WireFormatError, match="needs 24 bytes"):
        tensor_digest("float32", (2, 3), b"\x00" * 20)
    with pytest.raises(WireFormatError, match="not one of"):
        tensor_digest("int8", (2,), b"\x00\x00")
    with pytest.raises(WireFormatError, match="not carried"):
        fingerprint(torch.zeros(2, dtype=torch.int64))


def test_output_sketch_takes_the_largest_magnitudes() -> None:
    tensor = torch.tensor([[0.1, -9.0, 3.0], [7.0, 0.0, -2.0]])
    indices, values = output_sketch(tensor, k=3)
    assert indices == (1, 3, 2)
    assert values == (-9.0, 7.0, 3.0)
    with pytest.raises(ValueError, match="1 to 64"):
        output_sketch(tensor, k=0)
