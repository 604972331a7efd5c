"""Tables of the ledger. ``events`` is the source of truth; every other table is derived from it.

Keys and digests are stored as lowercase hex text (as they appear in URLs and in auditors' queries);
record bodies and signatures as bytes. Times are integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

HEX_KEY = String(64)  # a 32-byte key or digest in hex
HEX_ID = String(32)  # a 16-byte id in hex


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One entry of the append-only, hash-chained event log."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # canonical body of the signed record
    signer: Mapped[str] = mapped_column(HEX_KEY)  # who submitted (and signed) the record
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str | None] = mapped_column(HEX_KEY, index=True)  # the server the event is about
    recorded_ms: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(HEX_KEY)
    hash: Mapped[str] = mapped_column(HEX_KEY, unique=True)


class ChainHead(Base):
    """The single row naming the last event; it serialises writers (row lock / SQLite write lock)."""

    __tablename__ = "chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(HEX_KEY)


class Server(Base):
    """Derived: every server key that has appeared in the ledger, with its receipt tally."""

    __tablename__ = "servers"

    public_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    receipt_count: Mapped[int] = mapped_column(BigInteger)
    last_receipt_ms: Mapped[int] = mapped_column(BigInteger)


class ReceiptRow(Base):
    """Derived: one row per accepted receipt, the columns of its signed body."""

    __tablename__ = "receipts"
    __table_args__ = (Index("ix_receipts_server_day", "server_key", "day"),)

    receipt_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"), unique=True)
    digest: Mapped[str] = mapped_column(HEX_KEY)
    session_id: Mapped[str] = mapped_column(HEX_ID, index=True)
    step: Mapped[int] = mapped_column(BigInteger)
    server_key: Mapped[str] = mapped_column(HEX_KEY)
    model_id: Mapped[str] = mapped_column(String(200))
    weights_digest: Mapped[str] = mapped_column(HEX_KEY)
    block_start: Mapped[int] = mapped_column(Integer)
    block_end: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    input_digest: Mapped[str] = mapped_column(HEX_KEY)
    input_shape: Mapped[str] = mapped_column(String(120))  # comma-separated dimensions
    output_digest: Mapped[str] = mapped_column(HEX_KEY)
    output_shape: Mapped[str] = mapped_column(String(120))
    prev_receipt: Mapped[str | None] = mapped_column(HEX_KEY)
    client_nonce: Mapped[str] = mapped_column(HEX_ID)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[dt.date] = mapped_column(Date)  # UTC day of timestamp_ms, for per-day reports


# --- spot checks: challenges, assignments, verdicts, outcomes (derived from events) -------------------


class ChallengeRow(Base):
    """Derived: one row per accepted challenge, with where its verification stands."""

    __tablename__ = "challenges"

    challenge_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))
    submitter_key: Mapped[str] = mapped_column(HEX_KEY)
    server_key: Mapped[str] = mapped_column(HEX_KEY, index=True)
    model_id: Mapped[str] = mapped_column(String(200))
    session_id: Mapped[str] = mapped_column(HEX_ID)
    block_start: Mapped[int] = mapped_column(Integer)
    block_end: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    first_step: Mapped[int] = mapped_column(BigInteger)
    steps: Mapped[int] = mapped_column(BigInteger)
    evidence_digest: Mapped[str] = mapped_column(HEX_KEY)
    submitted_ms: Mapped[int] = mapped_column(BigInteger)
    phase: Mapped[str] = mapped_column(String(16))  # initial, audit, dispute, decided
    verifiers_wanted: Mapped[int] = mapped_column(Integer)  # in the current round
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_seq: Mapped[int | None] = mapped_column(BigInteger)


class AssignmentRow(Base):
    """Derived: one row per assignment; ``state`` is open, answered, or replaced (its deadline passed)."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_challenge", "challenge_id"),
        Index("ix_assignments_verifier", "verifier_key"),
    )

    assignment_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))
    challenge_id: Mapped[str] = mapped_column(HEX_ID)
    server_key: Mapped[str] = mapped_column(HEX_KEY)
    verifier_key: Mapped[str] = mapped_column(HEX_KEY)
    round: Mapped[str] = mapped_column(String(16))
    replaces: Mapped[str | None] = mapped_column(HEX_ID)
    assigned_ms: Mapped[int] = mapped_column(BigInteger)
    deadline_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))


