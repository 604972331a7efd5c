"""Typed wire records: a frozen dataclass plus a table of field checks is a complete wire format.

A record type declares its signature domain, version, size limit, signer field and one check per
field; ``WireRecord`` gives it canonical encoding and strict decoding. Checks run on construction, so
an invalid record cannot exist in memory either, whether built locally or decoded from the wire.

    @dataclass(frozen=True)
    class Ping(WireRecord):
        DOMAIN: ClassVar[bytes] = b"swarmtrust/ping/v1"
        VERSION: ClassVar[int] = 1
        MAX_BYTES: ClassVar[int] = 256
        SIGNER_FIELD: ClassVar[str] = "sender"
        CHECKS: ClassVar[Mapping[str, Check]] = {"sender": FixedBytes(32), "sent_ms": Int(0, MAX_U64)}
        sender: bytes
        sent_ms: int

Decoding ignores fields after the known ones (a newer minor revision of the same version); signatures
and digests always cover the exact bytes received, never a re-encoding.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from protocol.canonical import pack, unpack_list
from protocol.compiled_checks import CompiledChecks, Constant, Inline, compile_checks, literal
from protocol.errors import UnsupportedVersionError, WireFormatError

MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1
MAX_SHAPE_DIMS = 8
MAX_DIM = 2**31 - 1
# C0 and C1 control characters (NUL, escape, newline, DEL, ...): no name, memo, model id or reason needs one,
# and each can make text lie where it is shown (a terminal, a log line, a dashboard cell).
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


class Check(Protocol):
    """Validates one field: returns the value (normalised, e.g. lists to tuples) or raises WireFormatError.

    A check may also offer ``inline(var, constant)``, its test as Python source, for decoding records
    in one compiled function (see ``protocol.compiled_checks``); the checks here all do.
    """

    def __call__(self, what: str, value: Any) -> Any: ...


@dataclass(frozen=True)
class FixedBytes:
    length: int

    def __call__(self, what: str, value: Any) -> bytes:
        if type(value) is not bytes or len(value) != self.length:
            raise WireFormatError(f"{what}: expected {self.length} bytes, got {_describe(value)}")
        return value

    def inline(self, var: str, constant: Constant) -> Inline:
        return f"type({var}) is bytes and len({var}) == {literal(self.length)}", var


@dataclass(frozen=True)
class Int:
    low: int
    high: int

    def __call__(self, what: str, value: Any) -> int:
        if type(value) is not int:
            raise WireFormatError(f"{what}: expected an integer, got {_describe(value)}")
        if not self.low <= value <= self.high:
            raise WireFormatError(f"{what}: {value} is outside [{self.low}, {self.high}]")
        return value

    def inline(self, var: str, constant: Constant) -> Inline:
        return f"type({var}) is int and {literal(self.low)} <= {var} <= {literal(self.high)}", var


@dataclass(frozen=True)
class Float:
    """A finite float64."""

    def __call__(self, what: str, value: Any) -> float:
        if type(value) is not float or not math.isfinite(value):
            raise WireFormatError(f"{what}: expected a finite float, got {_describe(value)}")
        return value

    def inline(self, var: str, constant: Constant) -> Inline:
        return f"type({var}) is float and {constant(math.isfinite)}({var})", var


def free_of_controls(text: str) -> bool:
    """True unless ``text`` holds a control character; ``isprintable`` answers most text at C speed."""
    return text.isprintable() or CONTROL_CHARACTERS.search(text) is None


@dataclass(frozen=True)
class Text:
    """A non-empty string without control characters (other Unicode, bidi controls included, is kept: it is
    for the places that show text to neutralise what could mislead there)."""

    max_length: int
    choices: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.choices is not None and not all(free_of_controls(choice) for choice in self.choices):
            raise TypeError("Text: a choice holds a control character, which the check itself refuses")

    def __call__(self, what: str, value: Any) -> str:
        if type(value) is not str:
            raise WireFormatError(f"{what}: expected a string, got {_describe(value)}")
        if not value or len(value) > self.max_length:
            raise WireFormatError(f"{what}: length {len(value)} is outside [1, {self.max_length}]")
        if not free_of_controls(value):
            found = CONTROL_CHARACTERS.search(value)
            where = found.start() if found else 0
            raise WireFormatError(f"{what}: control character U+{ord(value[where]):04X} at {where}; send plain text")
        if self.choices is not None and value not in self.choices:
            raise WireFormatError(f"{what}: {value!r} is not one of {sorted(self.choices)}")
        return value

    def inline(self, var: str, constant: Constant) -> Inline:
        test = f"type({var}) is str and 0 < len({var}) <= {literal(self.max_length)}"
        if self.choices is not None:  # a choice is plain text already
            return f"{test} and {var} in {constant(self.choices)}", var
        return f"{test} and {constant(free_of_controls)}({var})", var


@dataclass(frozen=True)
class Shape:
    """A tensor shape: 1 to 8 non-negative dimensions."""

    def __call__(self, what: str, value: Any) -> tuple[int, ...]:
        if type(value) not in (list, tuple) or not 1 <= len(value) <= MAX_SHAPE_DIMS:
            raise WireFormatError(f"{what}: expected a shape of 1 to {MAX_SHAPE_DIMS} dims, got {_describe(value)}")
        for dim in value:
            if type(dim) is not int or not 0 <= dim <= MAX_DIM:
                raise WireFormatError(f"{what}: dimension {dim!r} is not an integer in [0, {MAX_DIM}]")
        return tuple(value)

    def inline(self, var: str, constant: Constant) -> Inline:
        test = (
            f"type({var}) in (list, tuple) and 1 <= len({var}) <= {literal(MAX_SHAPE_DIMS)}"
            f" and all(type(d) is int and 0 <= d <= {literal(MAX_DIM)} for d in {var})"
        )
        return test, f"tuple({var})"


@dataclass(frozen=True)
class ListOf:
    item: Check
    max_length: int

    def __call__(self, what: str, value: Any) -> tuple[Any, ...]:
        if type(value) not in (list, tuple) or len(value) > self.max_length:
            raise WireFormatError(f"{what}: expected a list of at most {self.max_length}, got {_describe(value)}")
        return tuple(self.item(f"{what}[{i}]", item) for i, item in enumerate(value))

    def inline(self, var: str, constant: Constant) -> Inline:
        inline = getattr(self.item, "inline", None)
        item = inline("x", constant) if inline is not None else None
        if item is None or item[1] != "x":  # items a check would convert: left to the check itself
            return None
        # Most lists are empty (receipts without a sketch): ``not var`` skips building the generator.
        test = (
            f"type({var}) in (list, tuple) and len({var}) <= {literal(self.max_length)}"
            f" and (not {var} or all({item[0]} for x in {var}))"
        )
        return test, f"tuple({var})"


@dataclass(frozen=True)
class Optional:
    inner: Check

    def __call__(self, what: str, value: Any) -> Any:
        return None if value is None else self.inner(what, value)

    def inline(self, var: str, constant: Constant) -> Inline:
        inline = getattr(self.inner, "inline", None)
        inner = inline(var, constant) if inline is not None else None
        if inner is None:
            return None
        test, value = inner
        return f"{var} is None or ({test})", value if value == var else f"(None if {var} is None else {value})"


def _describe(value: Any) -> str:
    if isinstance(value, bytes | str | list | tuple):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


R = TypeVar("R", bound="WireRecord")


class WireRecord:
    """Base of signed wire records; subclasses are frozen dataclasses (see the module docstring)."""

    DOMAIN: ClassVar[bytes]  # domain-separation prefix of signatures and digests, e.g. b"swarmtrust/receipt/v1"
    VERSION: ClassVar[int]
    MAX_BYTES: ClassVar[int]  # encoded size limit, checked before decoding
    SIGNER_FIELD: ClassVar[str]  # the field holding the 32-byte Ed25519 public key that signs the record
    CHECKS: ClassVar[Mapping[str, Check]]

    def __post_init__(self) -> None:
        for name, what, check in _checks(type(self)):
            value = getattr(self, name)
            checked = check(what, value)
            if checked is not value:  # normalised (e.g. a list to a tuple); frozen, hence the detour
                object.__setattr__(self, name, checked)
        self.check_consistency()

    def check_consistency(self) -> None:
        """Checks across fields, run after the per-field checks; raise WireFormatError. None by default."""

    @property
    def signer(self) -> bytes:
        key: bytes = getattr(self, self.SIGNER_FIELD)
        return key

    def encode(self) -> bytes:
        """The canonical bytes of this record: ``[version, field, field, ...]``."""
        return pack([self.VERSION, *(getattr(self, name) for name, _ in _layout(type(self)))])

    @classmethod
    def decode(cls: type[R], data: bytes) -> R:
        """Decode canonical bytes strictly; raises WireFormatError (or a subclass) on anything else."""
        values = unpack_list(data, max_bytes=cls.MAX_BYTES, what=cls.__name__)
        return cls.from_values(values)

    @classmethod
    def from_values(cls: type[R], values: Sequence[Any]) -> R:
        """A record from its decoded wire values (``[version, field, ...]``); WireFormatError for anything else,
        a map or a string where the list belongs included."""
        if type(values) not in (list, tuple):
            raise WireFormatError(f"{cls.__name__}: expected a list of fields, got {_describe(values)}")
        if not values or type(values[0]) is not int:
            raise WireFormatError(f"{cls.__name__}: the first field must be the integer version")
        if values[0] != cls.VERSION:
            raise UnsupportedVersionError(
                f"{cls.__name__}: version {values[0]} is not supported (this swarmtrust reads version "
                f"{cls.VERSION}); upgrade swarmtrust on this host or ask the sender to downgrade"
            )
        # Decoding is the ingest hot path: validate each field once, in one compiled function, and fill
        # the frozen instance directly instead of running the generated __init__ and __post_init__'s checks.
        fields = _compiled_checks(cls)(values)
        if fields is None:  # a field is missing or fails: the checks themselves raise the precise error
            checks = _checks(cls)
            if len(values) - 1 < len(checks):
                raise WireFormatError(f"{cls.__name__}: expected {len(checks)} fields, got {len(values) - 1}")
            fields = {name: check(what, value) for (name, what, check), value in zip(checks, values[1:], strict=False)}
        record = object.__new__(cls)
        record.__dict__.update(fields)
        record.check_consistency()
        return record


_LAYOUTS: dict[type[WireRecord], tuple[tuple[str, Check], ...]] = {}
_CHECKS: dict[type[WireRecord], tuple[tuple[str, str, Check], ...]] = {}
_COMPILED: dict[type[WireRecord], CompiledChecks] = {}


def _layout(cls: type[WireRecord]) -> tuple[tuple[str, Check], ...]:
    """The (field name, check) pairs of a record type in wire order; a type error if they disagree."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _build_layout(cls)
    return layout


