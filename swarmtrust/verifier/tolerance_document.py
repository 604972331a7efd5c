"""Tolerance documents (format 2): a model's thresholds in one dtype, for replays on one kind of device.

Documents are keyed by (model, dtype, device kind): ``device`` is where the verifier's replays ran (``cpu`` or
``cuda``; the CPU when a document names none), ``servers`` the device kinds the honest sessions were served on
(the thresholds cover every one of them: a CPU verifier checking a GPU server judges by a document whose
``servers`` include ``cuda``). The verifier's own kind picks the document, never the server's: a server could
claim any kind, so a document must hold for every kind honest servers use (``docs/verification.md``).

A document holds, for each block of the model, the thresholds of the session statistics
(``verifier.statistics``) fitted on honest single-block sessions, and the composition factors that turn a
span's blocks' thresholds into the span's (``compose``: the sum over its blocks, times the factor). Errors
do not add up block by block (a block fed identical inputs differs in few places; one fed its predecessor's
rounding differences spreads them everywhere), so composed thresholds are loose on long spans: a document may
also hold entries fitted for single spans (``spans``), which take precedence. It also
records how it was fitted, its held-out false positives, and what each adversary behaviour it was measured
against gave; ``swarmtrust verifier calibrate`` writes it. A file holds one document, a list of them, or an
object holding them (e.g. by dtype). The first format (thresholds per dtype for any model and span, a fixed
margin over the largest honest value) is no longer read: a verifier refuses to judge with it.

    {"format": 2, "model": "tiny", "dtype": "bfloat16", "hardware": "cpu x86_64 torch 2.13.0+cpu",
     "device": "cpu", "servers": ["cpu", "cuda"],
     "blocks": [{"prompt_max_rel": ..., "prompt_mean_rel": ..., "decode_max_rel": ..., "pooled_rel": ...}, ...],
     "composition": {"factors": {"prompt_max_rel": 1.0, ...}, ...}, "fit": {...}, "held_out": {...},
     "adversaries": {...},
     "crafted": {"margin": 2.0, "conditioning": "gain",
                 "spans": {"0:1": {"fitted": {...}, "gain_reference": 5.3, ...}, ...}, ...}}

``crafted`` records the crafted-input search (``verifier.crafted``): each span's thresholds fitted on ordinary
sessions (kept as the suspicion level) and, with ``"conditioning": "gain"``, the largest gain of those sessions,
beyond which a session's thresholds are loosened (``SpanTolerance.for_session``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from swarmtrust.node.tensors import TORCH_DTYPES
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError
from swarmtrust.protocol.model_records import DEFAULT_DEVICE_KIND, DEVICE_KINDS, document_device
from swarmtrust.verifier.statistics import STATISTICS, SessionStatistics, SessionThresholds, compose, gain_factor
from swarmtrust.verifier.tolerance import Tolerance

FORMAT = 2
SHIPPED = "tolerances.json"  # package data of ``verifier``: the documents calibrated for ``tiny``


class ToleranceError(SwarmtrustError):
    """A tolerance file that cannot be read, or no thresholds for the (model, span, dtype) asked."""


@dataclass(frozen=True)
class SpanTolerance:
    """The thresholds a session on one span is judged by."""

    model: str
    start: int
    end: int
    dtype: str
    thresholds: SessionThresholds
    source: str
    ordinary: SessionThresholds | None = None  # fitted on ordinary sessions, before the crafted-input raise
    gain_reference: float | None = None  # the largest gain of the span's ordinary calibration sessions

    @property
    def suspicion(self) -> SessionThresholds:
        """What ordinary honest sessions stay under: a session near these is unusual, not failed (escalation
        takes it from here, ``verifier.escalation``); the document's thresholds where it holds no such entry."""
        return self.ordinary or self.thresholds

    def for_session(self, statistics: SessionStatistics) -> SessionThresholds:
        """The thresholds ``statistics`` are judged by: loosened where the session's gain is beyond the
        ordinary sessions' (``verifier.statistics.gain_factor``)."""
        return self.thresholds.times(gain_factor(statistics.gain, self.gain_reference))

    def suspicion_for(self, statistics: SessionStatistics) -> SessionThresholds:
        """``suspicion``, loosened as ``for_session`` loosens the thresholds."""
        return self.suspicion.times(gain_factor(statistics.gain, self.gain_reference))

    @property
    def prompt(self) -> Tolerance:
        """Step 0's thresholds as a per-step tolerance (``compare_step``): (max_rel, mean_rel)."""
        t = self.thresholds
        return Tolerance(self.dtype, t.prompt_max_rel, t.prompt_mean_rel, self.source)

    @property
    def step(self) -> Tolerance:
        """A per-step tolerance for tools that compare steps one at a time (``compare_step``): the looser of the
        prompt's and the later steps' thresholds. Checks judge the session (``verifier.statistics``)."""
        t = self.thresholds
        return Tolerance(
            self.dtype, max(t.prompt_max_rel, t.decode_max_rel), max(t.prompt_mean_rel, t.pooled_rel), self.source
        )

    @property
    def decode(self) -> Tolerance:
        """The later steps' thresholds, in the verdict's two fields: (largest max_rel, pooled mean)."""
        t = self.thresholds
        return Tolerance(self.dtype, t.decode_max_rel, t.pooled_rel, self.source)