class VerdictRow(Base):
    """Derived: one row per verdict (one per answered assignment)."""

    __tablename__ = "verdicts"
    __table_args__ = (Index("ix_verdicts_server", "server_key"), Index("ix_verdicts_challenge", "challenge_id"))

    assignment_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))
    challenge_id: Mapped[str] = mapped_column(HEX_ID)
    verifier_key: Mapped[str] = mapped_column(HEX_KEY)
    server_key: Mapped[str] = mapped_column(HEX_KEY)
    round: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    steps_checked: Mapped[int] = mapped_column(BigInteger)
    worst_step: Mapped[int] = mapped_column(BigInteger)
    max_rel_error: Mapped[float] = mapped_column(Float)
    mean_rel_error: Mapped[float] = mapped_column(Float)
    decided_ms: Mapped[int] = mapped_column(BigInteger)


class DisputeRow(Base):
    """Derived: a challenge whose first verdict was not a pass, re-checked by more verifiers."""

    __tablename__ = "disputes"

    challenge_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)
    server_key: Mapped[str] = mapped_column(HEX_KEY, index=True)
    opened_seq: Mapped[int] = mapped_column(BigInteger)
    verifiers_wanted: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # open or closed
    outcome: Mapped[str | None] = mapped_column(String(32))
    closed_seq: Mapped[int | None] = mapped_column(BigInteger)


class VerifierRow(Base):
    """Derived: each verifier's record: verdicts given and agreement with decided outcomes."""

    __tablename__ = "verifiers"

    public_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    assignments: Mapped[int] = mapped_column(BigInteger)
    verdicts: Mapped[int] = mapped_column(BigInteger)
    agreements: Mapped[int] = mapped_column(BigInteger)
    disagreements: Mapped[int] = mapped_column(BigInteger)


class SubmitterRow(Base):
    """Derived: each challenge submitter (client or probing verifier), and the evidence it got wrong."""

    __tablename__ = "submitters"

    public_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    challenges: Mapped[int] = mapped_column(BigInteger)
    rejected_evidence: Mapped[int] = mapped_column(BigInteger)  # refused at submission: tensors not as signed
    invalid_evidence: Mapped[int] = mapped_column(BigInteger)  # challenges decided invalid_evidence


# --- not derived: content-addressed blobs and operational state ---------------------------------------


class EvidenceBlob(Base):
    """Evidence bundles by digest; the challenge events commit to the digests (checked by the audit)."""

    __tablename__ = "evidence"

    digest: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    stored_ms: Mapped[int] = mapped_column(BigInteger)


class VerifierPresence(Base):
    """When each verifier last asked for work: who can be picked for a dispute now."""

    __tablename__ = "verifier_presence"

    public_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    last_poll_ms: Mapped[int] = mapped_column(BigInteger)
    # The models it last asked for, as a JSON list; None: it asked for any model (it serves all).
    models: Mapped[str | None] = mapped_column(Text, nullable=True)


class SeenRequest(Base):
    """Signatures of signed API requests within the replay window: a replayed request is refused."""

    __tablename__ = "seen_requests"

    signature_digest: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


# --- reputation (derived from outcome events) ----------------------------------------------------------


