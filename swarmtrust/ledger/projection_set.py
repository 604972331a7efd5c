"""Every projection of the event log, in the order they apply."""

from __future__ import annotations

from collections.abc import Iterable

from swarmtrust.ledger.directory_projection import DirectoryProjection
from swarmtrust.ledger.market_projection import MarketProjection
from swarmtrust.ledger.misbehaviour_projection import MisbehaviourProjection
from swarmtrust.ledger.model_registry_projection import ModelRegistryProjection
from swarmtrust.ledger.projections import Projection, ReceiptProjection
from swarmtrust.ledger.spotcheck_projection import SpotCheckProjection

PROJECTIONS: tuple[Projection, ...] = (
    ReceiptProjection(),
    SpotCheckProjection(),
    DirectoryProjection(),
    MarketProjection(),
    MisbehaviourProjection(),
    ModelRegistryProjection(),
)


def projections_for(kinds: Iterable[str]) -> list[Projection]:
    wanted = set(kinds)
    return [p for p in PROJECTIONS if p.kinds & wanted]
