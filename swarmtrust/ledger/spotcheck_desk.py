"""What the ledger's spot-check components share: the policy and its rules of consensus, the signing key, the
clock, the audit beacon, and the write transaction that logs the rules in force before anything it decides."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import nacl.signing
from sqlalchemy import Connection, Engine, select

from swarmtrust.ledger.beacon_keeper import AuditBeacon
from swarmtrust.ledger.consensus import DEFAULT_RULES, ConsensusRules
from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.eventlog import EventWriter, now_ms, open_writer
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.models import ConsensusPolicyRow
from swarmtrust.ledger.statements import Assignment, ConsensusPolicy
from swarmtrust.ledger.verifier_pool import draw
from swarmtrust.protocol.evidence import MAX_EVIDENCE_BYTES
from swarmtrust.protocol.records import WireRecord
from swarmtrust.protocol.signing import Signed, sign_record

log = logging.getLogger(__name__)
R = TypeVar("R", bound=WireRecord)


class SpotCheckError(RequestRefusedError):
    """A request about spot checks that cannot be honoured; ``code`` is stable, ``status`` an HTTP status."""


@dataclass(frozen=True)
class SpotCheckPolicy:
    assignment_ttl_ms: int = 60_000  # a verifier has this long to answer before its slot goes to another
    dispute_verifiers: int = 2  # more verifiers on a challenge whose verdict is not a pass
    audit_rate: float = 0.1  # chance that a pass by a fully reliable verifier is re-checked by another ...
    max_audit_rate: float = 1.0  # ... rising towards this for verifiers that disagree with outcomes
    presence_window_ms: int = 120_000  # verifiers that asked for work this recently may be drawn for disputes
    max_evidence_bytes: int = MAX_EVIDENCE_BYTES

    def __post_init__(self) -> None:
        self.rules  # noqa: B018 - refuses rules out of range (ValueError) when the policy is made

    @property
    def rules(self) -> ConsensusRules:
        """The rules of consensus: logged by the ledger, so that every API process and the audit use them."""
        return ConsensusRules(self.dispute_verifiers, self.audit_rate, self.max_audit_rate)


@dataclass(frozen=True)
class ChallengeResult:
    status: str  # accepted or duplicate
    challenge_id: str
    seq: int | None


@dataclass(frozen=True)
class Claimed:
    assignment: Signed[Assignment]
    challenge: dict[str, Any]  # the challenges row


@dataclass(frozen=True)
class VerdictResult:
    status: str  # accepted or duplicate
    phase: str  # the challenge's phase afterwards: initial, audit, dispute or decided
    outcome: str | None


class SpotCheckDesk:
    """The shared state of intake, assignment and adjudication (one per ``SpotChecks``)."""

    def __init__(
        self,
        engine: Engine,
        key: nacl.signing.SigningKey,
        policy: SpotCheckPolicy | None = None,
        *,
        clock: Callable[[], int] = now_ms,
        beacon: AuditBeacon | None = None,
    ) -> None:
        self.engine = engine
        self.key = key
        self.ledger_key = bytes(key.verify_key)
        self.policy = policy or SpotCheckPolicy()
        self.clock = clock
        self.beacon = beacon or AuditBeacon(key)  # audit coins from seeds derived from ``key``
        self._rules_declared = False  # set once a transaction that logged (or found) this policy's rules committed

    @contextmanager
    def writer(self) -> Iterator[EventWriter]:
        """A write transaction that first logs this policy's rules of consensus unless they are in force: from
        this process's first write on, every process over the database decides by the rules last logged (the
        last process started sets them), and the audit checks every decision against them."""
        with open_writer(self.engine, self.clock) as writer:
            if not self._rules_declared:
                rules = self.policy.rules
                if logged_rules(writer.connection) != rules:
                    policy = ConsensusPolicy(
                        self.ledger_key, rules.dispute_verifiers, rules.audit_rate, rules.max_audit_rate, self.clock()
                    )
                    writer.append([EventDraft("consensus_policy", self.sign(policy))])
                    log.info("rules of consensus now %s", rules)
            yield writer
        self._rules_declared = True

    def sign(self, record: R) -> Signed[R]:
        return sign_record(record, self.key)

    def draw(self, writer: EventWriter, challenge: dict[str, Any], count: int, now: int) -> list[str]:
        """``count`` verifiers for ``challenge``, drawn by reliability among those present and eligible."""
        return draw(writer.connection, challenge, count, now, self.policy.presence_window_ms)


def current_rules(connection: Connection) -> ConsensusRules:
    """The rules of consensus in force: the last ``consensus_policy`` event's, else ``DEFAULT_RULES``."""
    return logged_rules(connection) or DEFAULT_RULES


def logged_rules(connection: Connection) -> ConsensusRules | None:
    """The rules of the last ``consensus_policy`` event, if any."""
    row = connection.execute(select(ConsensusPolicyRow).where(ConsensusPolicyRow.id == 1)).mappings().first()
    if row is None:
        return None
    return ConsensusRules(row["dispute_verifiers"], row["audit_rate"], row["max_audit_rate"])
