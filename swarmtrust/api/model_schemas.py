"""The shapes of the model routes: registrations (the dtypes a model is served in) and tolerance records."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from swarmtrust.api.schemas import PLAIN_TEXT
from swarmtrust.protocol.model_records import MAX_REGISTERED_DTYPES, SERVING_DTYPES
from swarmtrust.protocol.receipts import MAX_MODEL_ID
from swarmtrust.protocol.rest import Schema

DTYPE_PATTERN = "^(" + "|".join(SERVING_DTYPES) + ")$"
WIRE_EXAMPLE = "92c4..."


class RegisteredOut(Schema):
    dtypes: list[str] = Field(description="Allowed serving dtypes, the default first", examples=[["float32"]])
    registered_ms: int
    record: str = Field(description="The ledger-signed registration (hex of its [body, signature] envelope)")


class ToleranceOut(Schema):
    hardware: str = Field(examples=["cpu x86_64 torch 2.13.0"])
    calibrator_key: str
    created_ms: int
    record: str = Field(description="The calibrator-signed tolerance record (hex envelope; its document inside)")


class ModelOut(Schema):
    """A model's registration: what it may be served in; clients, servers and verifiers follow it."""

    model_id: str
    dtypes: list[str] = Field(description="Allowed serving dtypes now, the default first", examples=[["float32"]])
    registered_ms: int
    registration: str = Field(description="The latest ledger-signed registration (hex envelope)")
    history: list[RegisteredOut] = Field(description="Every registration, oldest first (verifiers judge by these)")
    tolerances: dict[str, dict[str, ToleranceOut]] = Field(
        description="The latest tolerance record per dtype, then per device kind its replays ran on (cpu, cuda)"
    )


class ModelIn(Schema):
    model_id: str = Field(min_length=1, max_length=MAX_MODEL_ID, pattern=PLAIN_TEXT, examples=["tiny"])
    dtypes: list[str] = Field(
        min_length=1,
        max_length=MAX_REGISTERED_DTYPES,
        description=f"Distinct dtypes among {', '.join(SERVING_DTYPES)}; the first is the default servers use",
        examples=[["float32"]],
    )

    model_config = ConfigDict(strict=True)


class RegisteredResult(Schema):
    status: str = Field(description="recorded (a new event), or unchanged (already so)", examples=["recorded"])
    seq: int = Field(description="The event that holds the registration or record")
