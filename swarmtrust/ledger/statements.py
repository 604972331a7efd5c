"""The ledger's own signed statements: assignments of challenges to verifiers, rounds, outcomes, rejections.

The ledger signs them with its key, so that an auditor can tell which decisions the ledger took (and
hold it to them), just as receipts, challenges and verdicts carry their submitters' signatures.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from swarmtrust.ledger.epochs import EPOCH_MS
from swarmtrust.protocol.challenges import ID_SIZE, VerdictOutcome
from swarmtrust.protocol.digests import DIGEST_SIZE
from swarmtrust.protocol.errors import WireFormatError
from swarmtrust.protocol.market_records import MAX_AMOUNT
from swarmtrust.protocol.receipts import MAX_MODEL_ID, MAX_TIMESTAMP_MS, SESSION_ID_SIZE
from swarmtrust.protocol.records import FINITE, WireRecord, at_most, size, text, within

Round = Literal["initial", "audit", "dispute"]
ROUNDS = frozenset(get_args(Round))
RecheckRound = Literal["audit", "dispute"]  # the rounds that re-check a first verdict
MAX_SETTLED_HOLDS = 1000  # holds one settlement releases; more wait for the next


class Assignment(WireRecord, tag=1, frozen=True):
    """A challenge given to one verifier, to answer before ``deadline_ms``."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/assignment/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    assignment_id: Annotated[bytes, size(ID_SIZE)]
    challenge_id: Annotated[bytes, size(ID_SIZE)]
    server_key: Annotated[bytes, size(32)]
    verifier_key: Annotated[bytes, size(32)]
    round: Round  # initial, audit (a pass re-checked) or dispute (a failure re-checked)
    replaces: Annotated[bytes, size(ID_SIZE)] | None  # an assignment whose verifier missed its deadline
    assigned_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    deadline_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class RoundOpened(WireRecord, tag=1, frozen=True):
    """More verifiers wanted on a challenge: an audit of a pass, or a dispute of a failure."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/round/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    challenge_id: Annotated[bytes, size(ID_SIZE)]
    server_key: Annotated[bytes, size(32)]
    round: RecheckRound
    verifiers_wanted: Annotated[int, within(1, 64)]
    opened_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class Outcome(WireRecord, tag=1, frozen=True):
    """The decision on a challenge: the reliability-weighted majority of its verdicts."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/outcome/v1"
    MAX_BYTES: ClassVar[int] = 2048
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    challenge_id: Annotated[bytes, size(ID_SIZE)]
    server_key: Annotated[bytes, size(32)]
    outcome: VerdictOutcome
    pass_weight: Annotated[float, FINITE]  # total reliability of the verifiers that said pass
    fail_weight: Annotated[float, FINITE]  # ... and of those that said fail (invalid_evidence counts with neither)
    # the assignment ids whose verdicts were counted
    verdicts: Annotated[tuple[Annotated[bytes, size(ID_SIZE)], ...], at_most(64)]
    decided_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class EvidenceRejection(WireRecord, tag=1, frozen=True):
    """A challenge refused because its evidence does not match what the server signed: the submitter's fault."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/evidence-rejection/v1"
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    challenge_id: Annotated[bytes, size(ID_SIZE)]
    submitter_key: Annotated[bytes, size(32)]
    server_key: Annotated[bytes, size(32)]
    evidence_digest: Annotated[bytes, size(DIGEST_SIZE)]
    reason: Annotated[str, text(64)]
    detail: Annotated[str, text(400)]
    rejected_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


AdminActionKind = Literal["quarantine", "release"]
ADMIN_ACTIONS = frozenset(get_args(AdminActionKind))


class AdminAction(WireRecord, tag=1, frozen=True):
    """An administrator's decision about a server, taken through the ledger service and signed by the
    ledger: ``quarantine`` makes it unroutable at once; ``release`` lifts a quarantine and starts its
    checks over (every session checked again until it has passed enough in a row)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/admin-action/v1"
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    action: AdminActionKind
    server_key: Annotated[bytes, size(32)]
    # the model the server serves (its reputation row's model when it has none yet)
    model_id: Annotated[str, text(MAX_MODEL_ID)]
    reason: Annotated[str, text(400)]  # why, in the administrator's words (never empty)
    admin: Annotated[str, text(64)]  # who: the administrator's name as configured on the ledger service
    acted_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if not self.reason.strip():
            raise WireFormatError("AdminAction: a reason is required")


