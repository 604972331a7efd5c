"""What calibration measured a check to catch, per dtype and corruption: the simulation's detection rates.

``swarmtrust verifier calibrate`` writes tolerance documents (format 2, ``verifier.tolerance_document``) that
record, beside the thresholds, what the thresholds did to sessions no fit saw: ``"held_out"`` counts the honest
sessions (one per span checked, ``per_span``) that failed, and ``"adversaries"`` maps each behaviour that
re-served held-out sessions (``noise:0.001`` ... ``skip-layers``, ``int8-weights``, ``fp8-weights``) to the
sessions it served and how many of them failed. The simulation takes its rates from there, keeping the
counts so a report can say what each rate rests on:

    caught(dtype, corruption) = caught / sessions          false positives(dtype) = false_positives / span_sessions

``table_of`` is pure (parsed JSON in, table out); ``read_table`` reads a file, or the shipped documents
(``swarmtrust/verifier/tolerances.json``). Anything else than a readable file of format-2 documents with those counts is
a ScenarioError that says what is missing.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from swarmtrust.simulation.errors import ScenarioError

CALIBRATE = "swarmtrust verifier calibrate --model tiny --out FILE"
SHIPPED_FILE = "tolerances.json"  # verifier.tolerance_document.SHIPPED, named here so that importing stays light


@dataclass(frozen=True)
class Measured:
    """Sessions of one kind a calibration judged, and how many of them failed its thresholds."""

    failed: int
    sessions: int  # at least 1

    @property
    def rate(self) -> float:
        return self.failed / self.sessions


@dataclass(frozen=True)
class DtypeRates:
    """One document's measurements: a model served in one dtype, on one class of hardware."""

    model: str
    dtype: str
    hardware: str
    caught: dict[str, Measured]  # by corruption (the calibration's adversary behaviour): sessions caught
    false_positives: Measured  # honest held-out sessions, one per span checked, that failed


@dataclass(frozen=True)
class DetectionTable:
    """The rates of every dtype a calibration file holds, and where they were read from."""

    source: str
    rows: dict[str, DtypeRates]  # by dtype

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(self.rows)

    def row(self, dtype: str) -> DtypeRates:
        rates = self.rows.get(dtype)
        if rates is None:
            raise ScenarioError(
                f"--dtype {dtype!r}: the calibration {self.source} holds {', '.join(self.rows)}; calibrate that dtype "
                f"with `{CALIBRATE} --dtype {dtype}` and pass --calibration FILE"
            )
        return rates

    def detection(self, dtype: str, corruption: str) -> Measured:
        """Sessions corrupted by ``corruption`` in ``dtype`` that calibration saw caught, of those it served."""
        caught = self.row(dtype).caught
        measured = caught.get(corruption)
        if measured is None:
            raise ScenarioError(
                f"--corruption {corruption!r}: the calibration {self.source} measured, in {dtype}: {', '.join(caught)}"
            )
        return measured

    def false_positives(self, dtype: str) -> Measured:
        return self.row(dtype).false_positives

    def describe(self, dtype: str, corruption: str) -> str:
        """Where the rates of (``dtype``, ``corruption``) come from, with the sessions each rests on."""
        rates, caught, false = self.row(dtype), self.detection(dtype, corruption), self.false_positives(dtype)
        return (
            f"{self.source}, {rates.model} {dtype} ({rates.hardware or 'hardware not recorded'}): {corruption} caught "
            f"in {caught.failed:,} of {caught.sessions:,} sessions; {false.failed:,} false positives in "
            f"{false.sessions:,} held-out span sessions"
        )


def table_of(data: Any, source: str) -> DetectionTable:
    """The table of parsed JSON: one tolerance document, a list of them, or an object holding them (as
    ``verifier.tolerance_document.documents_in`` reads), at most one per dtype."""
    rows: dict[str, DtypeRates] = {}
    for document in _documents(data, source):
        rates = _rates(document, source)
        if rates.dtype in rows:
            raise ScenarioError(f"{source}: two documents for {rates.dtype}: give a file with one per dtype")
        rows[rates.dtype] = rates
    return DetectionTable(source, rows)


def read_table(path: str | Path | None = None) -> DetectionTable:
    """The table of the calibration file ``path``, or of the shipped documents
    (``swarmtrust/verifier/tolerances.json``)."""
    source = f"shipped swarmtrust/verifier/{SHIPPED_FILE}" if path is None else str(path)
    try:
        shipped = resources.files("swarmtrust.verifier").joinpath(SHIPPED_FILE)
        text = shipped.read_text() if path is None else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the calibration file {source}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ScenarioError(f"{source}: not JSON ({exc}); give the file `{CALIBRATE}` writes") from None
    return table_of(data, source)


@functools.cache
def shipped_table() -> DetectionTable:
    """The shipped documents' table, read once (package data does not change under a running process)."""
    return read_table()


def _documents(data: Any, source: str) -> list[dict[str, Any]]:
    if isinstance(data, dict) and "format" in data:
        candidates: list[Any] = [data]
    elif isinstance(data, list):
        candidates = data
    else:
        candidates = list(data.values()) if isinstance(data, dict) else []
    found = [c for c in candidates if isinstance(c, dict) and "format" in c]
    if not found:
        raise ScenarioError(
            f"{source}: holds no tolerance document of format 2, so no measured detection rates; "
            f"calibrate with `{CALIBRATE}`"
        )
    return found


def _rates(document: dict[str, Any], source: str) -> DtypeRates:
    # Imported here: the verifier's modules pull in torch, which `swarmtrust`'s other commands do not need.
    from swarmtrust.verifier.tolerance_document import ToleranceDocument, ToleranceError

    try:  # a document the verifier would refuse to judge with measures nothing the simulation should use
        parsed = ToleranceDocument.parse(document, source)
    except ToleranceError as exc:
        raise ScenarioError(str(exc)) from None
    where = f"{source}: {parsed.model} {parsed.dtype}"
    adversaries = document.get("adversaries")
    if not isinstance(adversaries, dict) or not adversaries:
        raise ScenarioError(f'{where}: no "adversaries" measured; calibrate with `{CALIBRATE}`')
    caught = {
        str(name): _measured(entry, "caught", "sessions", f"{where}, adversary {name!r}")
        for name, entry in adversaries.items()
    }
    held_out = document.get("held_out")
    per_span = held_out.get("per_span") if isinstance(held_out, dict) else None
    false = _measured(per_span, "false_positives", "span_sessions", f'{where}, "held_out" "per_span"')
    return DtypeRates(parsed.model, parsed.dtype, parsed.hardware, caught, false)


def _measured(entry: Any, failed_key: str, sessions_key: str, where: str) -> Measured:
    failed = entry.get(failed_key) if isinstance(entry, dict) else None
    sessions = entry.get(sessions_key) if isinstance(entry, dict) else None
    counts = (failed, sessions)
    if not isinstance(failed, int) or not isinstance(sessions, int) or bool in (type(failed), type(sessions)):
        raise ScenarioError(f'{where}: needs whole counts "{failed_key}" and "{sessions_key}", got {counts}')
    if sessions < 1 or not 0 <= failed <= sessions:
        raise ScenarioError(f'{where}: needs 0 ≤ "{failed_key}" ≤ "{sessions_key}" and sessions ≥ 1, got {counts}')
    return Measured(failed, sessions)
