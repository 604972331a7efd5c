"""The shapes of the REST API's answers: what the OpenAPI document promises, with examples.

The answers clients parse themselves (reputations) and the ``Schema`` base are in ``protocol.rest``, which
both sides import. Keys and digests are lowercase hex (64 characters for a 32-byte key, 32 for a 16-byte id); times are
integer milliseconds since the Unix epoch; binary bodies inside JSON are base64.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, Field

from swarmtrust.protocol.rest import HASH_EXAMPLE, ID_EXAMPLE, KEY_EXAMPLE, ReputationView, Schema

T = TypeVar("T")


class ErrorDetail(Schema):
    code: str = Field(description="A stable name for the error, e.g. not_found, unauthorized, invalid_request")
    message: str = Field(description="What went wrong and what to do about it")


class ErrorBody(Schema):
    """Every error the API answers with has this one shape."""

    error: ErrorDetail

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": {"code": "not_found", "message": "no server " + KEY_EXAMPLE}}]}
    )


# What any operation of the API may answer besides its own outcomes, documented on every router.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed request: an unreadable body, or a cursor not given out here"},
    413: {"model": ErrorBody, "description": "The body is over the service's size limit"},
    422: {"model": ErrorBody, "description": "A parameter or field out of range or of the wrong type"},
}


class Page(Schema, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next page (null: the last page)."""

    items: list[T]
    next_cursor: str | None = Field(description="Opaque; absent on the last page")


# --- servers --------------------------------------------------------------------------------------------


class ServerOut(Schema):
    public_key: str = Field(examples=[KEY_EXAMPLE])
    name: str | None = Field(description="Chosen by the operator: untrusted text")
    model_id: str | None
    block_start: int | None
    block_end: int | None = Field(description="Exclusive")
    dtype: str | None
    throughput: float | None = Field(description="Tokens per second the server announced (self-reported)")
    announced_state: str | None = Field(description="online or offline, as the server last announced")
    online: bool = Field(description="Announced online, and the announcement has not expired")
    last_seen_ms: int | None
    receipts: int = Field(description="Receipts of this server in the ledger")
    last_receipt_ms: int | None
    checked: bool
    reputation: ReputationView


class AnnouncementResult(Schema):
    status: str = Field(description="recorded (an event), refreshed (liveness only) or stale (older than ours)")
    seq: int | None


# --- receipts and events --------------------------------------------------------------------------------


class ReceiptOut(Schema):
    receipt_id: str = Field(examples=[ID_EXAMPLE])
    seq: int = Field(description="The ledger event holding it")
    digest: str
    session_id: str
    step: int
    server_key: str
    model_id: str
    weights_digest: str
    block_start: int
    block_end: int
    dtype: str
    input_digest: str
    input_shape: list[int]
    output_digest: str
    output_shape: list[int]
    prev_receipt: str | None
    client_nonce: str
    timestamp_ms: int


class ReceiptResult(Schema):
    index: int = Field(description="Position in the submitted batch")
    status: str = Field(description="accepted, duplicate or rejected")
    receipt_id: str | None
    seq: int | None
    reason: str | None = Field(description="For rejections: malformed, too_large, bad_signature, conflict, ...")
    message: str | None
    signed_ms: int | None = Field(description="The receipt's own timestamp, for accepted receipts")


class ReceiptBatchResult(Schema):
    accepted: int
    duplicate: int
    rejected: int
    results: list[ReceiptResult]


class EventOut(Schema):
    seq: int
    kind: str = Field(examples=["receipt"])
    signer: str = Field(description="Hex key that signed the record")
    subject: str | None = Field(description="The server the event is about, if any")
    recorded_ms: int
    prev_hash: str
    hash: str
    payload: str = Field(description="Base64 of the record's canonical body, as signed")
    signature: str = Field(description="Base64 Ed25519 signature over the record's domain prefix and body")


# --- spot checks ----------------------------------------------------------------------------------------


class ChallengeOut(Schema):
    challenge_id: str = Field(examples=[ID_EXAMPLE])
    seq: int | None
    submitter_key: str
    server_key: str
    model_id: str
    session_id: str
    block_start: int
    block_end: int
    dtype: str
    first_step: int
    steps: int
    evidence_digest: str
    submitted_ms: int
    phase: str = Field(description="initial, audit, dispute or decided")
    verifiers_wanted: int
    outcome: str | None = Field(description="pass, fail or invalid_evidence once decided")
    outcome_seq: int | None


