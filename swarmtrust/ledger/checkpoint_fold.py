"""What a checkpoint must say, derived from the events alone: the fold the ledger proposes from and every verifier
and auditor recomputes with (pure).

``FoldedLog`` feeds events, in sequence order, to the audit's replays (``ledger.projection_set``), so it derives
exactly the tables the audit compares; ``expected_checkpoint`` turns it into the checkpoint those events call
for. Its signing set comes from the verifiers' records in the log (``verifier_weights``): weight is earned by
verdicts that agreed with decided outcomes, so whoever wants weight must earn it in the open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.orm import DeclarativeBase

from swarmtrust.ledger.events import GENESIS_HASH, LoggedEvent
from swarmtrust.ledger.market_projection import MarketProjection
from swarmtrust.ledger.market_rules import bond_account
from swarmtrust.ledger.models import AccountRow, VerifierRow
from swarmtrust.ledger.projection_set import PROJECTIONS
from swarmtrust.ledger.projections import Projection
from swarmtrust.ledger.spotcheck_projection import SpotCheckProjection
from swarmtrust.ledger.state_root import Tables, state_root
from swarmtrust.protocol.checkpoints import MAX_SIGNING_VERIFIERS, MAX_WEIGHT, Checkpoint, checkpoint_digest
from swarmtrust.protocol.errors import SwarmtrustError
from swarmtrust.protocol.merkle import merkle_root
from swarmtrust.protocol.signing import Signed


class CheckpointError(SwarmtrustError):
    """Events that do not extend the fold (a gap, a broken link), or a checkpoint that cannot be proposed."""


@dataclass(frozen=True)
class WeightRule:
    """How a verifier's record becomes signing weight. Reliability: none before ``apprenticeship`` agreements, then
    its agreements less ``disagreement_cost`` per disagreement (a verifier that is often outvoted loses its say).
    Bond: credits the verifier holds in its bond raise that weight by up to ``bond_factor`` times, reached at
    ``full_bond`` micro-credits. A bond alone buys no weight: only a record of agreeing with decided outcomes does,
    so that a rich newcomer cannot buy a quorum."""

    apprenticeship: int = 10
    disagreement_cost: int = 3
    full_bond: int = 1_000_000_000  # micro-credits: 1,000 credits
    bond_factor: int = 2

    def weight(self, agreements: int, disagreements: int, bond: int) -> int:
        """The signing weight of a verifier with this record and this bond (0: none), at most ``MAX_WEIGHT``."""
        if agreements < self.apprenticeship:
            return 0
        reliability = agreements - self.disagreement_cost * disagreements
        if reliability <= 0:
            return 0
        # whole numbers throughout: every verifier and the ledger compute the very same weight
        bonded = min(max(bond, 0), self.full_bond)
        raised = reliability * (self.full_bond + (self.bond_factor - 1) * bonded) // self.full_bond
        return min(MAX_WEIGHT, raised)


WEIGHT_RULE = WeightRule()


def verifier_weights(tables: Tables, rule: WeightRule = WEIGHT_RULE) -> dict[bytes, int]:
    """The signing set the derived ``verifiers`` and ``accounts`` tables give: the heaviest
    ``MAX_SIGNING_VERIFIERS`` of positive weight (ties by key), sorted by key."""
    accounts = tables.get(AccountRow, {})
    weights = {}
    for key, row in tables.get(VerifierRow, {}).items():
        bond = accounts.get(bond_account(key), {}).get("balance", 0)
        weight = rule.weight(row["agreements"], row["disagreements"], bond)
        if weight > 0:
            weights[bytes.fromhex(key)] = weight
    heaviest = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:MAX_SIGNING_VERIFIERS]
    return dict(sorted(heaviest))


# The projections whose tables a checkpoint depends on: reputations and verifiers' records (spot checks) and
# balances (the market). Events of no other kind change them, so those are only linked into the chain, not folded
# (their records are not even opened: ``ChainLink``).
ATTESTING: tuple[Projection, ...] = tuple(
    p for p in PROJECTIONS if isinstance(p, SpotCheckProjection | MarketProjection)
)
FOLDED_KINDS: frozenset[str] = frozenset().union(*(p.kinds for p in ATTESTING))


class ChainLink(NamedTuple):
    """An event of a kind no attesting projection folds (``FOLDED_KINDS``): its place in the chain alone."""

    seq: int
    kind: str
    prev_hash: bytes
    hash: bytes


class FoldedLog:
    """The event log folded up to ``seq`` by the audit's replays of the attested tables, and the chain hashes
    since the last mark."""

    def __init__(self) -> None:
        self.replays = [(projection.kinds, projection.replay()) for projection in ATTESTING]
        self.seq = 0
        self.head = GENESIS_HASH
        self.since_mark: list[bytes] = []  # chain hashes of the events after the last checkpoint

    def feed(self, events: Iterable[LoggedEvent | ChainLink]) -> None:
        """Fold ``events``, which must follow on from ``seq`` and link to ``head``; CheckpointError otherwise (and
        for a ``ChainLink`` of a kind that is folded)."""
        for event in events:
            if event.seq != self.seq + 1 or event.prev_hash != self.head:
                raise CheckpointError(
                    f"event {event.seq} does not extend the log folded to {self.seq}: the chain has a gap or a break"
                )
            if isinstance(event, ChainLink):
                if event.kind in FOLDED_KINDS:
                    raise CheckpointError(f"event {event.seq} ({event.kind}) must be folded, not only linked")
            else:
                for kinds, replay in self.replays:
                    if event.kind in kinds:
                        replay.feed(event)
            self.seq, self.head = event.seq, event.hash
            self.since_mark.append(event.hash)

    def tables(self) -> dict[type[DeclarativeBase], dict[Any, Any]]:
        merged: dict[type[DeclarativeBase], dict[Any, Any]] = {}
        for _, replay in self.replays:
            merged.update(replay.derived())
        return merged

    def mark(self) -> None:
        """A checkpoint was taken here: the next one's events start after it."""
        self.since_mark = []


