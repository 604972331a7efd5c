"""Typed wire records: a msgspec Struct with constrained field types is a complete wire format.

A record type declares its signature domain, version, size limit and signer field; its fields' types carry
their bounds (``Annotated[bytes, size(32)]``, ``Annotated[int, within(0, MAX_U32)]``, ``Annotated[str,
text(64)]``, a ``Literal`` for a closed set). ``WireRecord`` gives it canonical encoding and strict decoding:
a record travels as the msgpack array ``[version, field, field, ...]`` (msgspec's ``array_like`` with the
version as the tag). Fields are checked on construction as well as on decoding, so an invalid record cannot
exist in memory either, whether built locally or decoded from the wire.

    class Ping(WireRecord, tag=1, frozen=True):
        DOMAIN: ClassVar[bytes] = b"swarmtrust/ping/v1"
        MAX_BYTES: ClassVar[int] = 256
        SIGNER_FIELD: ClassVar[str] = "sender"
        sender: Annotated[bytes, size(32)]
        sent_ms: Annotated[int, within(0, MAX_U64)]

Encoding is canonical (smallest integer forms, UTF-8 strings, ``bin`` for bytes, float64 for floats), and
decoding insists on it by re-encoding and comparing, so one record has exactly one byte string and a
signature over those bytes cannot be re-wrapped into another encoding of the same values. Decoding ignores
fields after the known ones (a newer minor revision of the same version); signatures and digests always
cover the exact bytes received, never a re-encoding.
"""

from __future__ import annotations

import re
import threading
from typing import Any, ClassVar, NamedTuple, TypeVar

import msgspec
import msgspec.inspect

from swarmtrust.protocol.canonical import unpack_list
from swarmtrust.protocol.errors import (
    NonCanonicalError,
    RecordTooLargeError,
    UnsupportedVersionError,
    WireFormatError,
)

MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1
MAX_SHAPE_DIMS = 8
MAX_DIM = 2**31 - 1
# C0 and C1 control characters (NUL, escape, newline, DEL, ...): no name, memo, model id or reason needs one,
# and each can make text lie where it is shown (a terminal, a log line, a dashboard cell).
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
_PLAIN_TEXT = "swarmtrust.plain_text"  # marks a text field in its type's metadata: checked after decoding
_LARGEST_FLOAT = 1.7976931348623157e308
FINITE = msgspec.Meta(ge=-_LARGEST_FLOAT, le=_LARGEST_FLOAT)  # a float64 that is neither infinite nor NaN


def size(length: int) -> msgspec.Meta:
    """Exactly ``length`` bytes (keys, digests, ids)."""
    return msgspec.Meta(min_length=length, max_length=length)


def within(low: int, high: int) -> msgspec.Meta:
    """An integer in ``[low, high]``."""
    return msgspec.Meta(ge=low, le=high)


def text(max_length: int) -> msgspec.Meta:
    """A non-empty string of at most ``max_length`` characters without control characters (other Unicode,
    bidi controls included, is kept: the places that show text neutralise what could mislead there).

    The control characters are looked for after msgspec has decoded the record, with ``free_of_controls``: as a
    regex in the type, msgspec would call Python's ``re`` per field, an eighth of a receipt's decoding time."""
    return msgspec.Meta(min_length=1, max_length=max_length, extra={_PLAIN_TEXT: True})


def blob(max_length: int) -> msgspec.Meta:
    """1 to ``max_length`` bytes (a nested envelope, a document carried opaquely)."""
    return msgspec.Meta(min_length=1, max_length=max_length)


def at_most(max_length: int) -> msgspec.Meta:
    """A list of at most ``max_length`` items."""
    return msgspec.Meta(max_length=max_length)


SHAPE = msgspec.Meta(min_length=1, max_length=MAX_SHAPE_DIMS)  # a tensor shape: 1 to 8 dimensions ...
DIM = within(0, MAX_DIM)  # ... each non-negative


def free_of_controls(value: str) -> bool:
    """True unless ``value`` holds a control character; ``isprintable`` answers most text at C speed."""
    return value.isprintable() or CONTROL_CHARACTERS.search(value) is None


R = TypeVar("R", bound="WireRecord")

