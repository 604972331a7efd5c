"""The credit market as a fold of events over double-entry accounts (pure logic over a ``RowStore``).

Every movement takes credits from one account and gives them to another, so the sum over all accounts only
changes by minting; an account never goes below zero. A market record (mint, transfer, bond, price, payment,
settlement) that would break a rule raises ``MarketRuleError``: on the write path that rolls the whole
transaction back, so nothing changes; in the audit it names the event. The spot-check events (challenge,
verdict, outcome) never raise: the market follows them as far as the money allows.

Flows, in micro-credits:
- payment: a client pays ``block_tokens × price`` for a session on a server into ``escrow`` (a hold);
- a challenge of that session freezes its hold until the outcome;
- release (the challenge window passed in a settlement, or the check passed): the server gets the hold less
  the treasury's fee share;
- each verdict earns its verifier a fee from the treasury (as far as the treasury holds it);
- a confirmed FAIL refunds the client's hold, slashes a share of the server's bond, pays a bounty from the
  slash to the verifiers who voted fail, and gives the rest of the slash to the treasury;
- signed misbehaviour (``protocol.misbehaviour``) does the same for its session, the bounty going to its reporter.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import assert_never

from swarmtrust.ledger.bulk_rows import Row
from swarmtrust.ledger.events import EventRecord, LoggedEvent
from swarmtrust.ledger.models import (
    AccountRow,
    EscrowHoldRow,
    MarketChallengeRow,
    MarketRecordRow,
    MovementRow,
    PriceRow,
)
from swarmtrust.ledger.rowstore import RowStore
from swarmtrust.ledger.statements import Mint, Outcome, Settlement
from swarmtrust.protocol.bond_rule import MIN_BOND, PPM, SLASH_PPM, BondTerms, slash_amount
from swarmtrust.protocol.challenges import Challenge, Verdict
from swarmtrust.protocol.market_records import MICRO, BondDeposit, BondWithdrawal, PriceQuote, SessionPayment, Transfer
from swarmtrust.protocol.misbehaviour import MisbehaviourProof, NotAProofError, check_proof

ESCROW = "escrow"
TREASURY = "treasury"
LEGS_PER_EVENT = 4096  # more movements than one event ever makes (a settlement of 1,000 holds makes 2,000)


@dataclass(frozen=True)
class MarketParams:
    treasury_fee_ppm: int = 20_000  # 2% of every released payment goes to the treasury ...
    verifier_fee: int = MICRO // 100  # ... which pays each verdict 0.01 credits
    slash_ppm: int = SLASH_PPM  # a confirmed cheat loses half of its bond ...
    bounty_ppm: int = 500_000  # ... half of which goes to the verifiers who caught it
    full_bond: int = MIN_BOND  # the least bond for full routing weight; ``protocol.bond_rule`` asks more at a price


DEFAULT_MARKET = MarketParams()


def bond_terms(params: MarketParams = DEFAULT_MARKET) -> BondTerms:
    """The bond rule's terms under these market shares (the slash, the least full bond)."""
    return BondTerms(slash_ppm=params.slash_ppm, min_bond=params.full_bond)


class MarketRuleError(Exception):
    """A market record that the rules refuse; ``code`` names the rule, the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def bond_account(server_key: str) -> str:
    return f"bond:{server_key}"


def hold_id(server_key: bytes, session_id: bytes) -> str:
    return (server_key + session_id).hex()


class Book:
    """Movements of one event: each one debits an account and credits another, numbered within the event."""

    def __init__(self, rows: RowStore, seq: int, at_ms: int) -> None:
        self.rows, self.seq, self.at_ms = rows, seq, at_ms
        self._legs = 0

    def balance(self, account: str) -> int:
        row = self.rows.get(AccountRow, account)
        return int(row["balance"]) if row is not None else 0

    def move(self, source: str | None, target: str, amount: int, purpose: str) -> None:
        """``amount`` from ``source`` (None: newly minted) to ``target``; refused if ``source`` lacks it."""
        if amount <= 0:
            return
        if source is not None:
            have = self.balance(source)
            if have < amount:
                raise MarketRuleError(
                    "insufficient_funds", f"account {source} holds {have} micro-credits, {amount} are needed"
                )
            self._add(source, -amount)
        self._add(target, amount)
        self.rows.put(
            MovementRow,
            {
                "position": self.seq * LEGS_PER_EVENT + self._legs,
                "event_seq": self.seq,
                "from_account": source,
                "to_account": target,
                "amount": amount,
                "purpose": purpose,
                "at_ms": self.at_ms,
            },
        )
        self._legs += 1

    def _add(self, account: str, delta: int) -> None:
        row = self.rows.get(AccountRow, account) or _new_account(account, self.seq)
        row["balance"] += delta
        row["last_seq"] = self.seq
        self.rows.put(AccountRow, row)


def account_kind(account: str) -> tuple[str, str | None]:
    """An account's kind (key, bond, escrow or treasury) and the key that owns it, from its name."""
    if account in (ESCROW, TREASURY):
        return account, None
    if account.startswith("bond:"):
        return "bond", account.removeprefix("bond:")
    return "key", account


