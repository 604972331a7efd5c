"""Packing many tensors' bytes into one compressed block, and refusing every malformed or oversized pack."""

from __future__ import annotations

import zlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.errors import RecordTooLargeError, WireFormatError
from swarmtrust.protocol.tensor_pack import CODEC, pack_tensors, to_planes, unpack_tensors

LIMIT = 1 << 20


@st.composite
def tensor_lists(draw: st.DrawFn) -> tuple[int, list[bytes]]:
    size = draw(st.sampled_from([1, 2, 4]))
    items = draw(st.lists(st.integers(0, 64).flatmap(lambda n: st.binary(min_size=n * size, max_size=n * size))))
    return size, items


@given(tensor_lists())
@settings(max_examples=200)
def test_any_tensors_come_back_byte_for_byte(case: tuple[int, list[bytes]]) -> None:
    size, items = case
    assert unpack_tensors(pack_tensors(items, size), max_bytes=LIMIT, what="t") == tuple(items)


def test_hidden_states_compress() -> None:
    torch.manual_seed(0)
    states = [(torch.randn(1, 1, 1024) * 3).to(torch.bfloat16).view(torch.int16).numpy().tobytes() for _ in range(64)]
    raw = sum(map(len, states))
    packed = pack_tensors(states, 2)[3]
    assert len(packed) < 0.8 * raw  # the byte planes of sign and exponent are what compresses


def test_hidden_states_pack_no_larger_than_zlibs_default_level() -> None:
    # The packer codes byte frequencies alone (far faster); on hidden states that must not cost size.
    torch.manual_seed(1)
    scale = torch.exp(torch.randn(512))
    for dtype, size in ((torch.bfloat16, 2), (torch.float16, 2), (torch.float32, 4)):
        rows = (torch.randn(128, 512) * scale).to(dtype)
        states = [row.contiguous().view(torch.uint8).numpy().tobytes() for row in rows]
        planes = to_planes(b"".join(states), size)
        assert len(pack_tensors(states, size)[3]) <= len(zlib.compress(planes, 6)), dtype


def test_packs_of_any_zlib_stream_unpack() -> None:
    # What earlier releases wrote (zlib's default level over the same planes) still reads, byte for byte.
    states = [bytes(range(i, i + 8)) for i in range(0, 64, 8)]
    planes = to_planes(b"".join(states), 2)
    earlier = [CODEC, 2, [len(s) for s in states], zlib.compress(planes, 6)]
    assert unpack_tensors(earlier, max_bytes=LIMIT, what="t") == tuple(states)


def _pack(lengths: list[int], body: bytes, size: int = 2) -> list[object]:
    return [CODEC, size, lengths, zlib.compress(body)]


@pytest.mark.parametrize(
    "value",
    [
        "not a list",
        [CODEC, 2, [2]],
        ["zstd", 2, [2], zlib.compress(b"ab")],
        [CODEC, 3, [3], zlib.compress(b"abc")],
        [CODEC, True, [2], zlib.compress(b"ab")],
        [CODEC, 2, [-2, 4], zlib.compress(b"ab")],
        [CODEC, 2, [1, 1], zlib.compress(b"ab")],  # not whole elements
        [CODEC, 2, ["2"], zlib.compress(b"ab")],
        [CODEC, 2, [2], "ab"],
        [CODEC, 2, [2], b"not zlib"],
        _pack([4], b"ab"),  # fewer bytes than the lengths name
        _pack([2], b"abcd"),  # more
        [CODEC, 2, [2], zlib.compress(b"ab") + b"trailing"],
        [CODEC, 2, [2], zlib.compress(b"ab")[:-3]],  # cut short
    ],
)
def test_malformed_packs_are_wire_format_errors(value: object) -> None:
    with pytest.raises(WireFormatError):
        unpack_tensors(value, max_bytes=LIMIT, what="t")


def test_a_pack_that_would_inflate_past_the_limit_is_refused_before_inflating() -> None:
    bomb = _pack([LIMIT * 4], bytes(LIMIT * 4))  # 4 MiB of zeros: a few KiB compressed
    assert len(bomb[3]) < 10_000  # type: ignore[arg-type]
    with pytest.raises(RecordTooLargeError):
        unpack_tensors(bomb, max_bytes=LIMIT, what="t")
    lying = [CODEC, 2, [2], zlib.compress(bytes(LIMIT * 4))]  # says 2 bytes, holds 4 MiB: stops after 3
    with pytest.raises(WireFormatError):
        unpack_tensors(lying, max_bytes=LIMIT, what="t")
