from __future__ import annotations

from dataclasses import replace
from typing import Annotated, ClassVar

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.canonical import pack
from swarmtrust.protocol.errors import RecordTooLargeError, SignatureError, UnsupportedVersionError, WireFormatError
from swarmtrust.protocol.receipts import MAX_TIMESTAMP_MS, Receipt, receipt_id_for
from swarmtrust.protocol.records import WireRecord, size, text, within
from swarmtrust.protocol.signing import open_signed, open_signed_many, sign_record, verify_record, verify_signature
from tests.builders import build_receipt, new_key, signed_receipt

SERVER = new_key()
MALLORY = new_key()


def test_a_signed_receipt_round_trips() -> None:
    signed = signed_receipt(SERVER, step=3, sketch_indices=(5, 1), sketch_values=(2.5, -1.0))
    opened = open_signed(Receipt, signed.to_wire())
    assert opened.record == signed.record
    assert opened.digest == signed.digest
    assert opened.signer == bytes(SERVER.verify_key)
    assert Receipt.decode(signed.record.encode()) == signed.record


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_in_signed_bytes_fails(data: st.DataObject) -> None:
    wire = signed_receipt(SERVER, step=1).to_wire()
    position = data.draw(st.integers(0, len(wire) * 8 - 1))
    flipped = bytearray(wire)
    flipped[position // 8] ^= 1 << (position % 8)
    with pytest.raises((WireFormatError, SignatureError)):
        open_signed(Receipt, bytes(flipped))


@settings(max_examples=200, deadline=None)
@given(
    step=st.integers(0, 2**32 - 1),
    model_id=st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=200),  # no controls
    span=st.tuples(st.integers(0, 65_534), st.integers(1, 65_535)).filter(lambda s: s[0] < s[1]),
    dtype=st.sampled_from(["float32", "bfloat16", "float16"]),
    shape=st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=8),
    timestamp=st.integers(0, MAX_TIMESTAMP_MS),
    sketch=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.floats(allow_nan=False, allow_infinity=False)), max_size=64
    ),
)
def test_every_valid_receipt_round_trips(
    step: int,
    model_id: str,
    span: tuple[int, int],
    dtype: str,
    shape: list[int],
    timestamp: int,
    sketch: list[tuple[int, float]],
) -> None:
    receipt = build_receipt(
        SERVER,
        step=step,
        model_id=model_id,
        block_start=span[0],
        block_end=span[1],
        dtype=dtype,
        input_shape=shape,
        output_shape=tuple(shape),
        timestamp_ms=timestamp,
        sketch_indices=tuple(i for i, _ in sketch),
        sketch_values=tuple(v for _, v in sketch),
    )
    assert receipt.input_shape == tuple(shape), "lists are normalised to tuples"
    opened = open_signed(Receipt, sign_record(receipt, SERVER).to_wire())
    assert opened.record == receipt


def test_a_receipt_signed_by_another_key_is_refused() -> None:
    honest = build_receipt(SERVER)
    with pytest.raises(ValueError, match="names signer"):
        sign_record(honest, MALLORY)
    forged_body = honest.encode()
    forged_signature = MALLORY.sign(Receipt.DOMAIN + forged_body).signature
    with pytest.raises(SignatureError):
        verify_record(Receipt, forged_body, forged_signature)


def test_signatures_are_bound_to_their_domain() -> None:
    signed = signed_receipt(SERVER)
    verify_signature(Receipt.DOMAIN, signed.body, signed.signature, signed.signer)
    with pytest.raises(SignatureError):
        verify_signature(b"swarmtrust/verdict/v1", signed.body, signed.signature, signed.signer)


def _values(receipt: Receipt) -> list[object]:
    return msgpack.unpackb(receipt.encode(), raw=False)  # type: ignore[no-any-return]


def test_an_unknown_version_is_a_typed_error() -> None:
    values = _values(build_receipt(SERVER))
    values[0] = 2
    with pytest.raises(UnsupportedVersionError, match="upgrade swarmtrust"):
        Receipt.decode(pack(values))


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (3, "7", r"Receipt.step: Expected `int`, got `str`"),
        (3, -1, r"Receipt.step: Expected `int` >= 0"),
        (4, b"\x01" * 31, r"Receipt.server_key: Expected `bytes` of length >= 32"),
        (5, "", r"Receipt.model_id: Expected `str` of length >= 1"),
        (9, "int8", r"Receipt.dtype: Invalid enum value 'int8'; expected one of"),
        (11, [1, -2, 3], r"Receipt.input_shape\[1\]: Expected `int` >= 0"),
        (11, [], r"Receipt.input_shape: Expected `array` of length >= 1"),
        (11, [1] * 9, r"Receipt.input_shape: Expected `array` of length <= 8"),
        (16, 1.5, r"Receipt.timestamp_ms: Expected `int`, got `float`"),
        (17, [1, 2], r"Receipt: sketch_indices and sketch_values differ"),
    ],
)
def test_wrong_types_and_ranges_name_the_field(index: int, value: object, message: str) -> None:
    values = _values(build_receipt(SERVER))
    values[index] = value
    with pytest.raises(WireFormatError, match=message):
        Receipt.decode(pack(values))