def _new_account(account: str, seq: int) -> Row:
    kind, owner = account_kind(account)
    return {"account": account, "kind": kind, "owner_key": owner, "balance": 0, "first_seq": seq, "last_seq": seq}


def claim_record(rows: RowStore, seq: int, kind: str, record_id: bytes) -> None:
    """Take a market record once: the same signed record sent again is refused and moves nothing."""
    key = f"{kind}:{record_id.hex()}"
    if rows.get(MarketRecordRow, key) is not None:
        raise MarketRuleError("duplicate", f"this {kind} was already taken; sign a new one with a new id")
    rows.put(MarketRecordRow, {"record_id": key, "event_seq": seq})


# --- records nodes and administrators sign ---------------------------------------------------------------


def fold_mint(rows: RowStore, seq: int, mint: Mint) -> None:
    claim_record(rows, seq, "mint", mint.mint_id)
    if mint.account != TREASURY and not _is_hex_key(mint.account):
        raise MarketRuleError("bad_account", "credits are minted to a key's account (64 hex digits) or the treasury")
    Book(rows, seq, mint.minted_ms).move(None, mint.account, mint.amount, "mint")


def fold_transfer(rows: RowStore, seq: int, transfer: Transfer) -> None:
    claim_record(rows, seq, "transfer", transfer.transfer_id)
    book = Book(rows, seq, transfer.signed_ms)
    book.move(transfer.payer_key.hex(), transfer.payee_key.hex(), transfer.amount, "transfer")


def fold_bond(rows: RowStore, seq: int, deposit: BondDeposit) -> None:
    claim_record(rows, seq, "bond", deposit.deposit_id)
    key = deposit.server_key.hex()
    Book(rows, seq, deposit.signed_ms).move(key, bond_account(key), deposit.amount, "bond")


def fold_unbond(rows: RowStore, seq: int, withdrawal: BondWithdrawal) -> None:
    """Credits back from the bond to the server's account (when the write path found nothing left to challenge:
    ``ledger.market.take_unbond``); refused beyond what the bond holds."""
    claim_record(rows, seq, "unbond", withdrawal.withdrawal_id)
    key = withdrawal.server_key.hex()
    Book(rows, seq, withdrawal.signed_ms).move(bond_account(key), key, withdrawal.amount, "unbond")


def fold_price(rows: RowStore, seq: int, quote: PriceQuote) -> None:
    key = quote.server_key.hex()
    held = rows.get(PriceRow, key)
    if held is not None and quote.quoted_ms <= held["quoted_ms"]:
        return  # an older quote than the one held: out of order, changes nothing
    row = {"server_key": key, "model_id": quote.model_id, "price": quote.price, "quoted_ms": quote.quoted_ms}
    rows.put(PriceRow, row | {"last_seq": seq})


