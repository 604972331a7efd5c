"""The market's rules as pure folds: random sequences of operations keep every invariant (hypothesis), and
the flows do what DESIGN.md says: escrow, release with the treasury's fee, refund, slash and bounty."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from swarmtrust.ledger.market_rules import (
    DEFAULT_MARKET,
    ESCROW,
    PPM,
    TREASURY,
    MarketRuleError,
    bond_account,
    bond_terms,
    fold_record,
    hold_id,
)
from swarmtrust.ledger.models import AccountRow, EscrowHoldRow, PriceRow
from swarmtrust.ledger.reputation import DEFAULT_PARAMS
from swarmtrust.ledger.rowstore import MemoryRows, StagedRows
from swarmtrust.ledger.statements import Mint, Outcome, Settlement
from swarmtrust.protocol.bond_rule import DEFAULT_BOND_TERMS, MIN_BOND, SLASH_PPM, SPOT_CHECK_FLOOR, slash_amount
from swarmtrust.protocol.bond_rule import PPM as RULE_PPM
from swarmtrust.protocol.challenges import Challenge, Verdict
from swarmtrust.protocol.market_records import BondDeposit, BondWithdrawal, PriceQuote, SessionPayment, Transfer

KEYS = [bytes([i]) * 32 for i in range(1, 6)]  # clients, servers and verifiers alike
SESSIONS = [bytes([i]) * 16 for i in range(1, 4)]
T0 = 1_795_000_000_000


class Market:
    """Folds records in order, each atomically (as the write path's transaction is), counting what was minted."""

    def __init__(self) -> None:
        self.rows = MemoryRows()
        self.seq = 0
        self.minted = 0

    def apply(self, kind: str, record: Any) -> str | None:
        """The rule refused (its code), or None when taken."""
        self.seq += 1
        staged = StagedRows(self.rows)
        try:
            fold_record(staged, self.seq, record, at_ms=T0)
        except MarketRuleError as exc:
            return exc.code
        staged.commit()
        if kind == "mint":
            self.minted += record.amount
        return None

    def balance(self, account: str) -> int:
        return int(self.rows.tables.get(AccountRow, {}).get(account, {"balance": 0})["balance"])

    def holds(self) -> dict[str, dict[str, Any]]:
        return self.rows.tables.get(EscrowHoldRow, {})


def mint(account: bytes | str, amount: int) -> Mint:
    name = account if isinstance(account, str) else account.hex()
    return Mint(bytes(32), os.urandom(16), name, amount, "test", "admin", T0)


def payment(client: bytes, server: bytes, session: bytes, tokens: int, amount: int, at: int = T0) -> SessionPayment:
    return SessionPayment(os.urandom(16), client, server, session, tokens, amount, at)


def challenge(cid: bytes, client: bytes, server: bytes, session: bytes) -> Challenge:
    return Challenge(cid, client, server, "tiny", session, 0, 4, "float32", 0, 1, bytes(32), 1, T0)


def verdict(verifier: bytes, cid: bytes, server: bytes, outcome: str) -> Verdict:
    return Verdict(verifier, os.urandom(16), cid, bytes(32), server, outcome, 1, 0, 0.0, 0.0, 1e-4, 1e-5, T0)


def outcome(cid: bytes, server: bytes, decided: str) -> Outcome:
    return Outcome(bytes(32), cid, server, decided, 1.0, 0.0, (), T0)


def check_invariants(market: Market) -> None:
    accounts = market.rows.tables.get(AccountRow, {})
    assert all(row["balance"] >= 0 for row in accounts.values()), "no balance below zero"
    assert sum(row["balance"] for row in accounts.values()) == market.minted, "balances sum to what was minted"
    owed = sum(h["amount"] for h in market.holds().values() if h["state"] in ("held", "challenged"))
    assert market.balance(ESCROW) == owed, "escrow holds exactly the open holds"


key = st.sampled_from(KEYS[:3])  # few keys and sessions, so that operations meet each other's accounts
amount = st.integers(1, 2_000)
operation = st.one_of(
    st.tuples(st.just("mint"), st.one_of(key, st.just(TREASURY)), st.integers(1_000, 100_000)),
    st.tuples(st.just("transfer"), key, key, amount),
    st.tuples(st.just("bond"), key, amount),
    st.tuples(st.just("unbond"), key, amount),
    st.tuples(st.just("price"), key, st.sampled_from([0, 1, 5, 20]), st.integers(0, 100)),
    st.tuples(st.just("payment"), key, key, st.sampled_from(SESSIONS), st.integers(1, 50), st.booleans()),
    st.tuples(st.just("payment"), key, key, st.sampled_from(SESSIONS), st.integers(1, 50), st.just(True)),
    st.tuples(st.just("challenge"), st.integers(0, 3), key, key, st.sampled_from(SESSIONS)),
    st.tuples(st.just("verdict"), key, st.integers(0, 3), key, st.sampled_from(["pass", "fail"])),
    st.tuples(st.just("outcome"), st.integers(0, 3), key, st.sampled_from(["pass", "fail", "invalid_evidence"])),
    st.tuples(st.just("settle"), st.integers(0, 3), st.integers(0, 2_000)),
)


def build(market: Market, op: tuple[Any, ...]) -> tuple[str, Any] | None:
    """The record an operation stands for (None: an operation the wire format itself rules out)."""
    name, *args = op
    cids = [bytes([9, i]) * 8 for i in range(4)]
    if name == "mint":
        return "mint", mint(args[0], args[1])
    if name == "transfer":
        payer, payee, n = args
        return None if payer == payee else ("transfer", Transfer(os.urandom(16), payer, payee, n, None, T0))
    if name == "bond":
        return "bond", BondDeposit(os.urandom(16), args[0], args[1], T0)
    if name == "unbond":
        return "unbond", BondWithdrawal(os.urandom(16), args[0], args[1], T0)
    if name == "price":
        return "price", PriceQuote(args[0], "tiny", args[1], T0 + args[2])
    if name == "payment":
        client, server, session, tokens, right = args
        if client == server:
            return None
        quote = market.rows.tables.get(PriceRow, {}).get(server.hex())
        price = quote["price"] if quote else 1
        return "payment", payment(client, server, session, tokens, max(1, tokens * price + (0 if right else 1)))
    if name == "challenge":
        index, client, server, session = args
        return "challenge", challenge(cids[index], client, server, session)
    if name == "verdict":
        verifier, index, server, said = args
        return "verdict", verdict(verifier, cids[index], server, said)
    if name == "outcome":
        index, server, decided = args
        return "outcome", outcome(cids[index], server, decided)
    count, elapsed = args
    held = sorted(h for h, row in market.holds().items() if row["state"] == "held")[:count]
    holds = tuple(bytes.fromhex(h) for h in held)
    return "settlement", Settlement(bytes(32), os.urandom(16), 1_000, T0 + elapsed, holds)


@settings(max_examples=300, deadline=None)
@given(operations=st.lists(operation, min_size=20, max_size=80))
@pytest.mark.slow  # heavy: in the full tier only
def test_every_sequence_of_operations_keeps_the_books_balanced(operations: list[tuple[Any, ...]]) -> None:
    market = Market()
    for op in operations:
        built = build(market, op)
        if built is None:
            continue
        before = {table: dict(rows) for table, rows in market.rows.tables.items()}
        refused = market.apply(*built)
        event(f"{built[0]}: {refused or 'taken'}")  # shown by --hypothesis-show-statistics
        if refused is not None:
            assert market.rows.tables == before, f"a refused {built[0]} ({refused}) changed nothing"
        check_invariants(market)


def test_a_payment_is_held_then_released_less_the_treasury_fee() -> None:
    client, server = KEYS[0], KEYS[1]
    market = Market()
    assert market.apply("mint", mint(client, 10_000)) is None
    assert market.apply("payment", payment(client, server, SESSIONS[0], 10, 500)) == "no_price"
    assert market.apply("price", PriceQuote(server, "tiny", 50, T0)) is None
    assert market.apply("payment", payment(client, server, SESSIONS[0], 10, 499)) == "wrong_amount"
    assert market.apply("payment", payment(client, server, SESSIONS[0], 10, 500)) is None
    assert market.apply("payment", payment(client, server, SESSIONS[0], 10, 500)) == "already_paid"
    assert (market.balance(client.hex()), market.balance(ESCROW)) == (9_500, 500)
    hold = hold_id(server, SESSIONS[0])
    early = Settlement(bytes(32), os.urandom(16), 600_000, T0 + 1_000, (bytes.fromhex(hold),))
    assert market.apply("settlement", early) == "too_early"
    due = Settlement(bytes(32), os.urandom(16), 600_000, T0 + 600_000, (bytes.fromhex(hold),))
    assert market.apply("settlement", due) is None
    fee = 500 * DEFAULT_MARKET.treasury_fee_ppm // PPM
    assert (market.balance(server.hex()), market.balance(TREASURY), market.balance(ESCROW)) == (500 - fee, fee, 0)
    assert market.apply("settlement", due) == "duplicate"
    check_invariants(market)


def test_a_servers_earnings_pay_for_its_operators_own_sessions() -> None:
    """Contributing compute buys inference: credits released to a server's key pay, under the same key (or a
    key it transfers them to), for sessions on other servers; nothing else is needed."""
    client, operator, other = KEYS[0], KEYS[1], KEYS[2]
    market = Market()
    assert market.apply("mint", mint(client, 10_000)) is None
    for server in (operator, other):
        assert market.apply("price", PriceQuote(server, "tiny", 50, T0)) is None
    assert market.apply("payment", payment(client, operator, SESSIONS[0], 20, 1_000)) is None
    hold = bytes.fromhex(hold_id(operator, SESSIONS[0]))
    assert market.apply("settlement", Settlement(bytes(32), os.urandom(16), 1_000, T0 + 1_000, (hold,))) is None
    earned = market.balance(operator.hex())
    assert earned == 1_000 - 1_000 * DEFAULT_MARKET.treasury_fee_ppm // PPM
    assert market.apply("payment", payment(operator, other, SESSIONS[1], 10, 500)) is None, "earnings pay"
    assert market.balance(operator.hex()) == earned - 500
    linked = KEYS[3]  # the operator's client key
    assert market.apply("transfer", Transfer(os.urandom(16), operator, linked, 400, "to my client key", T0)) is None
    assert market.apply("payment", payment(linked, other, SESSIONS[2], 8, 400)) is None
    assert market.apply("payment", payment(linked, other, SESSIONS[0], 1, 50)) == "insufficient_funds"
    check_invariants(market)


def test_unbonding_returns_at_most_the_bond() -> None:
    server = KEYS[1]
    market = Market()
    assert market.apply("mint", mint(server, 1_000)) is None
    assert market.apply("bond", BondDeposit(os.urandom(16), server, 600, T0)) is None
    assert market.apply("unbond", BondWithdrawal(os.urandom(16), server, 601, T0)) == "insufficient_funds"
    taken = BondWithdrawal(os.urandom(16), server, 250, T0)
    assert market.apply("unbond", taken) is None
    assert (market.balance(server.hex()), market.balance(bond_account(server.hex()))) == (650, 350)
    assert market.apply("unbond", taken) == "duplicate", "a signed withdrawal is taken once"
    check_invariants(market)


def test_a_confirmed_cheat_refunds_slashes_and_pays_the_verifiers_who_caught_it() -> None:
    client, server, v1, v2, v3 = KEYS
    market = Market()
    for account, credits in ((client, 10_000), (server, 4_000), (TREASURY, 1_000_000)):
        market.apply("mint", mint(account, credits))
    market.apply("price", PriceQuote(server, "tiny", 10, T0))
    assert market.apply("bond", BondDeposit(os.urandom(16), server, 4_001, T0)) == "insufficient_funds"
    assert market.apply("bond", BondDeposit(os.urandom(16), server, 4_000, T0)) is None
    market.apply("payment", payment(client, server, SESSIONS[0], 30, 300))
    cid = os.urandom(16)
    market.apply("challenge", challenge(cid, client, server, SESSIONS[0]))
    assert market.holds()[hold_id(server, SESSIONS[0])]["state"] == "challenged"
    late = Settlement(bytes(32), os.urandom(16), 0, T0 + 10**9, (bytes.fromhex(hold_id(server, SESSIONS[0])),))
    assert market.apply("settlement", late) == "not_releasable", "a challenged hold waits for its outcome"
    for verifier, said in ((v1, "fail"), (v2, "fail"), (v3, "pass")):
        market.apply("verdict", verdict(verifier, cid, server, said))
    market.apply("outcome", outcome(cid, server, "fail"))

    fee = DEFAULT_MARKET.verifier_fee
    slashed = 4_000 * DEFAULT_MARKET.slash_ppm // PPM
    bounty_each = slashed * DEFAULT_MARKET.bounty_ppm // PPM // 2
    assert market.balance(client.hex()) == 10_000, "the client got its payment back"
    assert market.balance(bond_account(server.hex())) == 4_000 - slashed
    assert market.balance(v1.hex()) == market.balance(v2.hex()) == fee + bounty_each
    assert market.balance(v3.hex()) == fee, "the verifier in the minority earns its fee, no bounty"
    assert market.holds()[hold_id(server, SESSIONS[0])]["state"] == "refunded"
    check_invariants(market)


@pytest.mark.parametrize("decided", ["pass", "invalid_evidence"])
def test_a_challenge_that_does_not_convict_lets_the_server_be_paid(decided: str) -> None:
    client, server = KEYS[0], KEYS[1]
    market = Market()
    market.apply("mint", mint(client, 1_000))
    market.apply("price", PriceQuote(server, "tiny", 1, T0))
    market.apply("payment", payment(client, server, SESSIONS[1], 100, 100))
    cid = os.urandom(16)
    market.apply("challenge", challenge(cid, client, server, SESSIONS[1]))
    market.apply("outcome", outcome(cid, server, decided))
    state = market.holds()[hold_id(server, SESSIONS[1])]["state"]
    assert state == ("released" if decided == "pass" else "held")
    check_invariants(market)


@settings(max_examples=200, deadline=None)
@given(bond=st.integers(1, 10**12), convictions=st.integers(1, 4))
def test_a_conviction_slashes_exactly_what_the_bond_rule_counts_on(bond: int, convictions: int) -> None:
    """The bond rule (``protocol.bond_rule``) counts on ``slash_amount(B)`` from the first conviction: the market's
    own fold takes exactly that, and each later conviction takes its share of what is left, never more."""
    client, server, verifier = KEYS[0], KEYS[1], KEYS[2]
    market = Market()
    market.apply("mint", mint(server, bond))
    assert market.apply("bond", BondDeposit(os.urandom(16), server, bond, T0)) is None
    left = bond
    for _ in range(convictions):
        cid = os.urandom(16)
        market.apply("challenge", challenge(cid, client, server, os.urandom(16)))
        market.apply("verdict", verdict(verifier, cid, server, "fail"))
        market.apply("outcome", outcome(cid, server, "fail"))
        left -= slash_amount(left, DEFAULT_MARKET.slash_ppm)
        assert market.balance(bond_account(server.hex())) == left
    assert bond - left >= slash_amount(bond), "later convictions only add to the first slash"
    check_invariants(market)


def test_the_market_and_the_reputation_model_use_the_bond_rules_constants() -> None:
    """One source of truth: the shares and rates the bond rule assumes are the ones the ledger applies."""
    assert DEFAULT_MARKET.slash_ppm == SLASH_PPM == bond_terms().slash_ppm
    assert DEFAULT_MARKET.full_bond == MIN_BOND == bond_terms().min_bond
    assert DEFAULT_PARAMS.spot_check_floor == SPOT_CHECK_FLOOR == DEFAULT_BOND_TERMS.spot_check_rate
    assert PPM == RULE_PPM
