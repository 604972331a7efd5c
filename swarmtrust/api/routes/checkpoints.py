"""Checkpoints: the ledger's signed statements of its history, verifiers' co-signatures of them, and inclusion
proofs of one reputation or balance against one (``ledger.checkpoints``, ``docs/auditing.md``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from swarmtrust.api.bodies import UNSUPPORTED_MEDIA, MsgpackBody
from swarmtrust.api.deps import LedgerEngine
from swarmtrust.api.errors import ApiError
from swarmtrust.api.schemas import COMMON_ERRORS, ErrorBody
from swarmtrust.api.service import Service
from swarmtrust.ledger.checkpoints import RefoldBusyError, add_signature, checkpoint_view, latest_final_view
from swarmtrust.ledger.state_root import ATTESTED
from swarmtrust.protocol.merkle import inclusion_proof
from swarmtrust.protocol.rest import API_PREFIX, HASH_EXAMPLE, KEY_EXAMPLE, Schema

router = APIRouter(prefix=API_PREFIX, tags=["checkpoints"], responses=COMMON_ERRORS)
NumberPath = Annotated[int, Path(ge=1, le=2**32 - 1, description="The checkpoint's number, from 1")]


class CheckpointOut(Schema):
    number: int
    seq: int = Field(description="The last event it covers")
    digest: str = Field(
        description="BLAKE2b-256 of its domain and body (what co-signatures name), hex", examples=[HASH_EXAMPLE]
    )
    state_root: str = Field(
        description="Merkle root of the attested reputations and balances, hex", examples=[HASH_EXAMPLE]
    )
    created_ms: int
    record: str = Field(
        description="The ledger-signed Checkpoint envelope, hex (msgpack [body, signature])", examples=["92c4..."]
    )
    final: bool = Field(description="Co-signed by more than 2/3 of its signing set's weight")
    signed_weight: int
    total_weight: int
    signers: list[str] = Field(
        description="Hex keys of the verifiers whose co-signatures the ledger holds", examples=[[KEY_EXAMPLE]]
    )
    signatures: list[str] = Field(description="Their CheckpointSignature envelopes, hex", examples=[["92c4..."]])


class CheckpointsOut(Schema):
    latest: CheckpointOut | None = Field(
        description="The latest checkpoint, final or still being co-signed (null: none yet)", examples=[None]
    )
    latest_final: CheckpointOut | None = Field(description="The latest final checkpoint (null: none)", examples=[None])


class SignatureResult(Schema):
    status: str = Field(description="recorded, or duplicate for a co-signature already held", examples=["recorded"])


class ProofOut(Schema):
    checkpoint: int
    state_root: str = Field(examples=[HASH_EXAMPLE])
    leaf: str = Field(
        description="The row's leaf, hex: msgpack [table, key, [[column, value], ...]]", examples=["93a8..."]
    )
    index: int
    tree_size: int
    path: list[str] = Field(
        description="Sibling hashes from the leaf up (RFC 9162 inclusion proof), hex", examples=[[HASH_EXAMPLE]]
    )


def _view(engine: Any, number: int | None) -> dict[str, Any] | None:
    with engine.connect() as connection:
        return checkpoint_view(connection, number)


@router.get("/checkpoints", summary="The latest checkpoint and the latest final one")
def checkpoints(engine: LedgerEngine) -> CheckpointsOut:
    with engine.connect() as connection:
        latest, final = checkpoint_view(connection), latest_final_view(connection)
    return CheckpointsOut.model_validate({"latest": latest, "latest_final": final})


@router.get(
    "/checkpoints/{number}", summary="One checkpoint and its co-signatures", responses={404: {"model": ErrorBody}}
)
def checkpoint(engine: LedgerEngine, number: NumberPath) -> CheckpointOut:
    view = _view(engine, number)
    if view is None:
        raise ApiError(404, "unknown_checkpoint", f"this ledger has no checkpoint {number}")
    return CheckpointOut.model_validate(view)


@router.post(
    "/checkpoints/{number}/signatures",
    summary="A verifier's co-signature of a checkpoint it recomputed from the events (its signature is its authority)",
    responses={400: {"model": ErrorBody}, **UNSUPPORTED_MEDIA},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A CheckpointSignature's signed envelope (msgpack [body, signature])",
        }
    },
)
async def cosign(engine: LedgerEngine, number: NumberPath, body: MsgpackBody) -> SignatureResult:
    status: str = await run_in_threadpool(add_signature, engine, body, number)
    return SignatureResult(status=status)


@router.get(
    "/proofs/{table}/{key}",
    summary="A reputation or balance with its inclusion proof under a checkpoint's state root",
    responses={404: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
def proof(
    service: Service,
    table: Annotated[str, Path(pattern="^(" + "|".join(ATTESTED) + ")$", description="reputations or accounts")],
    key: Annotated[str, Path(min_length=1, max_length=80, description="A server key (hex) or an account name")],
    number: Annotated[
        int | None, Query(ge=1, le=2**32 - 1, description="The checkpoint (default: the latest final one)")
    ] = None,
) -> ProofOut:
    engine = service.engine
    with engine.connect() as connection:
        view = checkpoint_view(connection, number) if number is not None else latest_final_view(connection)
    if view is None:
        raise ApiError(404, "unknown_checkpoint", "no such checkpoint (or none final yet): see GET /checkpoints")
    try:
        leaves = service.checkpointer.leaves_at(view["number"])
    except RefoldBusyError as exc:
        raise ApiError(503, "busy", str(exc)) from None
    found = [i for i, (name, row_key, _) in enumerate(leaves or []) if (name, row_key) == (table, key)]
    if not leaves or not found:
        raise ApiError(404, "unknown_row", f"checkpoint {view['number']} attests no {table} row {key!r}")
    made = inclusion_proof([leaf for _, _, leaf in leaves], found[0])
    return ProofOut(
        checkpoint=view["number"],
        state_root=view["state_root"],
        leaf=leaves[found[0]][2].hex(),
        index=made.index,
        tree_size=made.tree_size,
        path=[h.hex() for h in made.path],
    )
