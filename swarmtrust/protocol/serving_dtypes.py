"""Which dtypes a model may be served in, and judged in: its ledger registration, or else its config.

A model's registration at the ledger (``protocol.model_records.ModelRegistration``) names the dtypes it may be
served in. Without one, the model's own ``config.json`` ``torch_dtype`` is the only one (float32 when it names
none this swarm carries). Everyone follows the same rule:

- clients route only to servers announcing an allowed dtype (plus any the user admits explicitly);
- servers refuse to start in a dtype the registration does not allow;
- verifiers fail a receipt whose dtype was not allowed *when its session began*: a later registration never
  convicts a server that served what was allowed then, and a looser dtype never buys a looser tolerance.

Everything here is pure except ``config_dtype``, which reads one small file (and remembers it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from swarmtrust.protocol.errors import SignatureError, SwarmtrustError, WireFormatError
from swarmtrust.protocol.model_records import SERVING_DTYPES, ModelRegistration
from swarmtrust.protocol.signing import open_signed

DEFAULT_DTYPE = "float32"


class DtypeNotAllowedError(SwarmtrustError):
    """A dtype the model is not registered for (a server asked to serve it); the message names the allowed."""


@dataclass(frozen=True)
class RegisteredDtypes:
    """One registration of a model: its dtypes, from ``registered_ms`` on."""

    registered_ms: int
    dtypes: tuple[str, ...]


@dataclass(frozen=True)
class RegistrationHistory:
    """Every registration of one model, oldest first (empty: never registered)."""

    model_id: str
    entries: tuple[RegisteredDtypes, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.entries, key=lambda e: e.registered_ms))  # stable: ties keep ledger order
        object.__setattr__(self, "entries", ordered)

    @classmethod
    def allowing(cls, model_id: str, *dtypes: str) -> RegistrationHistory:
        """A model registered for ``dtypes`` since the epoch (for tests, and tools judging without a ledger)."""
        return cls(model_id, (RegisteredDtypes(0, tuple(dtypes)),))

    @property
    def latest(self) -> RegisteredDtypes | None:
        return self.entries[-1] if self.entries else None

    def allowed_at(self, ms: int) -> tuple[str, ...] | None:
        """The dtypes registered at ``ms`` (the last registration dated at or before it), or None before any."""
        found = None
        for entry in self.entries:
            if entry.registered_ms > ms:
                break
            found = entry.dtypes
        return found


def history_from_answer(
    model_id: str, answer: Mapping[str, Any] | None, *, ledger_key: bytes | None = None
) -> RegistrationHistory:
    """A model's history from the ledger's ``GET /models/{model_id}`` answer (None: no registration).

    With ``ledger_key`` pinned, each entry is taken from its signed record, which must verify and be signed
    by that key; otherwise the answer's fields are believed. WireFormatError for an answer of another shape.
    """
    if answer is None:
        return RegistrationHistory(model_id)
    try:
        items = list(answer["history"])
        entries = []
        for item in items:
            if ledger_key is not None:
                signed = open_signed(ModelRegistration, bytes.fromhex(str(item["record"])))
                record = signed.record
                if signed.signer != ledger_key or record.model_id != model_id:
                    raise WireFormatError(f"a registration of {record.model_id!r} not signed by the pinned ledger key")
                entries.append(RegisteredDtypes(record.registered_ms, record.dtypes))
            else:
                entry = RegisteredDtypes(int(item["registered_ms"]), tuple(str(d) for d in item["dtypes"]))
                if not entry.dtypes or not set(entry.dtypes) <= set(SERVING_DTYPES):
                    raise WireFormatError(f"registered dtypes {list(entry.dtypes)} are not serving dtypes")
                entries.append(entry)
    except (KeyError, TypeError, ValueError, SignatureError) as exc:
        raise WireFormatError(f"a malformed registration of {model_id!r} from the ledger: {exc}") from None
    return RegistrationHistory(model_id, tuple(entries))


@lru_cache(maxsize=32)
def config_dtype(directory: Path) -> str:
    """The model's ``config.json`` ``torch_dtype`` when it is a serving dtype, else float32 (the default)."""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return DEFAULT_DTYPE
    named = config.get("torch_dtype") if isinstance(config, dict) else None
    return named if named in SERVING_DTYPES else DEFAULT_DTYPE


@dataclass(frozen=True)
class AllowedDtypes:
    """The dtypes a client routes to, and where that list came from (for error messages)."""

    dtypes: frozenset[str]
    source: str  # e.g. "registered at the ledger", "the model's config.json"

    def admits(self, dtype: str) -> bool:
        return dtype in self.dtypes

    def describe(self) -> str:
        return f"{', '.join(sorted(self.dtypes))} ({self.source})"


def routing_dtypes(history: RegistrationHistory | None, fallback: str, admitted: Iterable[str] = ()) -> AllowedDtypes:
    """What a client routes to: the latest registration's dtypes, else ``fallback`` (the config's), plus
    ``admitted`` (the user's explicit override)."""
    latest = history.latest if history is not None else None
    if latest is not None:
        base, source = set(latest.dtypes), "registered at the ledger"
    else:
        base, source = {fallback}, "the model's config.json; no registration at the ledger"
    extra = set(admitted) - base
    if extra:
        source += f"; admitted by --allow-dtype: {', '.join(sorted(extra))}"
    return AllowedDtypes(frozenset(base | extra), source)


def dtype_fault(
    dtype: str, session_ms: int, history: RegistrationHistory | None, fallback: str, model_id: str
) -> str | None:
    """Why a session served in ``dtype`` that began at ``session_ms`` broke the model's registration (None when
    it did not): the dtypes registered then, or ``fallback`` (the config's) when none was."""
    registered = history.allowed_at(session_ms) if history is not None else None
    allowed: Sequence[str] = registered if registered is not None else (fallback,)
    if dtype in allowed:
        return None
    where = "registered" if registered is not None else "configured (no registration at the session's start)"
    return f"served in {dtype}; model {model_id} is {where} for {', '.join(allowed)}"


def check_serving_dtype(dtype: str, history: RegistrationHistory) -> None:
    """For a server about to start: DtypeNotAllowedError unless the model's latest registration allows
    ``dtype`` (a model not registered allows any: the caller warns)."""
    latest = history.latest
    if latest is not None and dtype not in latest.dtypes:
        raise DtypeNotAllowedError(
            f"model {history.model_id} is registered at the ledger for {', '.join(latest.dtypes)}, not {dtype}: "
            f"start with --dtype {latest.dtypes[0]} (clients would not route to this server, and verifiers would "
            "fail its sessions)"
        )
