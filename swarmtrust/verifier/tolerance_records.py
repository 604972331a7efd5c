"""Signing a calibration's tolerance document into a ``ToleranceRecord`` the ledger keeps (pure but for the
clock and the hardware description).

A calibration file holds one tolerance document (a JSON object naming its ``model`` and ``dtype``) or several
(a list of them, or an object holding them one level down, e.g. by dtype); ``select_document`` picks the one
for the dtype (and device kind of its replays) asked. The document's own format belongs to the calibration
(``verifier.calibration``): it is carried as is, re-serialised compactly.
"""

from __future__ import annotations

import json
import platform
import time
from typing import Any

import nacl.signing

from swarmtrust.protocol.digests import dtype_named
from swarmtrust.protocol.errors import SwarmtrustError, WireFormatError
from swarmtrust.protocol.model_records import DEFAULT_DEVICE_KIND, MAX_HARDWARE, ToleranceRecord
from swarmtrust.protocol.signing import Signed, sign_record


class CalibrationFileError(SwarmtrustError):
    """A calibration file that holds no (or more than one) tolerance document for the dtype asked."""


def _is_document(value: Any, dtype: str, device: str | None) -> bool:
    if not (isinstance(value, dict) and value.get("dtype") == dtype and isinstance(value.get("model"), str)):
        return False
    return device is None or value.get("device", DEFAULT_DEVICE_KIND) == device


def select_document(calibration: Any, dtype: str, device: str | None = None) -> dict[str, Any]:
    """The one tolerance document for ``dtype`` (replayed on a ``device`` kind; None: any) in a parsed calibration
    file; CalibrationFileError otherwise."""
    found: list[dict[str, Any]] = []

    def visit(value: Any, depth: int) -> None:
        if _is_document(value, dtype, device):
            found.append(value)
        elif depth > 0:
            children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
            for child in children:
                visit(child, depth - 1)

    visit(calibration, 2)  # a document, documents by key or in a list, or a list under a key
    if len(found) > 1 and device is None:
        kinds = ", ".join(sorted(str(d.get("device", DEFAULT_DEVICE_KIND)) for d in found))
        raise CalibrationFileError(
            f"the calibration file holds {len(found)} tolerance documents for dtype {dtype} (replayed on {kinds}): "
            "choose one with --device"
        )
    if len(found) != 1:
        on = f" replayed on {device}" if device else ""
        raise CalibrationFileError(
            f"the calibration file holds {len(found) or 'no'} tolerance document(s) for dtype {dtype}{on} (a JSON "
            f'object with "model" and "dtype": "{dtype}"); calibrate it: `swarmtrust verifier calibrate --dtype '
            f"{dtype}" + (f" --device {device}`" if device else "`")
        )
    return found[0]


def hardware_class() -> str:
    """This machine's class, as calibrations name it: device, architecture and torch version."""
    import torch

    device = "cuda " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return f"{device} {platform.machine()} torch {torch.__version__}"[:MAX_HARDWARE]


def sign_tolerance(
    calibration: Any,
    dtype: str,
    key: nacl.signing.SigningKey,
    *,
    hardware: str | None = None,
    created_ms: int | None = None,
    device: str | None = None,
) -> Signed[ToleranceRecord]:
    """A tolerance record for ``dtype`` from a parsed calibration file, signed by ``key`` (the calibrator).

    The hardware is ``hardware``, else the document's own ``hardware`` field, else this machine's class.
    CalibrationFileError or WireFormatError (with what is wrong) for a document no record can carry.
    """
    document = select_document(calibration, dtype, device)
    named = document.get("hardware")
    chosen = hardware or (named if isinstance(named, str) and named else None) or hardware_class()
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        record = ToleranceRecord(
            calibrator_key=bytes(key.verify_key),
            model_id=document["model"],
            dtype=dtype_named(dtype),
            hardware=chosen,
            document=body,
            created_ms=created_ms if created_ms is not None else time.time_ns() // 1_000_000,
        )
    except WireFormatError as exc:
        raise CalibrationFileError(f"the tolerance document cannot be signed: {exc}") from None
    return sign_record(record, key)