class ReputationRow(Base):
    """Derived: each checked server's two-horizon posterior (see ``ledger.reputation``)."""

    __tablename__ = "reputations"
    __table_args__ = (Index("ix_reputations_model_last_seq", "model_id", "last_seq"),)

    server_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200))
    prior_alpha: Mapped[float] = mapped_column(Float)
    prior_beta: Mapped[float] = mapped_column(Float)
    long_honest: Mapped[float] = mapped_column(Float)
    long_dishonest: Mapped[float] = mapped_column(Float)
    short_honest: Mapped[float] = mapped_column(Float)
    short_dishonest: Mapped[float] = mapped_column(Float)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    checks: Mapped[int] = mapped_column(BigInteger)
    passes: Mapped[int] = mapped_column(BigInteger)
    fails: Mapped[int] = mapped_column(BigInteger)
    consecutive_passes: Mapped[int] = mapped_column(BigInteger)
    quarantined: Mapped[bool] = mapped_column(Boolean)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class CohortRow(Base):
    """Derived, one row: the newcomer cohort's recent pass rate, the empirical-Bayes prior of newcomers."""

    __tablename__ = "reputation_cohort"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    prior_alpha: Mapped[float] = mapped_column(Float)
    prior_beta: Mapped[float] = mapped_column(Float)
    honest: Mapped[float] = mapped_column(Float)
    dishonest: Mapped[float] = mapped_column(Float)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


# --- the server directory and administration ---------------------------------------------------------


class ServerDirectoryRow(Base):
    """Derived: each server's latest signed announcement to the ledger (name, model, span, online state)."""

    __tablename__ = "server_directory"
    __table_args__ = (Index("ix_server_directory_model_span", "model_id", "block_start", "block_end"),)

    server_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # chosen by the operator: untrusted text
    peer_id: Mapped[str] = mapped_column(String(128))
    model_id: Mapped[str] = mapped_column(String(200))
    block_start: Mapped[int] = mapped_column(Integer)
    block_end: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    throughput: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))  # online or offline, as the server last said
    announced_ms: Mapped[int] = mapped_column(BigInteger)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class ServerPresence(Base):
    """When each server last announced itself to the ledger, and until when that announcement holds.
    Liveness, not history: refreshed on every heartbeat without an event (see ``ledger.directory``)."""

    __tablename__ = "server_presence"

    server_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class AdminActionRow(Base):
    """Derived: every administrator's action, one row per event."""

    __tablename__ = "admin_actions"

    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"), primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(16))
    server_key: Mapped[str] = mapped_column(HEX_KEY, index=True)
    model_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(400))
    admin: Mapped[str] = mapped_column(String(64))
    acted_ms: Mapped[int] = mapped_column(BigInteger)


class AuditRun(Base):
    """Results of audits run through the ledger service (what the dashboard shows as the last audit).
    A record of a check, not of the swarm: not derived from events, and not audited itself."""

    __tablename__ = "audit_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ran_ms: Mapped[int] = mapped_column(BigInteger)
    head_seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(HEX_KEY)
    events_checked: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    problems: Mapped[int] = mapped_column(Integer)
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


# --- the credit market ---------------------------------------------------------------------------------


class AccountRow(Base):
    """Derived: every account's balance in micro-credits. A key's own account is its hex key; the market's
    are ``escrow``, ``treasury`` and ``bond:KEY`` (a server's bond, which only the market moves)."""

    __tablename__ = "accounts"

    account: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # key, bond, escrow or treasury
    owner_key: Mapped[str | None] = mapped_column(HEX_KEY, nullable=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class MovementRow(Base):
    """Derived: every movement of credits, one leg pair per row (from one account to another), in order."""

    __tablename__ = "movements"
    __table_args__ = (Index("ix_movements_from", "from_account"), Index("ix_movements_to", "to_account"))

    # Ordered and unique: the event's seq × LEGS_PER_EVENT + the movement's index within the event.
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))
    from_account: Mapped[str | None] = mapped_column(String(80), nullable=True)  # None: minted
    to_account: Mapped[str] = mapped_column(String(80))
    amount: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(16))  # mint, transfer, bond, payment, fee, release, refund, ...
    at_ms: Mapped[int] = mapped_column(BigInteger)


