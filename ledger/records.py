"""The ledger's own signed statements: assignments of challenges to verifiers, rounds, outcomes, rejections.

The ledger signs them with its key, so that an auditor can tell which decisions the ledger took (and
hold it to them), just as receipts, challenges and verdicts carry their submitters' signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ledger.epochs import EPOCH_MS
from protocol.challenges import ID_SIZE, VERDICT_OUTCOMES
from protocol.digests import DIGEST_SIZE
from protocol.errors import WireFormatError
from protocol.market_records import MAX_AMOUNT
from protocol.receipts import MAX_MODEL_ID, MAX_TIMESTAMP_MS, SESSION_ID_SIZE
from protocol.records import Check, FixedBytes, Float, Int, ListOf, Optional, Text, WireRecord

ROUNDS = frozenset({"initial", "audit", "dispute"})
MAX_SETTLED_HOLDS = 1000  # holds one settlement releases; more wait for the next


@dataclass(frozen=True)
class Assignment(WireRecord):
    """A challenge given to one verifier, to answer before ``deadline_ms``."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/assignment/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "assignment_id": FixedBytes(ID_SIZE),
        "challenge_id": FixedBytes(ID_SIZE),
        "server_key": FixedBytes(32),
        "verifier_key": FixedBytes(32),
        "round": Text(16, ROUNDS),
        "replaces": Optional(FixedBytes(ID_SIZE)),
        "assigned_ms": Int(0, MAX_TIMESTAMP_MS),
        "deadline_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    assignment_id: bytes
    challenge_id: bytes
    server_key: bytes
    verifier_key: bytes
    round: str  # initial, audit (a pass re-checked) or dispute (a failure re-checked)
    replaces: bytes | None  # an assignment whose verifier missed its deadline
    assigned_ms: int
    deadline_ms: int


@dataclass(frozen=True)
class RoundOpened(WireRecord):
    """More verifiers wanted on a challenge: an audit of a pass, or a dispute of a failure."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/round/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "challenge_id": FixedBytes(ID_SIZE),
        "server_key": FixedBytes(32),
        "round": Text(16, frozenset({"audit", "dispute"})),
        "verifiers_wanted": Int(1, 64),
        "opened_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    challenge_id: bytes
    server_key: bytes
    round: str
    verifiers_wanted: int
    opened_ms: int


@dataclass(frozen=True)
class Outcome(WireRecord):
    """The decision on a challenge: the reliability-weighted majority of its verdicts."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/outcome/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 2048
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "challenge_id": FixedBytes(ID_SIZE),
        "server_key": FixedBytes(32),
        "outcome": Text(32, VERDICT_OUTCOMES),
        "pass_weight": Float(),
        "fail_weight": Float(),
        "verdicts": ListOf(FixedBytes(ID_SIZE), 64),
        "decided_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    challenge_id: bytes
    server_key: bytes
    outcome: str
    pass_weight: float  # total reliability of the verifiers that said pass
    fail_weight: float  # ... and of those that said fail (invalid_evidence counts with neither)
    verdicts: tuple[bytes, ...]  # the assignment ids whose verdicts were counted
    decided_ms: int


@dataclass(frozen=True)
class EvidenceRejection(WireRecord):
    """A challenge refused because its evidence does not match what the server signed: the submitter's fault."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/evidence-rejection/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "challenge_id": FixedBytes(ID_SIZE),
        "submitter_key": FixedBytes(32),
        "server_key": FixedBytes(32),
        "evidence_digest": FixedBytes(DIGEST_SIZE),
        "reason": Text(64),
        "detail": Text(400),
        "rejected_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    challenge_id: bytes
    submitter_key: bytes
    server_key: bytes
    evidence_digest: bytes
    reason: str
    detail: str
    rejected_ms: int


ADMIN_ACTIONS = frozenset({"quarantine", "release"})


@dataclass(frozen=True)
class AdminAction(WireRecord):
    """An administrator's decision about a server, taken through the ledger service and signed by the
    ledger: ``quarantine`` makes it unroutable at once; ``release`` lifts a quarantine and starts its
    checks over (every session checked again until it has passed enough in a row)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/admin-action/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "action": Text(16, ADMIN_ACTIONS),
        "server_key": FixedBytes(32),
        "model_id": Text(MAX_MODEL_ID),
        "reason": Text(400),
        "admin": Text(64),
        "acted_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    action: str
    server_key: bytes
    model_id: str  # the model the server serves (its reputation row's model when it has none yet)
    reason: str  # why, in the administrator's words (never empty)
    admin: str  # who: the administrator's name as configured on the ledger service
    acted_ms: int

    def check_consistency(self) -> None:
        if not self.reason.strip():
            raise WireFormatError("AdminAction: a reason is required")


