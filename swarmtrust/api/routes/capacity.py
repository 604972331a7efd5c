"""The swarm's capacity per model: block coverage, measured throughput and the last minute's load."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import Field

from swarmtrust.api.deps import LedgerEngine, now_ms
from swarmtrust.api.schemas import COMMON_ERRORS
from swarmtrust.ledger.capacity import LOAD_WINDOW_MS, capacity
from swarmtrust.protocol.rest import API_PREFIX, Schema

router = APIRouter(prefix=API_PREFIX, tags=["servers"], responses=COMMON_ERRORS)


class BlockCapacityOut(Schema):
    block: int = Field(examples=[0])
    servers: int = Field(description="Online servers holding the block that clients may route through", examples=[2])
    throughput: float = Field(description="Their summed announced throughput, tokens/s", examples=[180.5])


class ModelCapacityOut(Schema):
    model_id: str = Field(examples=["tiny"])
    blocks: list[BlockCapacityOut]
    servers_online: int = Field(description="Online servers of the model, quarantined ones left out", examples=[3])
    throughput: float = Field(
        description="Tokens/s through every block: the weakest block's summed throughput (0: a block is uncovered)",
        examples=[120.0],
    )
    uncovered: list[int] = Field(description="Blocks no online, routable server holds", examples=[[]])
    sessions_last_minute: int = Field(
        description="Sessions with a receipt the ledger received in the last minute", examples=[12]
    )
    steps_last_minute: int = Field(description="Receipts of the last minute: one per step per server", examples=[240])
    per_server: dict[str, int] = Field(description="Steps of the last minute, by server key", examples=[{}])


@router.get(
    "/capacity",
    summary="Per model: block coverage, total measured throughput and the current load",
    description=f"The load is what the receipts clients submitted over the last {LOAD_WINDOW_MS // 1000} s "
    "show: sessions whose receipts never reach the ledger are not in it.",
)
def swarm_capacity(engine: LedgerEngine) -> list[ModelCapacityOut]:
    with engine.connect() as connection:
        found = capacity(connection, now_ms())
    return [ModelCapacityOut.model_validate(asdict(model)) for model in found]
