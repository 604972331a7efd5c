"""Wire formats that fix what a model is served and judged in: its registration and its calibrated tolerances.

- ``ModelRegistration``, signed by the ledger: the dtypes a model may be served in (the first is the default a
  server uses). Clients route only to servers announcing one of them, servers refuse to start in another, and
  verifiers fail a receipt in a dtype the model was not registered for when the session began: a server
  cannot announce a looser dtype to be judged by its looser tolerance.
- ``ToleranceRecord``, signed by a calibrator: a tolerance document (JSON) for one model and dtype, measured
  on a named class of hardware. The ledger keeps the latest per (model, dtype, device kind); the document's
  inner format belongs to ``verifier`` (this module checks only that it is a JSON object naming the same model
  and dtype, and a known device kind: ``document_device``).

Both live here, beside the other records nodes sign or check, so that clients, servers and verifiers can
decode them without importing the ledger.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from swarmtrust.protocol.digests import DTYPE_SIZES, Dtype
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.receipts import MAX_MODEL_ID, MAX_TIMESTAMP_MS
from swarmtrust.protocol.records import WireRecord, at_most, blob, size, text, within

SERVING_DTYPES: tuple[str, ...] = tuple(DTYPE_SIZES)  # the dtypes receipts and tensors carry on the wire
MAX_REGISTERED_DTYPES = 4
MAX_HARDWARE = 120  # e.g. "cpu x86_64 torch 2.13.0"
MAX_TOLERANCE_DOCUMENT = 256 * 1024  # bytes of UTF-8 JSON
# Where a verifier replays, as tolerance documents are keyed: the kind of device, not its model (a document
# names the exact hardware in its free-text ``hardware``). A document without one was calibrated on the CPU.
DEVICE_KINDS: tuple[str, ...] = ("cpu", "cuda")
DEFAULT_DEVICE_KIND = "cpu"


def document_device(document: dict[str, Any]) -> str:
    """The device kind a tolerance document's replays ran on (its ``device``; the CPU when it names none);
    WireFormatError for one that names another."""
    device = document.get("device", DEFAULT_DEVICE_KIND)
    if device not in DEVICE_KINDS:
        raise WireFormatError(f"tolerance document: device {device!r} is not a device kind ({', '.join(DEVICE_KINDS)})")
    return str(device)


class ModelRegistration(WireRecord, tag=1, frozen=True):
    """The dtypes ``model_id`` may be served in, from ``registered_ms`` until its next registration."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/model-registration/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    # allowed serving dtypes, distinct; the first is the default a server uses
    dtypes: Annotated[tuple[Dtype, ...], at_most(MAX_REGISTERED_DTYPES)]
    registered_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if not self.dtypes:
            raise WireFormatError(f"ModelRegistration: name 1 to {MAX_REGISTERED_DTYPES} dtypes the model is served in")
        if len(set(self.dtypes)) != len(self.dtypes):
            raise WireFormatError(f"ModelRegistration: dtypes {list(self.dtypes)} repeat one; name each once")


class ToleranceRecord(WireRecord, tag=1, frozen=True):
    """A calibrator's tolerance document for ``model_id`` served in ``dtype``, measured on ``hardware``."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/tolerance/v1"
    MAX_BYTES: ClassVar[int] = MAX_TOLERANCE_DOCUMENT + 1024
    SIGNER_FIELD: ClassVar[str] = "calibrator_key"

    calibrator_key: Annotated[bytes, size(32)]
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    dtype: Dtype
    hardware: Annotated[str, text(MAX_HARDWARE)]  # the class of hardware the thresholds were measured on
    # UTF-8 JSON object whose "model" and "dtype" are the record's
    document: Annotated[bytes, blob(MAX_TOLERANCE_DOCUMENT)]
    created_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        parsed = parse_tolerance_document(self.document)
        for field, value in (("model", self.model_id), ("dtype", self.dtype)):
            if parsed.get(field) != value:
                raise WireFormatError(
                    f"ToleranceRecord: the document's {field!r} is {parsed.get(field)!r}, the record's {value!r}; "
                    "sign the document calibrated for this model and dtype"
                )
        document_device(parsed)

    @property
    def device(self) -> str:
        """The device kind its document's replays ran on (``document_device``): the ledger keeps one per kind."""
        return document_device(parse_tolerance_document(self.document))


def parse_tolerance_document(document: bytes) -> dict[str, Any]:
    """The JSON object a tolerance record carries; WireFormatError for anything else."""
    try:
        parsed = json.loads(document.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireFormatError(f"ToleranceRecord.document: not UTF-8 JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise WireFormatError(f"ToleranceRecord.document: expected a JSON object, got {type(parsed).__name__}")
    return parsed
