"""Epochs: the receipts the ledger recorded per server and hour, with a Merkle root; inclusion proofs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from swarmtrust.api.deps import HEX_ID, KeyPath, LedgerEngine, now_ms
from swarmtrust.api.errors import ApiError
from swarmtrust.api.schemas import COMMON_ERRORS, EpochList, EpochOut, ErrorBody, ReceiptProofOut
from swarmtrust.ledger.epochs import EpochTooLargeError, epoch_summary, receipt_proof, server_epochs
from swarmtrust.protocol.rest import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["epochs"], responses=COMMON_ERRORS)

MAX_EPOCH = 2**40  # hours: far beyond any timestamp a receipt may carry


@router.get("/servers/{key}/epochs", summary="The epochs (hours) in which a server has receipts, newest first")
def epochs(engine: LedgerEngine, key: KeyPath) -> EpochList:
    with engine.connect() as connection:
        return EpochList(server_key=key, epochs=server_epochs(connection, key))


@router.get(
    "/servers/{key}/epochs/{epoch}",
    summary="One epoch of a server: receipts, sessions, block-tokens and the Merkle root over its receipts",
    responses={404: {"model": ErrorBody}, 413: {"model": ErrorBody}},
)
def epoch(
    engine: LedgerEngine,
    key: KeyPath,
    epoch: Annotated[int, Path(ge=0, le=MAX_EPOCH, description="Hours since the Unix epoch")],
) -> EpochOut:
    with engine.connect() as connection, _too_large_is_413():
        summary = epoch_summary(connection, key, epoch, now_ms())
    if summary is None:
        raise ApiError(404, "not_found", f"server {key} has no receipts in epoch {epoch}")
    return EpochOut.model_validate(asdict(summary))


@router.get(
    "/receipts/{receipt_id}/proof",
    summary="Proof that a receipt is a leaf of its server's epoch root",
    responses={404: {"model": ErrorBody}, 413: {"model": ErrorBody}},
)
def proof(
    engine: LedgerEngine,
    receipt_id: Annotated[str, Path(pattern=HEX_ID, description="Hex receipt id")],
) -> ReceiptProofOut:
    with engine.connect() as connection, _too_large_is_413():
        found = receipt_proof(connection, receipt_id, now_ms())
    if found is None:
        raise ApiError(404, "not_found", f"no receipt {receipt_id} in the ledger")
    return ReceiptProofOut(
        receipt_id=found.receipt_id,
        digest=found.digest,
        index=found.proof.index,
        tree_size=found.proof.tree_size,
        path=[h.hex() for h in found.proof.path],
        epoch=EpochOut.model_validate(asdict(found.epoch)),
    )


@contextlib.contextmanager
def _too_large_is_413() -> Iterator[None]:
    try:
        yield
    except EpochTooLargeError as exc:
        raise ApiError(413, "epoch_too_large", str(exc)) from None