class AssignmentOut(Schema):
    assignment_id: str
    event_seq: int
    challenge_id: str
    server_key: str
    verifier_key: str
    round: str
    replaces: str | None
    assigned_ms: int
    deadline_ms: int
    state: str = Field(description="open, answered or replaced")


class VerdictOut(Schema):
    assignment_id: str
    event_seq: int
    challenge_id: str
    verifier_key: str
    server_key: str
    round: str
    outcome: str
    steps_checked: int
    worst_step: int
    max_rel_error: float
    mean_rel_error: float
    decided_ms: int


class ChallengeDetail(ChallengeOut):
    assignments: list[AssignmentOut]
    verdicts: list[VerdictOut]


class Vote(Schema):
    verifier_key: str
    outcome: str
    round: str
    max_rel_error: float


class DisputeOut(Schema):
    challenge_id: str
    server_key: str
    opened_seq: int
    verifiers_wanted: int
    state: str = Field(description="open or closed")
    outcome: str | None
    closed_seq: int | None
    evidence_digest: str | None
    votes: list[Vote]
    verdicts: int = Field(description="verdicts on the challenge so far")
    verdicts_needed: int = Field(description="verdicts a FAIL needs before it may stand (1 + dispute verifiers)")


class VerifierOut(Schema):
    public_key: str
    first_seq: int
    assignments: int
    verdicts: int
    agreements: int
    disagreements: int
    reliability: float = Field(description="Posterior mean of agreeing with decided outcomes, Beta(2, 1) prior")


class ClaimedAssignment(Schema):
    assignment_id: str
    challenge_id: str
    server_key: str
    round: str
    deadline_ms: int
    signed_assignment: str = Field(description="Base64 of the ledger-signed assignment")
    challenge: ChallengeOut


class ChallengeAccepted(Schema):
    challenge_id: str
    status: str = Field(description="accepted, or duplicate for the same challenge again")
    seq: int | None


class VerdictAccepted(Schema):
    status: str
    phase: str
    outcome: str | None


# --- service and administration -------------------------------------------------------------------------


class Health(Schema):
    status: str = Field(examples=["ok"])
    ledger_key: str = Field(description="Hex key that signs the ledger's own records; pin it in clients")
    head_seq: int
    head_hash: str