_ENCODER = msgspec.msgpack.Encoder()
_ENCODE = _ENCODER.encode


class _Decoding(threading.local):
    active = False  # set while msgspec builds records from checked values: no second check


_DECODING = _Decoding()


class _Codec(NamedTuple):
    """What decoding a record type needs, built once per type."""

    decoder: msgspec.msgpack.Decoder[Any]
    text_fields: tuple[str, ...]  # the fields typed with ``text``, to look for control characters in


_CODECS: dict[type[WireRecord], _Codec] = {}


def _codec(cls: type[WireRecord]) -> _Codec:
    codec = _CODECS.get(cls)
    if codec is None:
        fields = msgspec.inspect.type_info(cls).fields  # type: ignore[attr-defined]
        texts = tuple(field.name for field in fields if _is_text(field.type))
        codec = _CODECS[cls] = _Codec(msgspec.msgpack.Decoder(cls), texts)
    return codec


def _is_text(kind: msgspec.inspect.Type) -> bool:
    """Whether a field's type is ``text`` (or ``text`` or None)."""
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_is_text(member) for member in kind.types)
    return isinstance(kind, msgspec.inspect.Metadata) and bool((kind.extra or {}).get(_PLAIN_TEXT))


class _Version:
    """A record type's version: its msgspec tag, which msgspec sets only after the class body has run."""

    def __get__(self, record: object, cls: type[WireRecord]) -> int:
        tag = cls.__struct_config__.tag
        if not isinstance(tag, int):
            raise TypeError(f"{cls.__name__}: a wire record gives its version as its tag, e.g. tag=1")
        return tag