class EscrowHoldRow(Base):
    """Derived: a client's payment for a session on one server, held until released, refunded or slashed."""

    __tablename__ = "escrow_holds"
    __table_args__ = (Index("ix_escrow_holds_state_opened", "state", "opened_ms"),)

    hold: Mapped[str] = mapped_column(String(96), primary_key=True)  # server key + session id, hex
    client_key: Mapped[str] = mapped_column(HEX_KEY, index=True)
    server_key: Mapped[str] = mapped_column(HEX_KEY, index=True)
    session_id: Mapped[str] = mapped_column(HEX_ID)
    amount: Mapped[int] = mapped_column(BigInteger)
    block_tokens: Mapped[int] = mapped_column(BigInteger)
    opened_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))  # held, challenged, released or refunded
    opened_seq: Mapped[int] = mapped_column(BigInteger)
    closed_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class MarketChallengeRow(Base):
    """Derived: what the market needs of a challenge until its outcome: the hold it freezes and who voted fail."""

    __tablename__ = "market_challenges"

    challenge_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)
    hold: Mapped[str | None] = mapped_column(String(96), nullable=True)
    client_key: Mapped[str] = mapped_column(HEX_KEY)
    fail_voters: Mapped[str] = mapped_column(String(4200))  # comma-separated hex keys
    state: Mapped[str] = mapped_column(String(16))  # open or decided
    opened_seq: Mapped[int] = mapped_column(BigInteger)


class PriceRow(Base):
    """Derived: each server's latest quoted price, micro-credits per block-token."""

    __tablename__ = "prices"

    server_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(BigInteger)
    quoted_ms: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class MarketRecordRow(Base):
    """Derived: the id of every market record taken, so that none is taken twice."""

    __tablename__ = "market_records"

    record_id: Mapped[str] = mapped_column(String(48), primary_key=True)  # kind:hex id
    event_seq: Mapped[int] = mapped_column(BigInteger)


class ConvictionRow(Base):
    """Derived: a server convicted by its own signatures (two contradictory receipts) in one session; at most
    one per server and session, whoever reports it and however often."""

    __tablename__ = "convictions"

    conviction: Mapped[str] = mapped_column(String(96), primary_key=True)  # server key + session id, hex
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))
    server_key: Mapped[str] = mapped_column(HEX_KEY, index=True)
    session_id: Mapped[str] = mapped_column(HEX_ID)
    kind: Mapped[str] = mapped_column(String(16))  # equivocation or broken_chain
    step: Mapped[int] = mapped_column(BigInteger)  # the step signed twice, or whose link is broken
    first_digest: Mapped[str] = mapped_column(HEX_KEY)  # the two receipts, as record digests
    second_digest: Mapped[str] = mapped_column(HEX_KEY)
    reporter_key: Mapped[str] = mapped_column(HEX_KEY)  # earns the bounty (unless it is the server itself)
    reported_ms: Mapped[int] = mapped_column(BigInteger)


# --- audit coins: the ledger's committed, later revealed seeds and the coins drawn from them ----------


class AuditSeedRow(Base):
    """Derived: one row per epoch whose audit seed the ledger committed to (and, an epoch later, revealed).
    ``state`` is committed, revealed, or conflict (a second, different commitment, or a reveal that does not
    open the commitment: the audit reports it). See ``ledger.beacon``."""

    __tablename__ = "audit_seeds"

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    commitment: Mapped[str | None] = mapped_column(HEX_KEY)  # BLAKE2b-256 of the seed, logged before its use
    committed_seq: Mapped[int | None] = mapped_column(BigInteger)
    seed: Mapped[str | None] = mapped_column(HEX_KEY)  # null until revealed
    revealed_seq: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))