def fold_payment(rows: RowStore, seq: int, payment: SessionPayment) -> None:
    claim_record(rows, seq, "payment", payment.payment_id)
    server = payment.server_key.hex()
    quote = rows.get(PriceRow, server)
    if quote is None or quote["price"] == 0:
        raise MarketRuleError("no_price", f"server {server} charges nothing (it quoted no price); nothing to pay")
    due = payment.block_tokens * quote["price"]
    if payment.amount != due:
        raise MarketRuleError(
            "wrong_amount",
            f"{payment.block_tokens} block-tokens at {quote['price']} micro-credits are {due}, not {payment.amount}",
        )
    hold = hold_id(payment.server_key, payment.session_id)
    if rows.get(EscrowHoldRow, hold) is not None:
        raise MarketRuleError("already_paid", "this session on this server is paid for already")
    Book(rows, seq, payment.paid_ms).move(payment.client_key.hex(), ESCROW, payment.amount, "payment")
    rows.put(
        EscrowHoldRow,
        {
            "hold": hold,
            "client_key": payment.client_key.hex(),
            "server_key": server,
            "session_id": payment.session_id.hex(),
            "amount": payment.amount,
            "block_tokens": payment.block_tokens,
            "opened_ms": payment.paid_ms,
            "state": "held",
            "opened_seq": seq,
            "closed_seq": None,
        },
    )


def fold_settlement(rows: RowStore, seq: int, settlement: Settlement, params: MarketParams = DEFAULT_MARKET) -> None:
    claim_record(rows, seq, "settlement", settlement.settlement_id)
    book = Book(rows, seq, settlement.settled_ms)
    for raw in settlement.holds:
        hold = rows.get(EscrowHoldRow, raw.hex())
        if hold is None or hold["state"] != "held":
            raise MarketRuleError("not_releasable", f"hold {raw.hex()} is not held in escrow")
        if hold["opened_ms"] + settlement.window_ms > settlement.settled_ms:
            raise MarketRuleError("too_early", f"hold {raw.hex()} is still inside its challenge window")
        _release(rows, book, hold, params)


# --- following the spot checks ----------------------------------------------------------------------------


def fold_challenge(rows: RowStore, seq: int, challenge: Challenge) -> None:
    """A challenged session's hold is frozen until the outcome."""
    hold = rows.get(EscrowHoldRow, hold_id(challenge.server_key, challenge.session_id))
    if hold is not None and hold["state"] == "held":
        rows.put(EscrowHoldRow, hold | {"state": "challenged"})
    else:
        hold = None  # unpaid, or already released or frozen: this challenge moves no escrow
    rows.put(
        MarketChallengeRow,
        {
            "challenge_id": challenge.challenge_id.hex(),
            "hold": hold["hold"] if hold is not None else None,
            "client_key": challenge.submitter_key.hex(),
            "fail_voters": "",
            "state": "open",
            "opened_seq": seq,
        },
    )


def fold_verdict(rows: RowStore, seq: int, verdict: Verdict, params: MarketParams = DEFAULT_MARKET) -> None:
    """The verifier's fee, as far as the treasury holds it; fail votes are remembered for the bounty."""
    book = Book(rows, seq, verdict.decided_ms)
    book.move(TREASURY, verdict.verifier_key.hex(), min(params.verifier_fee, book.balance(TREASURY)), "fee")
    challenge = rows.get(MarketChallengeRow, verdict.challenge_id.hex())
    if challenge is not None and verdict.outcome == "fail":
        voters = [v for v in challenge["fail_voters"].split(",") if v]
        if verdict.verifier_key.hex() not in voters:
            challenge["fail_voters"] = ",".join([*voters, verdict.verifier_key.hex()])
            rows.put(MarketChallengeRow, challenge)


def fold_outcome(rows: RowStore, seq: int, outcome: Outcome, params: MarketParams = DEFAULT_MARKET) -> None:
    challenge = rows.get(MarketChallengeRow, outcome.challenge_id.hex())
    if challenge is None or challenge["state"] != "open":
        return
    rows.put(MarketChallengeRow, challenge | {"state": "decided"})
    book = Book(rows, seq, outcome.decided_ms)
    hold = rows.get(EscrowHoldRow, challenge["hold"]) if challenge["hold"] else None
    if outcome.outcome == "fail":
        if hold is not None and hold["state"] == "challenged":
            _refund(rows, book, hold)
        _slash(book, outcome.server_key.hex(), [v for v in challenge["fail_voters"].split(",") if v], params)
    elif hold is not None and hold["state"] == "challenged":
        if outcome.outcome == "pass":
            _release(rows, book, hold, params)
        else:  # the evidence was bad: the session stands, and its hold waits for the window again
            rows.put(EscrowHoldRow, hold | {"state": "held"})