class Mint(WireRecord, tag=1, frozen=True):
    """New credits, created by an administrator through the ledger service and signed by the ledger: the
    only way credits come to exist, so the sum of all balances always equals the sum of all mints."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/mint/v1"
    MAX_BYTES: ClassVar[int] = 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    mint_id: Annotated[bytes, size(ID_SIZE)]
    account: Annotated[str, text(80)]  # a key's account (its hex key) or "treasury"
    amount: Annotated[int, within(1, MAX_AMOUNT)]
    reason: Annotated[str, text(400)]
    admin: Annotated[str, text(64)]
    minted_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class Settlement(WireRecord, tag=1, frozen=True):
    """The ledger releases escrow whose challenge window has passed: each hold named was opened at least
    ``window_ms`` before ``settled_ms`` and is under no undecided challenge (the audit checks both)."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/settlement/v1"
    MAX_BYTES: ClassVar[int] = 64 * 1024
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    settlement_id: Annotated[bytes, size(ID_SIZE)]
    window_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    settled_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]
    # server key + session id of each hold released
    holds: Annotated[tuple[Annotated[bytes, size(32 + SESSION_ID_SIZE)], ...], at_most(MAX_SETTLED_HOLDS)]


AuditFollow = Literal["audit", "decide"]
AUDIT_FOLLOWS = frozenset(get_args(AuditFollow))
MAX_EPOCH = MAX_TIMESTAMP_MS // EPOCH_MS + 2  # epochs are hours of the ledger's clock (``ledger.epochs``)


class SeedCommitment(WireRecord, tag=1, frozen=True):
    """The ledger binds itself to the secret seed of an epoch's audit coins before any coin it decides is
    drawn (see ``ledger.beacon``): ``commitment`` is the BLAKE2b-256 digest of the seed."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/seed-commitment/v1"
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    epoch: Annotated[int, within(0, MAX_EPOCH)]
    commitment: Annotated[bytes, size(DIGEST_SIZE)]
    committed_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class SeedReveal(WireRecord, tag=1, frozen=True):
    """The seed of an epoch's audit coins, published once no verdict it decides can still come in; anyone
    then recomputes those coins and checks the seed against its commitment."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/seed-reveal/v1"
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    epoch: Annotated[int, within(0, MAX_EPOCH)]
    seed: Annotated[bytes, size(32)]
    revealed_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]


class AuditDraw(WireRecord, tag=1, frozen=True):
    """Whether a first-round pass is audited: ``coin`` (drawn after the verdict was recorded, from the
    committed seed of ``epoch`` and the verdict's digest) against ``chance``; ``follow`` is audit exactly when
    coin < chance. Logged in the transaction of the verdict, before the round or outcome it leads to."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/audit-draw/v1"
    MAX_BYTES: ClassVar[int] = 512
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    challenge_id: Annotated[bytes, size(ID_SIZE)]
    server_key: Annotated[bytes, size(32)]
    assignment_id: Annotated[bytes, size(ID_SIZE)]  # the assignment the pass answered
    verifier_key: Annotated[bytes, size(32)]
    verdict_digest: Annotated[bytes, size(DIGEST_SIZE)]
    epoch: Annotated[int, within(0, MAX_EPOCH)]
    coin: Annotated[float, FINITE]  # in [0, 1)
    chance: Annotated[float, FINITE]  # in [0, 1]
    follow: AuditFollow  # audit or decide
    drawn_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if not 0.0 <= self.coin < 1.0 or not 0.0 <= self.chance <= 1.0:
            raise WireFormatError("AuditDraw: coin must lie in [0, 1) and chance in [0, 1]")
        if (self.follow == "audit") != (self.coin < self.chance):
            raise WireFormatError("AuditDraw: follow must be audit exactly when coin < chance")


class ConsensusPolicy(WireRecord, tag=1, frozen=True):
    """The rules of consensus in force from this event on (``ledger.consensus.ConsensusRules``): logged when an
    API process starts with rules other than the last logged, so every process and the audit use the same."""

    DOMAIN: ClassVar[bytes] = b"swarmtrust/consensus-policy/v1"
    MAX_BYTES: ClassVar[int] = 256
    SIGNER_FIELD: ClassVar[str] = "ledger_key"

    ledger_key: Annotated[bytes, size(32)]
    dispute_verifiers: Annotated[int, within(2, 64)]
    audit_rate: Annotated[float, FINITE]
    max_audit_rate: Annotated[float, FINITE]
    set_ms: Annotated[int, within(0, MAX_TIMESTAMP_MS)]

    def check_consistency(self) -> None:
        if not 0.0 <= self.audit_rate <= self.max_audit_rate <= 1.0:
            raise WireFormatError("ConsensusPolicy: rates must satisfy 0 <= audit_rate <= max_audit_rate <= 1")