# Administrators' writes: strict types (an amount is a JSON integer: never "100", true, 1e3 or 1.0), plain text.
PLAIN_TEXT = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no control characters (the wire records' text fields refuse them too)


class AdminActionIn(Schema):
    reason: str = Field(
        min_length=1, max_length=400, pattern=PLAIN_TEXT, description="Why; recorded in the signed event"
    )

    model_config = ConfigDict(
        strict=True, json_schema_extra={"examples": [{"reason": "operator reported a faulty GPU"}]}
    )


class AdminActionOut(Schema):
    seq: int
    action: str
    server_key: str


class AuditProblemOut(Schema):
    seq: int | None
    where: str
    message: str


class AuditOut(Schema):
    ok: bool
    events_checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problems: list[AuditProblemOut]


class AuditRunOut(Schema):
    id: int
    ran_ms: int
    head_seq: int
    head_hash: str
    events_checked: int
    ok: bool
    problems: int
    first_bad_seq: int | None


# --- the market -----------------------------------------------------------------------------------------


class AccountOut(Schema):
    account: str = Field(description="A hex key, or escrow, treasury or bond:KEY", examples=[KEY_EXAMPLE])
    kind: str = Field(description="key, bond, escrow or treasury", examples=["key"])
    balance: int = Field(description="Micro-credits (1 credit = 1,000,000)", examples=[12_500_000])
    bond: int | None = Field(description="For a key: its bond, which a confirmed cheat is slashed from")
    fully_bonded: bool | None = Field(description="For a key: its bond meets the bond rule at its price")
    price: int | None = Field(description="For a server: micro-credits per block-token it quoted")
    paying_in_escrow: int | None = Field(description="For a client: its payments held in escrow")
    earning_in_escrow: int | None = Field(description="For a server: payments to it held in escrow")


class MovementOut(Schema):
    position: int = Field(description="Order of the movement: event seq × 4096 + its index", examples=[172_032])
    event_seq: int
    from_account: str | None = Field(description="None: newly minted", examples=[KEY_EXAMPLE])
    to_account: str = Field(examples=["escrow"])
    amount: int = Field(examples=[400])
    purpose: str = Field(
        description="mint, transfer, bond, unbond, payment, release, treasury_fee, refund, slash, bounty or fee",
        examples=["payment"],
    )
    at_ms: int


class EscrowHoldOut(Schema):
    hold: str = Field(description="Server key and session id, hex", examples=[KEY_EXAMPLE + ID_EXAMPLE])
    client_key: str
    server_key: str
    session_id: str
    amount: int = Field(examples=[400])
    block_tokens: int = Field(examples=[16])
    opened_ms: int
    state: str = Field(description="held, challenged, released or refunded", examples=["held"])
    opened_seq: int
    closed_seq: int | None


class MarketSummary(Schema):
    minted: int = Field(description="All credits ever minted: what every account holds together", examples=[10**9])
    in_accounts: int = Field(examples=[9 * 10**8])
    in_escrow: int = Field(examples=[10**7])
    in_bonds: int = Field(examples=[8 * 10**7])
    treasury: int = Field(examples=[10**7])
    open_holds: int = Field(examples=[12])
    paid: int = Field(description="Paid by clients into escrow, ever", examples=[6 * 10**7])
    released: int = Field(examples=[5 * 10**7])
    refunded: int = Field(examples=[4_000])
    slashed: int = Field(description="Taken from bonds (bounties included)", examples=[2 * 10**6])
    bounties: int = Field(examples=[10**6])
    verifier_fees: int = Field(examples=[30_000])


class MarketTaken(Schema):
    seq: int = Field(description="The ledger event holding the record")
    kind: str = Field(examples=["transfer"])


class MintIn(Schema):
    account: str = Field(
        pattern=r"^([0-9a-f]{64}|treasury)$",
        description="A key's account (64 hex digits) or treasury",
        examples=[KEY_EXAMPLE],
    )
    amount: int = Field(ge=1, le=10**15, description="Micro-credits (a JSON integer)", examples=[100_000_000])
    reason: str = Field(min_length=1, max_length=400, pattern=PLAIN_TEXT, examples=["faucet for the demo"])

    model_config = ConfigDict(strict=True)


class SettlementOut(Schema):
    seq: int | None = Field(description="The settlement event, or None when nothing was due")
    released: int = Field(description="Holds released", examples=[3])


class EpochOut(Schema):
    server_key: str = Field(examples=[KEY_EXAMPLE])
    epoch: int = Field(description="Hours since the Unix epoch, by the ledger's clock", examples=[498_611])
    start_ms: int = Field(examples=[1_794_999_600_000])
    end_ms: int = Field(description="Exclusive", examples=[1_795_003_200_000])
    receipts: int = Field(examples=[1_200])
    sessions: int = Field(examples=[60])
    block_tokens: int = Field(description="Tokens × blocks over every receipt: the work billed", examples=[9_600])
    merkle_root: str = Field(
        description="Merkle root (RFC 9162 shape) over the receipt digests in ledger order", examples=[HASH_EXAMPLE]
    )
    closed: bool = Field(description="True once the ledger's clock has passed the epoch's end: it never changes again")


class EpochList(Schema):
    server_key: str = Field(examples=[KEY_EXAMPLE])
    epochs: list[int] = Field(description="Epochs with receipts of this server, newest first", examples=[[498_611]])


class ReceiptProofOut(Schema):
    receipt_id: str = Field(examples=[ID_EXAMPLE])
    digest: str = Field(description="The receipt's digest: the leaf", examples=[HASH_EXAMPLE])
    index: int = Field(description="The leaf's position in the epoch's tree", examples=[17])
    tree_size: int = Field(examples=[1_200])
    path: list[str] = Field(description="Sibling hashes from the leaf up (hex)", examples=[[HASH_EXAMPLE]])
    epoch: EpochOut
