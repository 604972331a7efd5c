"""Whatever bytes a party sends, decoding raises WireFormatError and nothing else: not KeyError for a map where
an array belongs, not TypeError, not OverflowError; and text fields refuse control characters everywhere."""

from __future__ import annotations

import contextlib
import math
from typing import Annotated, Any, ClassVar

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmtrust.protocol.challenges import Challenge, Verdict, pack_submission, unpack_submission
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.records import WireRecord, size, text
from swarmtrust.protocol.signing import open_signed, peek_record
from tests.builders import new_key, signed_announcement
from tests.protocol.test_golden_wire import record_types

# Any msgpack value: scalars at their edges, nested arrays and maps (with any keys), ext types.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=40)
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4))
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(scalars, inner, max_size=4),
    max_leaves=30,
)


def packed(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True, strict_types=False))


def only_wire_errors(decode: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(WireFormatError):  # anything else fails the test
        decode(*args, **kwargs)


@pytest.mark.parametrize("cls", list(record_types().values()), ids=lambda cls: cls.__name__)
@settings(max_examples=150, deadline=None)
@given(value=values)
@pytest.mark.slow  # heavy: in the full tier only
def test_any_msgpack_value_decodes_or_raises_wire_format_error(cls: type[WireRecord], value: Any) -> None:
    body = packed(value)
    only_wire_errors(cls.decode, body)
    only_wire_errors(cls.decode, value)  # not even bytes
    only_wire_errors(peek_record, cls, body)
    only_wire_errors(peek_record, cls, packed([body, b"s" * 64]))
    only_wire_errors(open_signed, cls, body)


@settings(max_examples=300, deadline=None)
@given(value=values)
@pytest.mark.slow  # heavy: in the full tier only
def test_any_challenge_submission_unpacks_or_raises_wire_format_error(value: Any) -> None:
    only_wire_errors(unpack_submission, packed(value), max_bytes=1 << 20)
    only_wire_errors(unpack_submission, value, max_bytes=1 << 20)  # not even bytes


def test_the_fuzzed_crashes_are_wire_format_errors() -> None:
    """A map where the signed envelope belongs, and a map where the record inside it belongs."""
    for cls in (Challenge, Verdict):
        with pytest.raises(WireFormatError, match="expected a msgpack array"):
            peek_record(cls, packed({"body": b"x", "signature": b"y"}))
        with pytest.raises(WireFormatError, match="Expected `array`, got `object`"):
            peek_record(cls, packed([packed({"0": 1}), b"y" * 64]))
        with pytest.raises(WireFormatError, match="Expected `array`, got `object`"):
            cls.decode(packed({0: 1}))
    assert unpack_submission(pack_submission(b"c", b"e"), max_bytes=100) == (b"c", b"e")
    with pytest.raises(WireFormatError, match="expected"):
        unpack_submission(packed([b"c", "e"]), max_bytes=100)


class Note(WireRecord, tag=1, frozen=True):
    """A record with one text field, for the text rule by itself."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/test-note/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "author"

    author: Annotated[bytes, size(32)]
    note: Annotated[str, text(64)]


class Aside(WireRecord, tag=1, frozen=True):
    """A record with an optional text field: the same rule when the text is present."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/test-aside/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "author"

    author: Annotated[bytes, size(32)]
    aside: Annotated[str, text(64)] | None


@pytest.mark.parametrize("char", [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))])
def test_text_refuses_every_control_character(char: str) -> None:
    with pytest.raises(WireFormatError, match=f"Note.note: control character U\\+{ord(char):04X} at 2"):
        Note(bytes(32), f"ok{char}ok")
    with pytest.raises(WireFormatError, match=f"U\\+{ord(char):04X}"):
        Note.decode(packed([1, bytes(32), f"ok{char}ok"]))


def test_optional_text_refuses_control_characters_when_present() -> None:
    assert Aside(bytes(32), None).aside is None
    assert Aside.decode(packed([1, bytes(32), None])).aside is None
    with pytest.raises(WireFormatError, match=r"Aside.aside: control character U\+001B at 1"):
        Aside(bytes(32), "a\x1b")
    with pytest.raises(WireFormatError, match=r"Aside.aside: control character U\+0085 at 0"):
        Aside.decode(packed([1, bytes(32), "\x85"]))


@pytest.mark.parametrize("text", ["naïve", "名前", "évil\u202eeman", "👩\u200d💻", "a b", "\u00a0nbsp"])
def test_text_keeps_other_unicode_for_the_places_that_show_it(text: str) -> None:
    assert Note(bytes(32), text).note == text
    assert Note.decode(packed([1, bytes(32), text])).note == text


def test_a_record_with_a_control_character_cannot_be_built_decoded_or_signed() -> None:
    key = new_key()
    with pytest.raises(WireFormatError, match=r"ServerAnnouncement\.name: control character U\+001B"):
        signed_announcement(key, name="\x1b[31mred")
    honest = signed_announcement(key, name="red").record
    values = msgpack.unpackb(honest.encode(), raw=False)
    values[values.index("red")] = "r\x00d"
    with pytest.raises(WireFormatError, match="U\\+0000"):
        type(honest).decode(packed(values))


def test_floats_and_huge_integers_never_overflow_a_check() -> None:
    for value in (math.inf, -math.inf, math.nan, 2**64 - 1, -(2**63), 10**30):
        for cls in (Challenge, Verdict):
            fields = [value] * len(cls.__struct_fields__)
            only_wire_errors(cls, *fields)  # built locally
            if abs(value) < 2**64:  # msgpack carries no larger integer
                only_wire_errors(cls.decode, packed([1, *fields]))