def _build_layout(cls: type[WireRecord]) -> tuple[tuple[str, Check], ...]:
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if set(names) != set(cls.CHECKS):
        raise TypeError(f"{cls.__name__}: CHECKS must name exactly the dataclass fields {names}")
    if cls.SIGNER_FIELD not in cls.CHECKS:
        raise TypeError(f"{cls.__name__}: SIGNER_FIELD {cls.SIGNER_FIELD!r} is not a field")
    return tuple((name, cls.CHECKS[name]) for name in names)


def _checks(cls: type[WireRecord]) -> tuple[tuple[str, str, Check], ...]:
    """(field name, name for error messages, check) in wire order; each check as its bound ``__call__``,
    which Python calls faster than the instance itself (decoding runs them for every field of every record)."""
    checks = _CHECKS.get(cls)
    if checks is None:
        checks = _CHECKS[cls] = tuple((name, f"{cls.__name__}.{name}", check.__call__) for name, check in _layout(cls))
    return checks


def _compiled_checks(cls: type[WireRecord]) -> CompiledChecks:
    compiled = _COMPILED.get(cls)
    if compiled is None:
        checks = [(name, f"{cls.__name__}.{name}", check) for name, check in _layout(cls)]
        compiled = _COMPILED[cls] = compile_checks(cls.__name__, checks, skip=1)  # after the version
    return compiled