class AuditDrawRow(Base):
    """Derived: the coin that decided whether a first-round pass was audited, one row per such verdict."""

    __tablename__ = "audit_draws"
    __table_args__ = (Index("ix_audit_draws_epoch", "epoch"), Index("ix_audit_draws_verifier", "verifier_key"))

    assignment_id: Mapped[str] = mapped_column(HEX_ID, primary_key=True)  # of the pass the coin is about
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))
    challenge_id: Mapped[str] = mapped_column(HEX_ID)
    verifier_key: Mapped[str] = mapped_column(HEX_KEY)
    server_key: Mapped[str] = mapped_column(HEX_KEY)
    verdict_digest: Mapped[str] = mapped_column(HEX_KEY)  # the coin binds the verdict
    epoch: Mapped[int] = mapped_column(BigInteger)  # whose seed: the epoch after the assignment's
    coin: Mapped[float] = mapped_column(Float)  # in [0, 1)
    chance: Mapped[float] = mapped_column(Float)  # audit probability of the verifier then
    follow: Mapped[str] = mapped_column(String(16))  # audit (coin < chance) or decide


class ConsensusPolicyRow(Base):
    """Derived: the rules of consensus in force (the last ``consensus_policy`` event); one row, id 1."""

    __tablename__ = "consensus_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))
    dispute_verifiers: Mapped[int] = mapped_column(Integer)
    audit_rate: Mapped[float] = mapped_column(Float)
    max_audit_rate: Mapped[float] = mapped_column(Float)


# --- models: the dtypes each may be served in, and calibrated tolerances ------------------------------


class ModelRow(Base):
    """Derived: each registered model's latest registration (``model_registration`` events; the latest by
    ``registered_ms``, then by sequence). Earlier ones stay in ``model_registrations``."""

    __tablename__ = "models"

    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    dtypes: Mapped[str] = mapped_column(String(80))  # comma-separated, the default first
    registered_ms: Mapped[int] = mapped_column(BigInteger)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))  # the latest registration
    first_seq: Mapped[int] = mapped_column(BigInteger)  # the model's first registration


class ModelRegistrationRow(Base):
    """Derived: every registration of every model, one row per ``model_registration`` event (the history a
    verifier judges old sessions by)."""

    __tablename__ = "model_registrations"

    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"), primary_key=True, autoincrement=False)
    model_id: Mapped[str] = mapped_column(String(200), index=True)
    dtypes: Mapped[str] = mapped_column(String(80))
    registered_ms: Mapped[int] = mapped_column(BigInteger)


class ToleranceRow(Base):
    """Derived: the latest calibrated tolerance record per (model, dtype, device kind of its replays)
    (``tolerance`` events; the latest by ``created_ms``, then by sequence). ``slot`` is ``dtype:device:model_id``."""

    __tablename__ = "tolerances"

    slot: Mapped[str] = mapped_column(String(220), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200), index=True)
    dtype: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(16))
    hardware: Mapped[str] = mapped_column(String(120))
    calibrator_key: Mapped[str] = mapped_column(HEX_KEY)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    event_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.seq"))


class CheckpointRow(Base):
    """Not derived: each checkpoint the ledger proposed (``ledger.checkpoints``), outside the chain it attests."""

    __tablename__ = "checkpoints"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(HEX_KEY, unique=True)
    wire: Mapped[bytes] = mapped_column(LargeBinary)  # the ledger-signed envelope
    created_ms: Mapped[int] = mapped_column(BigInteger)
    final: Mapped[bool] = mapped_column(Boolean, default=False)  # co-signed past the quorum (a cache: audits recount)


class CheckpointSignatureRow(Base):
    """Not derived: each verifier's co-signature of a checkpoint, as it sent it."""

    __tablename__ = "checkpoint_signatures"

    number: Mapped[int] = mapped_column(BigInteger, ForeignKey("checkpoints.number"), primary_key=True)
    verifier_key: Mapped[str] = mapped_column(HEX_KEY, primary_key=True)
    wire: Mapped[bytes] = mapped_column(LargeBinary)
