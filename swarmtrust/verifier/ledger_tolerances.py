"""The tolerances a verifier judges by: the calibrator-signed records its ledger serves, or a local override.

The ledger keeps the latest ``ToleranceRecord`` per (model, dtype, device kind) and serves it with the model's
registration (``GET /models/{model_id}``: ``tolerances[dtype][device].record``). A verifier takes the records
calibrated for replays on its own device kind (``cpu`` or ``cuda``), of every dtype the model was ever registered
for (a session is judged in the dtype allowed when it began, ``protocol.serving_dtypes``), checks each one's
signature, that it is for this model, dtype and device kind, and, when calibrators are pinned, that one of them
signed it; then parses its document (``verifier.tolerance_document``).

Which calibrators are trusted: by default any the ledger serves, since the ledger admits records only from its
administrators (``POST /admin/tolerances``) and a verifier already takes its work and the model's registration
from it. ``--trust-calibrator KEYHEX`` (repeatable) pins the keys whose records are taken, so that neither a
ledger operator nor anything between the verifier and the ledger can loosen its thresholds.

A local file (``--tolerances FILE``) is an explicit override: its documents for this verifier's device kind
replace the ledger's records for the (model, dtype) pairs they hold. A pair with neither is not judged: the session
gets no verdict, and the error says why (no record, the record refused and for what, the dtype never registered)
and what to do.

Pure but for logging: ``LedgerTolerances`` remembers which record it took per dtype, so that changes are logged
once rather than at every refresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from swarmtrust.protocol.errors import SignatureError, WireFormatError
from swarmtrust.protocol.model_records import DEFAULT_DEVICE_KIND, ToleranceRecord
from swarmtrust.protocol.serving_dtypes import RegistrationHistory
from swarmtrust.protocol.signing import open_signed
from swarmtrust.verifier.tolerance_document import SpanTolerance, ToleranceDocument, ToleranceError, Tolerances

log = logging.getLogger(__name__)

ADD_RECORD = (
    "an administrator calibrates and signs one (`swarmtrust verifier calibrate --dtype {dtype} --device {device} "
    "--out FILE`, `swarmtrust verifier sign-tolerance --dtype {dtype} --device {device}`) and adds it "
    "(`swarmtrust ledger add-tolerance` or POST /api/v1/admin/tolerances), or this verifier is started with "
    "--tolerances FILE"
)


@dataclass(frozen=True)
class CalibratorTrust:
    """Whose tolerance records a verifier takes: any the ledger serves (no keys pinned), or only the pinned."""

    pinned: frozenset[bytes] = frozenset()  # Ed25519 public keys of trusted calibrators; empty: the ledger's

    def admits(self, key: bytes) -> bool:
        return not self.pinned or key in self.pinned

    def describe(self) -> str:
        if not self.pinned:
            return "any calibrator the ledger admitted"
        return "calibrators " + ", ".join(sorted(k.hex()[:16] + "…" for k in self.pinned))


LEDGER_TRUST = CalibratorTrust()  # no key pinned: records the ledger serves


def parse_calibrator_keys(values: Iterable[str]) -> CalibratorTrust:
    """``--trust-calibrator`` values (64 hex digits each) as a trust; ValueError naming the bad one."""
    keys = set()
    for value in values:
        try:
            key = bytes.fromhex(value.strip())
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError(f"{value!r} is not a calibrator's public key: expected 64 hex digits (32 bytes)")
        keys.add(key)
    return CalibratorTrust(frozenset(keys))


def open_record(
    wire: bytes, model_id: str, dtype: str, trust: CalibratorTrust, device: str = DEFAULT_DEVICE_KIND
) -> ToleranceDocument:
    """The tolerance document of a signed record served for (``model_id``, ``dtype``, ``device``); ToleranceError
    saying why it cannot be judged by: a bad envelope or signature, a record of another model, dtype or device
    kind, a calibrator not trusted, a document that is not one (format 2) for them."""
    try:
        signed = open_signed(ToleranceRecord, wire)
    except (WireFormatError, SignatureError) as exc:
        raise ToleranceError(f"not a validly signed tolerance record ({exc})") from None
    record = signed.record
    if (record.model_id, record.dtype, record.device) != (model_id, dtype, device):
        raise ToleranceError(
            f"the record is for {record.model_id} {record.dtype} on {record.device}, served as {model_id} {dtype} "
            f"on {device}"
        )
    if not trust.admits(record.calibrator_key):
        raise ToleranceError(
            f"signed by calibrator {record.calibrator_key.hex()}, which this verifier does not trust "
            f"({trust.describe()}; --trust-calibrator pins them)"
        )
    source = f"ledger record of calibrator {record.calibrator_key.hex()[:16]}… (created_ms {record.created_ms})"
    try:
        data = json.loads(record.document.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ToleranceError(f"{source}: its document is not JSON ({exc})") from None
    document = ToleranceDocument.parse(data, source)
    if (document.model, document.dtype, document.device) != (model_id, dtype, device):  # as check_consistency saw
        raise ToleranceError(f"{source}: its document is for {document.model} {document.dtype} on {document.device}")
    return document


class JudgingTolerances(Tolerances):
    """The documents a verifier judges by, each (model, dtype) it lacks with the reason why."""

    def __init__(
        self,
        documents: list[ToleranceDocument],
        missing: Mapping[tuple[str, str], str],
        otherwise: str = "",
        device: str = DEFAULT_DEVICE_KIND,
    ) -> None:
        super().__init__(documents)
        self._missing = dict(missing)
        self._otherwise = otherwise  # the reason for a pair not in ``missing``
        self.device = device  # the kind of device this verifier replays on: all its documents are for it

    def span(self, model: str, start: int, end: int, dtype: str, device: str = DEFAULT_DEVICE_KIND) -> SpanTolerance:
        if device != self.device or dtype not in self.dtypes(model, device):
            reason = (
                f"these tolerances are for replays on {self.device}"
                if device != self.device
                else self._missing.get((model, dtype))
                or self._otherwise
                or f"the ledger serves no tolerance record for {model} {dtype} on {device}"
            )
            raise ToleranceError(
                f"no tolerances for {model} in {dtype} on {device}: {reason}; "
                + ADD_RECORD.format(dtype=dtype, device=device)
            )
        return super().span(model, start, end, dtype, device)


def served_records(answer: Mapping[str, Any] | None, device: str = DEFAULT_DEVICE_KIND) -> dict[str, bytes]:
    """The signed records of a ``GET /models/{model_id}`` answer for replays on ``device``, by dtype (none for an
    unregistered model); WireFormatError for an answer of another shape."""
    if answer is None:
        return {}
    try:
        tolerances = answer.get("tolerances") or {}
        return {
            str(dtype): bytes.fromhex(str(by_device[device]["record"]))
            for dtype, by_device in tolerances.items()
            if device in by_device
        }
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise WireFormatError(f"a malformed tolerances answer from the ledger: {exc}") from None


def judging_tolerances(
    model_id: str,
    records: Mapping[str, bytes],
    history: RegistrationHistory,
    trust: CalibratorTrust,
    local: Tolerances | None = None,
    device: str = DEFAULT_DEVICE_KIND,
) -> tuple[JudgingTolerances, dict[str, str]]:
    """What to judge ``model_id`` by on a ``device`` kind: the local override's documents for it, then the served
    ``records`` (for it) of every dtype ever registered. Also each dtype's source ("local", "ledger", or why it
    has none), for logging."""
    documents = {d.dtype: d for d in (local or ()) if d.model == model_id and d.device == device}
    sources = {dtype: "local" for dtype in documents}
    missing: dict[tuple[str, str], str] = {}
    registered = {dtype for entry in history.entries for dtype in entry.dtypes}
    for dtype, wire in sorted(records.items()):
        if dtype in documents:
            continue
        if dtype not in registered:
            sources[dtype] = "ignored: the dtype is not registered for the model"
            continue
        try:
            documents[dtype] = open_record(wire, model_id, dtype, trust, device)
            sources[dtype] = "ledger"
        except ToleranceError as exc:
            missing[(model_id, dtype)] = f"the ledger's record was refused: {exc}"
            sources[dtype] = f"refused: {exc}"
    for dtype in sorted(registered - set(documents) - set(records)):
        missing.setdefault(
            (model_id, dtype), f"the ledger serves no tolerance record for {model_id} {dtype} replayed on {device}"
        )
        sources[dtype] = "none at the ledger"
    otherwise = "" if history.entries else f"model {model_id} is not registered at the ledger, which serves no records"
    return JudgingTolerances(list(documents.values()), missing, otherwise, device), sources


class LedgerTolerances:
    """A verifier's tolerances for its model, rebuilt from each fresh ``GET /models/{model_id}`` answer."""

    def __init__(
        self, model_id: str, trust: CalibratorTrust, local: Tolerances | None = None, device: str = DEFAULT_DEVICE_KIND
    ) -> None:
        self.model_id = model_id
        self.trust = trust
        self.local = local
        self.device = device  # the kind of device this verifier replays on
        self._seen: dict[str, tuple[str, str]] = {}  # dtype -> (record digest, source): what was last logged
        for document in local or ():
            if document.model == model_id and document.device == device:
                log.warning(
                    "judging %s %s by the local file %s: an explicit override of the ledger's tolerance records",
                    document.model, document.dtype, document.source,
                )  # fmt: skip

    def update(self, answer: Mapping[str, Any] | None, history: RegistrationHistory) -> JudgingTolerances:
        """The tolerances to judge by now; logs each dtype whose record or source changed."""
        records = served_records(answer, self.device)
        tolerances, sources = judging_tolerances(self.model_id, records, history, self.trust, self.local, self.device)
        for dtype, source in sorted(sources.items()):
            digest = hashlib.sha256(records.get(dtype, b"")).hexdigest()
            if self._seen.get(dtype) == (digest, source):
                continue
            self._seen[dtype] = (digest, source)
            if source == "ledger":
                log.info("judging %s %s by the ledger's tolerance record %s", self.model_id, dtype, digest[:16])
            elif source == "local":
                if dtype in records:
                    log.warning(
                        "the ledger's %s %s tolerance record is overridden by --tolerances", self.model_id, dtype
                    )
            else:
                log.warning("cannot judge %s %s: %s", self.model_id, dtype, source)
        return tolerances