def test_cross_field_rules() -> None:
    with pytest.raises(WireFormatError, match="span"):
        build_receipt(SERVER, block_start=4, block_end=4)
    with pytest.raises(WireFormatError, match="prev_receipt"):
        build_receipt(SERVER, step=0, prev_receipt=bytes(32))
    with pytest.raises(WireFormatError, match="prev_receipt"):
        build_receipt(SERVER, step=2, prev_receipt=None)
    with pytest.raises(WireFormatError, match="receipt_id"):
        build_receipt(SERVER, receipt_id=bytes(16))


def test_receipt_ids_name_one_step_of_one_session() -> None:
    server, session = bytes(SERVER.verify_key), bytes(16)
    assert receipt_id_for(server, session, 1) == receipt_id_for(server, session, 1)
    assert receipt_id_for(server, session, 1) != receipt_id_for(server, session, 2)
    assert receipt_id_for(server, session, 1) != receipt_id_for(bytes(MALLORY.verify_key), session, 1)


def test_oversized_records_are_refused_before_decoding() -> None:
    values = _values(build_receipt(SERVER))
    values[5] = "m" * 5000
    with pytest.raises(RecordTooLargeError, match="over the limit"):
        Receipt.decode(pack(values))
    with pytest.raises(RecordTooLargeError):
        open_signed(Receipt, pack([b"x" * 100_000, bytes(64)]))


def test_non_canonical_encodings_are_refused() -> None:
    receipt = build_receipt(SERVER, step=1)
    canonical = receipt.encode()
    # The step (1) written as a uint32 instead of a positive fixint: same values, other bytes.
    values = _values(receipt)
    items = [msgpack.packb(v, use_bin_type=True) for v in values]
    assert items[3] == b"\x01"
    items[3] = b"\xce\x00\x00\x00\x01"
    padded = b"\xdc" + len(values).to_bytes(2, "big") + b"".join(items)
    assert canonical == b"\xdc" + len(values).to_bytes(2, "big") + b"".join(
        msgpack.packb(v, use_bin_type=True) for v in values
    )
    assert msgpack.unpackb(padded, raw=False) == values
    with pytest.raises(WireFormatError, match="canonical"):
        Receipt.decode(padded)


def test_garbage_is_a_wire_format_error() -> None:
    for garbage in (b"", b"\xc1", b"\x92\x01", pack([1]), msgpack.packb({"a": 1}), pack([b"body"])):
        with pytest.raises(WireFormatError):
            open_signed(Receipt, garbage)


def test_opening_many_gives_each_item_what_opening_it_alone_gives() -> None:
    good = [signed_receipt(SERVER, step=s, prev_receipt=None if s == 0 else bytes(32)) for s in range(3)]
    forged = replace(good[1], signature=MALLORY.sign(Receipt.DOMAIN + good[1].body).signature)
    too_new = _values(good[2].record)
    too_new[0] = 2
    body = pack(too_new)
    wires = [
        good[0].to_wire(),
        forged.to_wire(),
        b"\xc1",
        pack([b"x" * 100_000, bytes(64)]),
        pack([body, SERVER.sign(Receipt.DOMAIN + body).signature]),
        good[2].to_wire(),
    ]
    outcomes = open_signed_many(Receipt, wires)
    assert len(outcomes) == len(wires)
    for wire, outcome in zip(wires, outcomes, strict=True):
        try:
            alone: object = open_signed(Receipt, wire)
        except (WireFormatError, SignatureError) as exc:
            alone = exc
        assert type(outcome) is type(alone)
        if isinstance(alone, Exception):
            assert str(outcome) == str(alone)
        else:
            assert outcome == alone
    assert [type(o).__name__ for o in outcomes] == [
        "Signed",
        "SignatureError",
        "WireFormatError",
        "RecordTooLargeError",
        "UnsupportedVersionError",
        "Signed",
    ]


def test_trailing_fields_of_a_newer_revision_are_ignored_but_signed() -> None:
    receipt = build_receipt(SERVER)
    body = pack([*_values(receipt), "a field from the future"])
    signature = SERVER.sign(Receipt.DOMAIN + body).signature
    opened = verify_record(Receipt, body, signature)
    assert opened.record == receipt
    assert opened.digest != sign_record(receipt, SERVER).digest, "the digest covers the bytes as received"


class Ping(WireRecord, tag=1, frozen=True):
    """A record type defined only here: the machinery needs nothing but the typed fields."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/test-ping/v1"
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "sender"

    sender: Annotated[bytes, size(32)]
    note: Annotated[str, text(20)]
    count: Annotated[int, within(0, 9)]


def test_the_machinery_serves_other_record_types() -> None:
    ping = Ping(bytes(SERVER.verify_key), "hello", 3)
    signed = sign_record(ping, SERVER)
    assert open_signed(Ping, signed.to_wire()).record == ping
    with pytest.raises(WireFormatError, match=r"Ping\.count"):
        Ping(bytes(SERVER.verify_key), "hello", 10)
    with pytest.raises(SignatureError):  # a receipt signature does not make a ping, and vice versa
        verify_signature(Receipt.DOMAIN, signed.body, signed.signature, signed.signer)
    with pytest.raises(WireFormatError):
        open_signed(Receipt, signed.to_wire())


def test_records_are_immutable() -> None:
    receipt = build_receipt(SERVER)
    with pytest.raises(AttributeError):
        receipt.step = 5  # type: ignore[misc]
    assert receipt.replace(timestamp_ms=1).timestamp_ms == 1