def fold_misbehaviour(
    rows: RowStore, seq: int, proof: MisbehaviourProof, params: MarketParams = DEFAULT_MARKET, *, at_ms: int
) -> None:
    """Signed misbehaviour convicts as a decided FAIL does: the session's hold goes back to its client (unless
    already released), the bond is slashed, and the reporter takes the bounty (no one, when the server reported
    itself). The movements are dated ``at_ms``: the ledger's time of the event, not the reporter's own
    ``reported_ms``. A record that proves nothing moves nothing (the audit names it)."""
    try:
        check_proof(proof)
    except NotAProofError:
        return
    book = Book(rows, seq, at_ms)
    hold = rows.get(EscrowHoldRow, hold_id(proof.server_key, proof.session_id))
    if hold is not None and hold["state"] in ("held", "challenged"):
        _refund(rows, book, hold)
    hunters = [] if proof.reporter_key == proof.server_key else [proof.reporter_key.hex()]
    _slash(book, proof.server_key.hex(), hunters, params)


def _refund(rows: RowStore, book: Book, hold: Row) -> None:
    book.move(ESCROW, hold["client_key"], hold["amount"], "refund")
    rows.put(EscrowHoldRow, hold | {"state": "refunded", "closed_seq": book.seq})


def _release(rows: RowStore, book: Book, hold: Row, params: MarketParams) -> None:
    fee = hold["amount"] * params.treasury_fee_ppm // PPM
    book.move(ESCROW, TREASURY, fee, "treasury_fee")
    book.move(ESCROW, hold["server_key"], hold["amount"] - fee, "release")
    rows.put(EscrowHoldRow, hold | {"state": "released", "closed_seq": book.seq})


def _slash(book: Book, server_key: str, fail_voters: list[str], params: MarketParams) -> None:
    bond = bond_account(server_key)
    slashed = slash_amount(book.balance(bond), params.slash_ppm)
    bounty = slashed * params.bounty_ppm // PPM if fail_voters else 0
    share = bounty // len(fail_voters) if fail_voters else 0
    for voter in sorted(fail_voters):
        book.move(bond, voter, share, "bounty")
    book.move(bond, TREASURY, slashed - share * len(fail_voters), "slash")


def _is_hex_key(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


# The record types the market folds, one fold each (``fold_event``'s match: mypy refuses one left out).
FOLDED = (
    Mint,
    Transfer,
    BondDeposit,
    BondWithdrawal,
    PriceQuote,
    SessionPayment,
    Settlement,
    Challenge,
    Verdict,
    Outcome,
    MisbehaviourProof,
)


def fold_event(rows: RowStore, event: LoggedEvent) -> None:
    """Fold one logged event into the market: its record, and for misbehaviour the ledger's time of it."""
    fold_record(rows, event.seq, event.record, at_ms=event.recorded_ms)


def fold_record(rows: RowStore, seq: int, record: EventRecord, *, at_ms: int) -> None:
    """Fold the record of event ``seq``, logged at ``at_ms``; MarketRuleError when a rule refuses it, TypeError
    for a record the market does not fold."""
    if not isinstance(record, FOLDED):
        raise TypeError(f"the market does not fold a {type(record).__name__}")
    match record:
        case Mint():
            fold_mint(rows, seq, record)
        case Transfer():
            fold_transfer(rows, seq, record)
        case BondDeposit():
            fold_bond(rows, seq, record)
        case BondWithdrawal():
            fold_unbond(rows, seq, record)
        case PriceQuote():
            fold_price(rows, seq, record)
        case SessionPayment():
            fold_payment(rows, seq, record)
        case Settlement():
            fold_settlement(rows, seq, record)
        case Challenge():
            fold_challenge(rows, seq, record)
        case Verdict():
            fold_verdict(rows, seq, record)
        case Outcome():
            fold_outcome(rows, seq, record)
        case MisbehaviourProof():
            fold_misbehaviour(rows, seq, record, at_ms=at_ms)
        case _:
            assert_never(record)


MARKET_RECORD_KINDS = frozenset({"mint", "transfer", "bond", "price", "payment", "settlement"})