@dataclass(frozen=True)
class ToleranceDocument:
    model: str
    dtype: str
    hardware: str
    blocks: tuple[SessionThresholds, ...]  # by block index
    factors: dict[str, float]  # composition factor per statistic
    source: str  # where it was read from
    spans: dict[tuple[int, int], SessionThresholds] = field(default_factory=dict)  # entries fitted per span
    stepwise: dict[str, Any] = field(default_factory=dict)  # "stepwise_replay" as measured (verifier.escalation)
    ordinary: dict[tuple[int, int], SessionThresholds] = field(default_factory=dict)  # per span, before the raise
    gains: dict[tuple[int, int], float] = field(default_factory=dict)  # per span: ordinary sessions' largest gain
    device: str = DEFAULT_DEVICE_KIND  # where the replays ran (the kind a verifier picks its document by)
    servers: tuple[str, ...] = (DEFAULT_DEVICE_KIND,)  # the device kinds the honest sessions were served on

    @classmethod
    def parse(cls, data: Any, source: str) -> ToleranceDocument:
        """A document from parsed JSON; ToleranceError saying what is wrong otherwise."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ToleranceError(
                f"{source}: not a tolerance document of format {FORMAT}; calibrate one with "
                "`swarmtrust verifier calibrate --model MODEL --dtype DTYPE --out FILE`"
            )
        model, dtype, hardware = data.get("model"), data.get("dtype"), data.get("hardware", "")
        if not isinstance(model, str) or not model or not isinstance(hardware, str):
            raise ToleranceError(f"{source}: a document needs a model, a dtype ({', '.join(TORCH_DTYPES)}), hardware")
        if not isinstance(dtype, str) or dtype not in TORCH_DTYPES:
            raise ToleranceError(f"{source}: a document needs a model, a dtype ({', '.join(TORCH_DTYPES)}), hardware")
        composition = data.get("composition", {})
        blocks = data.get("blocks")
        factors = composition.get("factors", {}) if isinstance(composition, dict) else None
        if not isinstance(blocks, list) or not blocks or not isinstance(factors, dict):
            raise ToleranceError(f"{source}: {model} {dtype}: needs per-block thresholds and composition factors")
        try:
            parsed = tuple(SessionThresholds(*(float(b[name]) for name in STATISTICS)) for b in blocks)
            chosen = {name: float(factors.get(name, 1.0)) for name in STATISTICS}
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ToleranceError(f"{source}: {model} {dtype}: bad thresholds ({exc})") from None
        if not all(math.isfinite(f) and f > 0 for f in chosen.values()):
            raise ToleranceError(f"{source}: {model} {dtype}: composition factors must be positive, not {chosen}")
        stepwise = data.get("stepwise_replay")
        stepwise = stepwise if isinstance(stepwise, dict) else {}  # absent or malformed: no exact comparison
        spans = _span_entries(data.get("spans", {}), source)
        ordinary, gains = _crafted(data, dtype, source)
        device, servers = _devices(data, f"{source}: {model} {dtype}")
        return cls(model, dtype, hardware, parsed, chosen, source, spans, stepwise, ordinary, gains, device, servers)

    def span(self, start: int, end: int) -> SpanTolerance:
        if not 0 <= start < end <= len(self.blocks):
            raise ToleranceError(
                f"{self.model} {self.dtype}: blocks {start}:{end} are outside the calibrated 0:{len(self.blocks)} "
                f"({self.source})"
            )
        entry = self.spans.get((start, end))
        if entry is not None:
            thresholds, where = entry, f"{self.source} ({self.hardware})"
        else:
            thresholds = compose(self.blocks[start:end], self.factors)
            where = f"{self.source} ({self.hardware}), composed over blocks {start}:{end}"
        ordinary = self.ordinary.get((start, end))
        suspicion = floored(ordinary, self.dtype) if ordinary is not None else None
        gain = self.gains.get((start, end)) if entry is not None else None
        return SpanTolerance(
            self.model, start, end, self.dtype, floored(thresholds, self.dtype), where, suspicion, gain
        )


# Thresholds never below these (max_rel-like, mean_rel-like), whatever a calibration fitted. Calibration samples
# ordinary inputs; a client may craft inputs whose honest errors are larger (docs/verification.md, "Crafted
# inputs": 3.1e-6 in float32, the worst found), and fitted float32 thresholds came out below that. The float32
# floor is the per-step tolerance the crafted-input study validated; other dtypes were not studied so (a limit).
FLOORS: dict[str, tuple[float, float]] = {"float32": (8.9e-6, 7.2e-6)}


def floored(thresholds: SessionThresholds, dtype: str) -> SessionThresholds:
    """``thresholds`` raised to the dtype's floor (``FLOORS``)."""
    floor_max, floor_mean = FLOORS.get(dtype, (0.0, 0.0))
    return SessionThresholds(
        max(thresholds.prompt_max_rel, floor_max),
        max(thresholds.prompt_mean_rel, floor_mean),
        max(thresholds.decode_max_rel, floor_max),
        max(thresholds.pooled_rel, floor_mean),
    )