@dataclass(frozen=True)
class Mint(WireRecord):
    """New credits, created by an administrator through the ledger service and signed by the ledger: the
    only way credits come to exist, so the sum of all balances always equals the sum of all mints."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/mint/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "mint_id": FixedBytes(ID_SIZE),
        "account": Text(80),
        "amount": Int(1, MAX_AMOUNT),
        "reason": Text(400),
        "admin": Text(64),
        "minted_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    mint_id: bytes
    account: str  # a key's account (its hex key) or "treasury"
    amount: int
    reason: str
    admin: str
    minted_ms: int


@dataclass(frozen=True)
class Settlement(WireRecord):
    """The ledger releases escrow whose challenge window has passed: each hold named was opened at least
    ``window_ms`` before ``settled_ms`` and is under no undecided challenge (the audit checks both)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/settlement/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 64 * 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "settlement_id": FixedBytes(ID_SIZE),
        "window_ms": Int(0, MAX_TIMESTAMP_MS),
        "settled_ms": Int(0, MAX_TIMESTAMP_MS),
        "holds": ListOf(FixedBytes(32 + SESSION_ID_SIZE), MAX_SETTLED_HOLDS),
    }

    ledger_key: bytes
    settlement_id: bytes
    window_ms: int
    settled_ms: int
    holds: tuple[bytes, ...]  # server key + session id of each hold released


AUDIT_FOLLOWS = frozenset({"audit", "decide"})
MAX_EPOCH = MAX_TIMESTAMP_MS // EPOCH_MS + 2  # epochs are hours of the ledger's clock (``ledger.epochs``)


@dataclass(frozen=True)
class SeedCommitment(WireRecord):
    """The ledger binds itself to the secret seed of an epoch's audit coins before any coin it decides is
    drawn (see ``ledger.beacon``): ``commitment`` is the BLAKE2b-256 digest of the seed."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/seed-commitment/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "epoch": Int(0, MAX_EPOCH),
        "commitment": FixedBytes(DIGEST_SIZE),
        "committed_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    epoch: int
    commitment: bytes
    committed_ms: int


@dataclass(frozen=True)
class SeedReveal(WireRecord):
    """The seed of an epoch's audit coins, published once no verdict it decides can still come in; anyone
    then recomputes those coins and checks the seed against its commitment."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/seed-reveal/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "epoch": Int(0, MAX_EPOCH),
        "seed": FixedBytes(32),
        "revealed_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    epoch: int
    seed: bytes
    revealed_ms: int


@dataclass(frozen=True)
class AuditDraw(WireRecord):
    """Whether a first-round pass is audited: ``coin`` (drawn after the verdict was recorded, from the
    committed seed of ``epoch`` and the verdict's digest) against ``chance``; ``follow`` is audit exactly when
    coin < chance. Logged in the transaction of the verdict, before the round or outcome it leads to."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/audit-draw/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "challenge_id": FixedBytes(ID_SIZE),
        "server_key": FixedBytes(32),
        "assignment_id": FixedBytes(ID_SIZE),
        "verifier_key": FixedBytes(32),
        "verdict_digest": FixedBytes(DIGEST_SIZE),
        "epoch": Int(0, MAX_EPOCH),
        "coin": Float(),
        "chance": Float(),
        "follow": Text(16, AUDIT_FOLLOWS),
        "drawn_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    challenge_id: bytes
    server_key: bytes
    assignment_id: bytes  # the assignment the pass answered
    verifier_key: bytes
    verdict_digest: bytes
    epoch: int
    coin: float  # in [0, 1)
    chance: float  # in [0, 1]
    follow: str  # audit or decide
    drawn_ms: int

    def check_consistency(self) -> None:
        if not 0.0 <= self.coin < 1.0 or not 0.0 <= self.chance <= 1.0:
            raise WireFormatError("AuditDraw: coin must lie in [0, 1) and chance in [0, 1]")
        if (self.follow == "audit") != (self.coin < self.chance):
            raise WireFormatError("AuditDraw: follow must be audit exactly when coin < chance")


@dataclass(frozen=True)
class ConsensusPolicy(WireRecord):
    """The rules of consensus in force from this event on (``ledger.consensus.ConsensusRules``): logged when an
    API process starts with rules other than the last logged, so every process and the audit use the same."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/consensus-policy/v1"
    VERSION: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "ledger_key"
    CHECKS: ClassVar[Mapping[str, Check]] = {
        "ledger_key": FixedBytes(32),
        "dispute_verifiers": Int(2, 64),
        "audit_rate": Float(),
        "max_audit_rate": Float(),
        "set_ms": Int(0, MAX_TIMESTAMP_MS),
    }

    ledger_key: bytes
    dispute_verifiers: int
    audit_rate: float
    max_audit_rate: float
    set_ms: int

    def check_consistency(self) -> None:
        if not 0.0 <= self.audit_rate <= self.max_audit_rate <= 1.0:
            raise WireFormatError("ConsensusPolicy: rates must satisfy 0 <= audit_rate <= max_audit_rate <= 1")