class WireRecord(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base of signed wire records; subclasses give the version as their tag (see the module docstring)."""

    DOMAIN: ClassVar[bytes]  # domain-separation prefix of signatures and digests, e.g. b"swarmtrust/receipt/v1"
    VERSION = _Version()  # the tag: the array's first element
    MAX_BYTES: ClassVar[int]  # encoded size limit, checked before decoding
    SIGNER_FIELD: ClassVar[str]  # the field holding the 32-byte Ed25519 public key that signs the record

    def __post_init__(self) -> None:
        if _DECODING.active:  # its fields were checked by msgspec on the way in
            self.check_consistency()
        else:  # built locally: check it as a receiver would
            self._check_fields()

    def _check_fields(self) -> None:
        """Decode this record's own encoding as a receiver would: the fields pass their types' bounds and the
        checks across them, the record fits its size limit, and the values are those the wire carries (a list
        becomes a tuple; an int where a float belongs is refused)."""
        try:
            encoded = self.encode()
        except (TypeError, ValueError, OverflowError) as exc:  # not even encodable: find the field to name
            for name in self.__struct_fields__:
                try:
                    _ENCODER.encode(getattr(self, name))
                except (TypeError, ValueError, OverflowError):
                    raise WireFormatError(f"{type(self).__name__}.{name}: {exc}") from None
            raise WireFormatError(f"{type(self).__name__}: {exc}") from None
        try:
            checked = type(self).decode(encoded)
        except NonCanonicalError:  # the values decode, but as other values: an int where a float belongs
            raise WireFormatError(
                f"{type(self).__name__}: a field holds a value of another type than it declares"
            ) from None
        for name in self.__struct_fields__:
            msgspec.structs.force_setattr(self, name, getattr(checked, name))

    def check_consistency(self) -> None:
        """Checks across fields, run after the per-field checks; raise WireFormatError. None by default.

        During decoding it runs inside msgspec with the decoding flag set: it may decode records (that keeps
        their checks) but must not build one from values, which would then skip its field checks."""

    @property
    def signer(self) -> bytes:
        key: bytes = getattr(self, self.SIGNER_FIELD)
        return key

    def encode(self) -> bytes:
        """The canonical bytes of this record: ``[version, field, field, ...]``."""
        return _ENCODER.encode(self)

    def replace(self: R, **changes: Any) -> R:
        """A copy with ``changes``, checked as any new record is."""
        return type(self)(**({name: getattr(self, name) for name in self.__struct_fields__} | changes))

    @classmethod
    def decode(cls: type[R], data: bytes) -> R:
        """Decode canonical bytes strictly; raises WireFormatError (or a subclass) on anything else."""
        if not isinstance(data, bytes):
            raise WireFormatError(f"{cls.__name__}: expected bytes, got {type(data).__name__}")
        if len(data) > cls.MAX_BYTES:
            raise RecordTooLargeError(f"{cls.__name__}: {len(data)} bytes is over the limit of {cls.MAX_BYTES} bytes")
        # The ingest hot path, so in one function: msgspec checks the fields' types and bounds (and runs each
        # record's consistency check), then text is looked at, then the canonical encoding insisted on.
        codec = _CODECS.get(cls) or _codec(cls)
        decoding = _DECODING
        outer, decoding.active = decoding.active, True  # a record's consistency check may decode records it holds
        try:
            record: R = codec.decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise _explained(cls, exc, data) from None
        except msgspec.DecodeError as exc:
            raise WireFormatError(f"{cls.__name__}: not a msgpack array of fields ({exc})") from None
        finally:
            decoding.active = outer
        for name in codec.text_fields:
            _check_plain_text(cls, name, getattr(record, name))
        encoded = _ENCODE(record)
        if encoded != data and not _revision_of(cls, encoded, data):
            raise NonCanonicalError(f"{cls.__name__}: not in canonical encoding (re-encode the values with swarmtrust)")
        return record


def _check_plain_text(cls: type[WireRecord], field: str, value: str | None) -> None:
    if value is None or value.isprintable():  # most text, at C speed
        return
    bad = CONTROL_CHARACTERS.search(value)
    if bad is not None:
        raise WireFormatError(
            f"{cls.__name__}.{field}: control character U+{ord(bad.group()):04X} at {bad.start()}; send plain text"
        )


def _revision_of(cls: type[WireRecord], encoded: bytes, data: bytes) -> bool:
    """Whether ``data`` is ``encoded`` with trailing fields of a newer revision: canonical msgpack as a whole,
    and the known fields the very same bytes (so nothing was coerced on the way in)."""
    values = unpack_list(data, max_bytes=cls.MAX_BYTES, what=cls.__name__)  # raises unless canonical
    known = len(cls.__struct_fields__) + 1
    if len(values) <= known:
        return False
    fields = encoded[_array_header_size(known) :]
    start = _array_header_size(len(values))
    return data[start : start + len(fields)] == fields


def _array_header_size(items: int) -> int:
    """Bytes of a msgpack array header: fixarray, array 16 or array 32."""
    return 1 if items < 16 else 3 if items < 1 << 16 else 5


_AT = re.compile(r" - at `\$\[(\d+)\](.*)`$")


def _explained(cls: type[WireRecord], exc: msgspec.ValidationError, data: bytes) -> WireFormatError:
    """msgspec's error in the record's terms: the field's name instead of its position, a version error of its
    own kind, the closed set a Literal holds. (A check across fields, ``check_consistency``,
    raises its WireFormatError through msgspec.)"""
    message = str(exc)
    found = _AT.search(message)
    if found is None:  # not an array of fields at all (a map, a string, too few fields ...)
        return WireFormatError(f"{cls.__name__}: {message}")
    index, rest = int(found.group(1)), found.group(2)
    if index == 0:
        return UnsupportedVersionError(
            f"{cls.__name__}: that version is not supported (this swarmtrust reads version {cls.VERSION}); "
            "upgrade swarmtrust on this host or ask the sender to downgrade"
        )
    field = cls.__struct_fields__[index - 1]
    said = message[: found.start()]
    if said.startswith("Invalid enum value"):  # a closed set: say what it holds
        said += f"; expected one of {sorted(_literal_values(cls, field))}"
    return WireFormatError(f"{cls.__name__}.{field}{rest}: {said}")


def _literal_values(cls: type[WireRecord], field: str) -> tuple[Any, ...]:
    """The values a closed-set field (or a list of them) may take."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    kind = next(f.type for f in info.fields if f.name == field)
    if isinstance(kind, msgspec.inspect.VarTupleType):
        kind = kind.item_type
    return kind.values if isinstance(kind, msgspec.inspect.LiteralType) else ()
