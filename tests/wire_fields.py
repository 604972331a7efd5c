"""The fields of a wire record type as msgspec describes them (``msgspec.inspect``), for tests that build
records or hostile variants of them from the types' own bounds."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec.inspect as mi

from swarmtrust.protocol.records import WireRecord
from swarmtrust.protocol.reputation_snapshot import ENTRY_SIZE


def fields_of(cls: type[WireRecord]) -> list[tuple[str, mi.Type]]:
    """(name, type information) of each field, in wire order (after the version); a text field's marker
    (metadata msgspec does not check) is left off, so it reads as the string type it constrains."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return [(field.name, _unmarked(field.type)) for field in info.fields]


def _unmarked(info: mi.Type) -> mi.Type:
    if isinstance(info, mi.Metadata):
        return info.type
    if isinstance(info, mi.UnionType):
        return mi.UnionType(tuple(_unmarked(member) for member in info.types))
    return info


def is_shape(info: mi.Type) -> bool:
    return isinstance(info, mi.VarTupleType) and info.min_length == 1 and isinstance(info.item_type, mi.IntType)


def optional_inner(info: mi.Type) -> mi.Type | None:
    """The type an optional field holds when present; None for a field that is not optional."""
    if isinstance(info, mi.UnionType) and any(isinstance(t, mi.NoneType) for t in info.types):
        return next(t for t in info.types if not isinstance(t, mi.NoneType))
    return None


def example(info: mi.Type, field: str, index: int) -> Any:
    """A value the type accepts, determined by the field's name and place."""
    if (inner := optional_inner(info)) is not None:
        return example(inner, field, index)
    if isinstance(info, mi.BytesType):
        if info.min_length is not None and info.min_length == info.max_length:
            return hashlib.blake2b(field.encode(), digest_size=info.min_length).digest()
        return bytes(ENTRY_SIZE)  # variable bytes (a nested envelope, packed entries): one entry's worth
    if isinstance(info, mi.IntType):
        assert info.ge is not None and info.le is not None
        return min(info.le, max(info.ge, 1000 + index))
    if isinstance(info, mi.FloatType):
        return 1.0 / (index + 3)
    if isinstance(info, mi.StrType):
        return field[: info.max_length]
    if isinstance(info, mi.LiteralType):
        return sorted(info.values)[0]
    if is_shape(info):
        return (1, 2, 8)
    if isinstance(info, mi.VarTupleType):
        return (example(info.item_type, field, index),)
    raise TypeError(f"{field}: no example for {info}")