def build_checkpoint(
    seq: int,
    head: bytes,
    hashes: Sequence[bytes],
    tables: Tables,
    previous: Signed[Checkpoint] | None,
    ledger_key: bytes,
    created_ms: int,
    rule: WeightRule = WEIGHT_RULE,
) -> Checkpoint:
    """The checkpoint of the log at ``seq`` (chain hash ``head``), the chain ``hashes`` of the events since
    ``previous`` (None: the first), and the derived ``tables`` there."""
    signers = verifier_weights(tables, rule)
    return Checkpoint(
        ledger_key=ledger_key,
        number=previous.record.number + 1 if previous is not None else 1,
        seq=seq,
        head_hash=head,
        events_root=merkle_root(hashes),
        event_count=len(hashes),
        state_root=state_root(tables),
        previous=checkpoint_digest(previous) if previous is not None else None,
        verifier_keys=tuple(signers),
        verifier_weights=tuple(signers.values()),
        created_ms=created_ms,
    )


def expected_checkpoint(
    log: FoldedLog,
    previous: Signed[Checkpoint] | None,
    ledger_key: bytes,
    created_ms: int,
    rule: WeightRule = WEIGHT_RULE,
) -> Checkpoint:
    """The checkpoint the folded events call for, after ``previous`` (None: the first)."""
    return build_checkpoint(log.seq, log.head, log.since_mark, log.tables(), previous, ledger_key, created_ms, rule)


ATTESTED_FIELDS: Sequence[str] = (
    "number", "seq", "head_hash", "events_root", "event_count", "state_root", "previous", "verifier_keys",
    "verifier_weights",
)  # fmt: skip


def differences(expected: Checkpoint, claimed: Checkpoint) -> list[str]:
    """The fields of ``claimed`` that the events do not give (``created_ms`` is the ledger's to choose)."""
    return [name for name in ATTESTED_FIELDS if getattr(expected, name) != getattr(claimed, name)]