# Half precision's honest errors depend on the inputs far more than float32's: a document must have been raised
# above what crafted inputs reach (``verifier.crafted``), or a client could get an honest server failed at will.
NEEDS_CRAFTED = frozenset({"bfloat16", "float16"})


def _crafted(
    data: dict[str, Any], dtype: str, source: str
) -> tuple[dict[tuple[int, int], SessionThresholds], dict[tuple[int, int], float]]:
    """The ordinary (fitted) thresholds and gain references per span from a document's ``crafted`` record;
    ToleranceError for a half-precision document calibrated without the crafted-input search, or one whose
    raise assumed gain conditioning (``"conditioning": "gain"``) without a span's reference."""
    crafted = data.get("crafted")
    if crafted is None and dtype not in NEEDS_CRAFTED:
        return {}, {}
    crafted = crafted if isinstance(crafted, dict) else {}
    margin, spans = crafted.get("margin"), crafted.get("spans")
    if not isinstance(margin, int | float) or not margin >= 1 or not isinstance(spans, dict):
        raise ToleranceError(
            f"{source}: {data.get('model')} {dtype}: calibrated without the crafted-input search, whose thresholds "
            "an honest server can be made to fail by a client's chosen inputs; recalibrate with this version's "
            "`swarmtrust verifier calibrate`"
        )
    fitted = {key: value.get("fitted") if isinstance(value, dict) else value for key, value in spans.items()}
    entries = _span_entries(fitted, source)  # every key read as START:END, or ToleranceError
    gains: dict[tuple[int, int], float] = {}
    if crafted.get("conditioning") == "gain":
        for key, value in spans.items():
            reference = value.get("gain_reference") if isinstance(value, dict) else None
            if not isinstance(reference, int | float) or not (math.isfinite(reference) and reference >= 1):
                raise ToleranceError(
                    f"{source}: {data.get('model')} {dtype}: span {key!r} has no gain reference (a number ≥ 1), "
                    "which its thresholds assume; recalibrate with `swarmtrust verifier calibrate`"
                )
            start, end = (int(part) for part in str(key).split(":"))
            gains[(start, end)] = float(reference)
    return entries, gains


