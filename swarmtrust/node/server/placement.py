"""Where a server started with ``--num-blocks`` sits in the swarm: the servers the DHT announces for the model,
weighed by their throughput and their trust at the ledger (``span_choice`` decides from these). The ledger's
answers are believed only where they extend the checkpoints the server saw before (``LedgerView``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmtrust.node.client.checkpoint_memory import CheckpointMemory, LedgerHistoryError
from swarmtrust.node.client.discovery import discover_servers
from swarmtrust.node.ledger_api import LedgerApi, LedgerApiError
from swarmtrust.node.server.span_choice import Holder, coverage, thinnest_start
from swarmtrust.protocol.rest import ReputationBatch

log = logging.getLogger(__name__)


@dataclass
class LedgerView:
    """The ledger a server reads reputations from, and the checkpoints it saw there: an answer that does not
    extend them (``CheckpointMemory``) counts as no answer. ``memory_file`` keeps them across restarts."""

    url: str | None
    memory: CheckpointMemory = field(default_factory=CheckpointMemory)
    memory_file: Path | None = None

    @classmethod
    def open(cls, url: str | None, memory_file: Path | None) -> LedgerView:
        return cls(url, CheckpointMemory.load(memory_file) if memory_file else CheckpointMemory(), memory_file)

    def reputations(self, model_id: str) -> ReputationBatch | None:
        """The ledger's reputations of the model's servers, None without a ledger or when it does not answer or
        answers from a history that does not extend what this server saw (logged)."""
        if self.url is None:
            return None
        try:
            with LedgerApi(self.url, timeout=10.0) as api, self.memory.kept_in(self.memory_file):
                batch = api.reputation(model_id)
                ref = batch.checkpoint
                number, digest = (ref.number, bytes.fromhex(ref.digest)) if ref is not None else (0, None)
                self.memory.admit(self.url.encode(), number, digest, "api", api.finality_proof)
            return batch
        except LedgerApiError as exc:
            log.warning("no reputations from the ledger (%s): weighing servers by throughput alone", exc)
        except LedgerHistoryError as exc:
            log.error("not weighing servers by the ledger's trust: %s", exc)
        return None


def trust_by_key(ledger: LedgerView, model_id: str) -> tuple[dict[str, float], float]:
    """Each checked server's trust at the ledger and a newcomer's; all 1.0 without a ledger (or when it does not
    answer, or cannot be believed: throughput alone then weighs)."""
    batch = ledger.reputations(model_id)
    if batch is None:
        return {}, 1.0
    return {key: view.trust for key, view in batch.servers.items()}, batch.newcomer.trust


def holders(dht: Any, model_id: str, num_blocks: int, me: str, ledger: LedgerView) -> list[Holder]:
    """The other online servers of the model, each weighed by throughput × trust."""
    trusts, newcomer = trust_by_key(ledger, model_id)
    return [
        Holder(server.start, server.end, server.announcement.throughput * trusts.get(server.key, newcomer))
        for server in discover_servers(dht, model_id, num_blocks)
        if server.key != me
    ]


def choose_blocks(dht: Any, model_id: str, num_blocks: int, length: int, me: str, ledger: LedgerView) -> int:
    """The first block of the ``length`` blocks where the swarm is thinnest now."""
    others = holders(dht, model_id, num_blocks, me, ledger)
    start = thinnest_start(coverage(others, num_blocks), length)
    log.info("chose blocks %d:%d among %d other servers", start, start + length, len(others))
    return start


def my_trust(ledger: LedgerView, model_id: str, me: str) -> float:
    trusts, newcomer = trust_by_key(ledger, model_id)
    return trusts.get(me, newcomer)
