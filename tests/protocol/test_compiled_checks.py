"""The compiled field checks agree with the checks themselves, for every record type and any values."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger.records
import protocol.announcements
import protocol.challenges
import protocol.http_signing
import protocol.market_records
import protocol.receipts
import protocol.reputation_snapshot
from protocol.compiled_checks import compile_checks
from protocol.errors import WireFormatError
from protocol.records import FixedBytes, Float, Int, ListOf, Optional, Shape, Text, WireRecord
from tests.builders import build_receipt, new_key

MODULES = (
    protocol.receipts,
    protocol.challenges,
    protocol.announcements,
    protocol.market_records,
    protocol.http_signing,
    protocol.reputation_snapshot,
    ledger.records,
)


def record_types() -> list[type[WireRecord]]:
    found: list[type[WireRecord]] = []
    pending = list(WireRecord.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__ in {m.__name__ for m in MODULES}:
            found.append(cls)
    return sorted(found, key=lambda cls: cls.__name__)


def near(check: Any) -> st.SearchStrategy[Any]:
    """Values on and around the edges of what ``check`` accepts, and values of the wrong type."""
    wrong = st.sampled_from([None, True, False, 0, -1, 1.5, math.nan, "", "x", b"", b"\x00" * 32, [], [1], (), {}])
    if isinstance(check, FixedBytes):
        edges = st.sampled_from([check.length - 1, check.length, check.length + 1]).map(lambda n: b"\x07" * max(n, 0))
        return edges | wrong | st.just(bytearray(check.length))
    if isinstance(check, Int):
        edges = st.sampled_from([check.low - 1, check.low, check.low + 1, check.high - 1, check.high, check.high + 1])
        return edges | st.integers(check.low, check.high) | wrong
    if isinstance(check, Float):
        return st.floats(allow_nan=True, allow_infinity=True) | st.integers(-2, 2) | wrong
    if isinstance(check, Text):
        lengths = st.sampled_from([0, 1, check.max_length, check.max_length + 1])
        texts = lengths.map(lambda n: "a" * n)
        texts = texts | st.sampled_from(["a\x00", "\x1b[31m", "é\x85", "tab\there", "\u202e", "naïve"])
        if check.choices:
            texts = texts | st.sampled_from(sorted(check.choices))
        return texts | wrong
    if isinstance(check, Shape):
        dims = st.sampled_from([0, 1, 64, 2**31 - 1, 2**31, -1, True, 1.0])
        return st.lists(dims, max_size=9) | st.tuples(dims, dims) | wrong
    if isinstance(check, ListOf):
        items = st.lists(near(check.item), max_size=4) | st.lists(valid(check.item), max_size=4)
        return items | st.just([0] * (check.max_length + 1)) | wrong
    if isinstance(check, Optional):
        return st.none() | near(check.inner)
    return wrong  # a check without a fast path: called as it is either way


def valid(check: Any) -> st.SearchStrategy[Any]:
    """Values ``check`` accepts (for a check without a fast path: some bytes, which it may accept)."""
    if isinstance(check, FixedBytes):
        return st.binary(min_size=check.length, max_size=check.length)
    if isinstance(check, Int):
        return st.integers(check.low, check.high)
    if isinstance(check, Float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(check, Text):
        if check.choices:
            return st.sampled_from(sorted(check.choices))
        return st.text(min_size=1, max_size=min(check.max_length, 20))
    if isinstance(check, Shape):
        return st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=8)
    if isinstance(check, ListOf):
        return st.lists(valid(check.item), max_size=min(check.max_length, 4))
    if isinstance(check, Optional):
        return st.none() | valid(check.inner)
    return st.binary(max_size=64)


def slow(cls: type[WireRecord], values: list[Any]) -> dict[str, Any]:
    """The checks themselves, one call per field."""
    fields = list(cls.CHECKS.items())
    if len(values) - 1 < len(fields):
        raise WireFormatError("too few fields")
    return {
        name: check(f"{cls.__name__}.{name}", value) for (name, check), value in zip(fields, values[1:], strict=False)
    }


def compiled(cls: type[WireRecord]) -> Any:
    checks = [(name, f"{cls.__name__}.{name}", check) for name, check in cls.CHECKS.items()]
    return compile_checks(cls.__name__, checks, skip=1)


@pytest.mark.parametrize("cls", record_types(), ids=lambda cls: cls.__name__)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
@pytest.mark.slow  # heavy: in the full tier only
def test_compiled_checks_never_accept_more_nor_give_other_values(cls: type[WireRecord], data: st.DataObject) -> None:
    checks = list(cls.CHECKS.items())
    # Valid values with none, one or two fields on or past an edge: a record with one bad field
    # among good ones is where a fast path that lets something through would show.
    edgy = data.draw(st.sets(st.sampled_from(range(len(checks))), max_size=2), label="edgy fields")
    values = [cls.VERSION]
    for position, (name, check) in enumerate(checks):
        values.append(data.draw(near(check) if position in edgy else valid(check), label=name))
    values = values[: data.draw(st.integers(len(values) - 2, len(values)), label="length")]
    try:
        expected: dict[str, Any] | None = slow(cls, values)
    except WireFormatError:
        expected = None
    try:
        got = compiled(cls)(values)
    except WireFormatError:  # raised by a check without a fast path, called from the compiled code
        got = None
    if expected is None:
        assert got is None
    elif got is not None:  # None is allowed: the caller then runs the checks one by one
        assert got == expected
        assert all(type(got[k]) is type(v) for k, v in expected.items())


def test_a_valid_receipt_takes_the_fast_path() -> None:
    receipt = build_receipt(new_key(), sketch_indices=(3, 1), sketch_values=(0.5, -2.0))
    values = msgpack.unpackb(receipt.encode(), raw=False)
    got = compiled(protocol.receipts.Receipt)(values)
    assert got is not None
    assert got == {name: getattr(receipt, name) for name in protocol.receipts.Receipt.CHECKS}
    assert type(got["input_shape"]) is tuple and type(got["sketch_values"]) is tuple


def test_fields_after_the_known_ones_are_ignored() -> None:
    values = msgpack.unpackb(build_receipt(new_key()).encode(), raw=False)
    checked = compiled(protocol.receipts.Receipt)(values)
    assert checked is not None
    assert compiled(protocol.receipts.Receipt)([*values, "from a newer revision"]) == checked