def _devices(data: dict[str, Any], where: str) -> tuple[str, tuple[str, ...]]:
    """A document's replay device kind and its servers' kinds (the replay's alone when it names none)."""
    try:
        device = document_device(data)
    except WireFormatError as exc:
        raise ToleranceError(f"{where}: {exc}") from None
    servers = data.get("servers", [device])
    if not isinstance(servers, list) or not servers or not set(servers) <= set(DEVICE_KINDS):
        raise ToleranceError(f'{where}: "servers" must list device kinds ({", ".join(DEVICE_KINDS)}), not {servers!r}')
    return device, tuple(sorted(set(servers), key=DEVICE_KINDS.index))


def _span_entries(spans: Any, source: str) -> dict[tuple[int, int], SessionThresholds]:
    """``{"START:END": thresholds}`` entries fitted for one span each."""
    if not isinstance(spans, dict):
        raise ToleranceError(f'{source}: "spans" must map "START:END" to thresholds')
    entries = {}
    for key, value in spans.items():
        try:
            start, end = (int(part) for part in str(key).split(":"))
            entries[(start, end)] = SessionThresholds(*(float(value[name]) for name in STATISTICS))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ToleranceError(f"{source}: span entry {key!r}: {exc}") from None
    return entries


class Tolerances:
    """The documents a verifier holds, by (model, dtype, device kind of the replays)."""

    def __init__(self, documents: list[ToleranceDocument]) -> None:
        self._documents: dict[tuple[str, str, str], ToleranceDocument] = {}
        for document in documents:
            key = (document.model, document.dtype, document.device)
            if key in self._documents:
                raise ToleranceError(f"two tolerance documents for {key[0]} {key[1]} replayed on {key[2]}: keep one")
            self._documents[key] = document

    def __iter__(self) -> Iterator[ToleranceDocument]:
        return iter(self._documents.values())

    def dtypes(self, model: str, device: str = DEFAULT_DEVICE_KIND) -> set[str]:
        """The dtypes of ``model`` held for replays on ``device``."""
        return {dtype for (m, dtype, kind) in self._documents if m == model and kind == device}

    def span(self, model: str, start: int, end: int, dtype: str, device: str = DEFAULT_DEVICE_KIND) -> SpanTolerance:
        """The thresholds for a session on blocks ``[start, end)`` of ``model`` in ``dtype``, replayed on a
        ``device`` kind; ToleranceError (no verdict can be given) when no document holds them."""
        document = self._documents.get((model, dtype, device))
        if document is None:
            held = ", ".join(f"{m} {d} on {k}" for m, d, k in sorted(self._documents)) or "none"
            raise ToleranceError(
                f"no tolerance is calibrated for {model} in {dtype} replayed on {device} (held: {held}); run "
                f"`swarmtrust verifier calibrate --model {model} --dtype {dtype} --device {device} --out FILE` "
                "and start the verifier with --tolerances FILE"
            )
        return document.span(start, end)


def documents_in(data: Any, source: str) -> list[ToleranceDocument]:
    """Every document in a parsed file: one, a list of them, or an object holding them (e.g. by dtype)."""
    if isinstance(data, dict) and "format" in data:
        return [ToleranceDocument.parse(data, source)]
    values = data if isinstance(data, list) else list(data.values()) if isinstance(data, dict) else []
    found = [ToleranceDocument.parse(v, source) for v in values if isinstance(v, dict) and "format" in v]
    if not found:
        raise ToleranceError(
            f"{source}: holds no tolerance document of format {FORMAT} (the first format is no longer read); "
            "calibrate one with `swarmtrust verifier calibrate --model MODEL --dtype DTYPE --out FILE`"
        )
    return found


def read_tolerances(path: str | None = None) -> Tolerances:
    """The documents of ``path``, or the shipped ones (``swarmtrust/verifier/tolerances.json``: ``tiny``)."""
    if path is None:
        text, source = (
            resources.files("swarmtrust.verifier").joinpath(SHIPPED).read_text(),
            f"shipped swarmtrust/verifier/{SHIPPED}",
        )
    else:
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError as exc:
            raise ToleranceError(f"cannot read the tolerance file {path}: {exc}") from None
        source = path
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ToleranceError(f"{source}: not JSON ({exc})") from None
    return Tolerances(documents_in(data, source))
