"""Where a server started with ``--num-blocks`` sits in the swarm: the servers the DHT announces for the model,
weighed by their throughput and their trust at the ledger (``span_choice`` decides from these)."""

from __future__ import annotations

import logging
from typing import Any

from swarmtrust.node.client.discovery import discover_servers
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.node.server.span_choice import Holder, coverage, thinnest_start

log = logging.getLogger(__name__)


def trust_by_key(ledger_url: str | None, model_id: str) -> tuple[dict[str, float], float]:
    """Each checked server's trust at the ledger and a newcomer's; all 1.0 without a ledger (or when it does not
    answer: throughput alone then weighs)."""
    if ledger_url is None:
        return {}, 1.0
    try:
        with LedgerApi(ledger_url, timeout=10.0) as api:
            batch = api.reputation(model_id)
    except LedgerApiError as exc:
        log.warning("no reputations from the ledger (%s): weighing servers by throughput alone", exc)
        return {}, 1.0
    return {key: view.trust for key, view in batch.servers.items()}, batch.newcomer.trust


def holders(dht: Any, model_id: str, num_blocks: int, me: str, ledger_url: str | None) -> list[Holder]:
    """The other online servers of the model, each weighed by throughput × trust."""
    trusts, newcomer = trust_by_key(ledger_url, model_id)
    return [
        Holder(server.start, server.end, server.announcement.throughput * trusts.get(server.key, newcomer))
        for server in discover_servers(dht, model_id, num_blocks)
        if server.key != me
    ]


def choose_blocks(dht: Any, model_id: str, num_blocks: int, length: int, me: str, ledger_url: str | None) -> int:
    """The first block of the ``length`` blocks where the swarm is thinnest now."""
    others = holders(dht, model_id, num_blocks, me, ledger_url)
    start = thinnest_start(coverage(others, num_blocks), length)
    log.info("chose blocks %d:%d among %d other servers", start, start + length, len(others))
    return start


def my_trust(ledger_url: str | None, model_id: str, me: str) -> float:
    trusts, newcomer = trust_by_key(ledger_url, model_id)
    return trusts.get(me, newcomer)
