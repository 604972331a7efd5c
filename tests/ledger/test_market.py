"""The market's write path on SQLite and PostgreSQL: signed records taken once, refusals that change nothing,
parallel debits that never overdraw, a cheat's refund, slash and bounty, settlement, and the audit."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.market import mint, settle, take_node_record
from swarmtrust.ledger.market_rules import DEFAULT_MARKET, ESCROW, PPM, TREASURY, bond_account
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.market_records import BondDeposit, PriceQuote, SessionPayment, Transfer
from swarmtrust.protocol.signing import sign_record
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict
from tests.ledger.tampering import scalar

LEDGER_KEY = new_key()
DOC = Path(__file__).resolve().parents[2] / "docs" / "market.md"
T0 = 1_795_000_000_000


def hexkey(key: Any) -> str:
    return bytes(key.verify_key).hex()


def balance(ledger: Ledger, account: str) -> int:
    found = scalar(ledger, "SELECT balance FROM accounts WHERE account = :a", a=account)
    return int(found) if found is not None else 0  # type: ignore[call-overload]


def events(ledger: Ledger) -> int:
    return int(scalar(ledger, "SELECT seq FROM chain_head"))  # type: ignore[call-overload]


def transfer(payer: Any, payee: Any, amount: int) -> bytes:
    record = Transfer(os.urandom(16), bytes(payer.verify_key), bytes(payee.verify_key), amount, None, T0)
    return sign_record(record, payer).to_wire()


def test_a_signed_transfer_is_taken_once_and_refusals_change_nothing(ledger: Ledger) -> None:
    alice, bob = new_key(), new_key()
    mint(ledger.engine, LEDGER_KEY, account=hexkey(alice), amount=1_000, reason="faucet", admin="test")
    wire = transfer(alice, bob, 400)
    assert take_node_record(ledger.engine, "transfer", wire, bytes(alice.verify_key)).kind == "transfer"
    before = events(ledger)

    with pytest.raises(RequestRefusedError) as replayed:
        take_node_record(ledger.engine, "transfer", wire, bytes(alice.verify_key))
    assert replayed.value.code == "duplicate"
    forged = bytearray(wire)
    forged[-3] ^= 1
    with pytest.raises(RequestRefusedError) as bad:
        take_node_record(ledger.engine, "transfer", bytes(forged), bytes(alice.verify_key))
    assert bad.value.code == "bad_transfer"
    with pytest.raises(RequestRefusedError) as stolen:  # bob sends alice's signed transfer as his own request
        take_node_record(ledger.engine, "transfer", transfer(alice, bob, 1), bytes(bob.verify_key))
    assert stolen.value.code == "not_yours"
    with pytest.raises(RequestRefusedError) as broke:
        take_node_record(ledger.engine, "transfer", transfer(alice, bob, 601), bytes(alice.verify_key))
    assert broke.value.code == "insufficient_funds" and broke.value.status == 409

    assert events(ledger) == before, "nothing was written"
    assert (balance(ledger, hexkey(alice)), balance(ledger, hexkey(bob))) == (600, 400)
    assert ledger.audit().ok


def test_parallel_debits_of_one_account_never_overdraw_it(ledger: Ledger) -> None:
    payer, payees = new_key(), [new_key() for _ in range(8)]
    mint(ledger.engine, LEDGER_KEY, account=hexkey(payer), amount=500, reason="faucet", admin="test")
    wires = [transfer(payer, payee, 100) for payee in payees for _ in range(2)]  # 16 × 100 against 500
    outcomes: list[str] = []
    lock = threading.Lock()

    def send(wire: bytes) -> None:
        try:
            take_node_record(ledger.engine, "transfer", wire, bytes(payer.verify_key))
            result = "taken"
        except RequestRefusedError as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=send, args=(wire,)) for wire in wires]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(set(outcomes)) == ["insufficient_funds", "taken"] and outcomes.count("taken") == 5
    assert balance(ledger, hexkey(payer)) == 0
    assert sum(balance(ledger, hexkey(p)) for p in payees) == 500
    assert ledger.audit().ok


def test_a_cheat_confirmed_by_consensus_is_refunded_slashed_and_its_catchers_paid(ledger: Ledger) -> None:
    client, server = new_key(), new_key()
    verifiers = [new_key() for _ in range(3)]
    engine = ledger.engine
    clock = [T0]
    for account, credits in ((hexkey(client), 10_000), (hexkey(server), 5_000), (TREASURY, 1_000_000)):
        mint(engine, LEDGER_KEY, account=account, amount=credits, reason="setup", admin="test", clock=lambda: clock[0])
    server_key = bytes(server.verify_key)
    for kind, record, signer in (
        ("bond", BondDeposit(os.urandom(16), server_key, 4_000, T0), server),
        ("price", PriceQuote(server_key, "tiny", 25, T0), server),
    ):
        take_node_record(engine, kind, sign_record(record, signer).to_wire(), bytes(signer.verify_key))

    receipts, evidence = evidence_session(server, 4)
    session = receipts[0].record.session_id
    paid = SessionPayment(os.urandom(16), bytes(client.verify_key), server_key, session, 16, 400, T0)
    take_node_record(engine, "payment", sign_record(paid, client).to_wire(), bytes(client.verify_key))
    assert (balance(ledger, hexkey(client)), balance(ledger, ESCROW)) == (9_600, 400)

    policy = SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0, assignment_ttl_ms=10**9)
    desk = SpotChecks(engine, LEDGER_KEY, policy, clock=lambda: clock[0])
    for verifier in verifiers[1:]:
        desk.claim(bytes(verifier.verify_key))
    encoded = evidence.encode()
    desk.submit_challenge(challenge_for(client, receipts, encoded).to_wire(), encoded)
    assert settle(engine, LEDGER_KEY, window_ms=0, clock=lambda: T0 + 10**9) == (None, 0), "frozen while challenged"
    for _ in verifiers:  # the first verdict (whoever is drawn) opens a dispute; the other two join it
        verifier, claimed = next((v, c) for v in verifiers if (c := desk.claim(bytes(v.verify_key))) is not None)
        desk.submit_verdict(signed_verdict(verifier, claimed, "fail", clock[0]))

    slashed = 4_000 * DEFAULT_MARKET.slash_ppm // PPM
    each = slashed * DEFAULT_MARKET.bounty_ppm // PPM // 3
    assert balance(ledger, hexkey(client)) == 10_000, "refunded"
    assert balance(ledger, bond_account(hexkey(server))) == 4_000 - slashed
    assert all(balance(ledger, hexkey(v)) == DEFAULT_MARKET.verifier_fee + each for v in verifiers)
    assert scalar(ledger, "SELECT state FROM escrow_holds") == "refunded"
    assert ledger.audit().ok


def test_escrow_is_released_once_the_window_has_passed(ledger: Ledger) -> None:
    client, server = new_key(), new_key()
    engine = ledger.engine
    mint(engine, LEDGER_KEY, account=hexkey(client), amount=1_000, reason="faucet", admin="test")
    take_node_record(
        engine, "price", sign_record(PriceQuote(bytes(server.verify_key), "tiny", 2, T0), server).to_wire(),
        bytes(server.verify_key),
    )  # fmt: skip
    for session in (os.urandom(16), os.urandom(16)):
        paid = SessionPayment(os.urandom(16), bytes(client.verify_key), bytes(server.verify_key), session, 50, 100, T0)
        take_node_record(engine, "payment", sign_record(paid, client).to_wire(), bytes(client.verify_key))
    assert settle(engine, LEDGER_KEY, window_ms=60_000, clock=lambda: T0 + 59_999) == (None, 0)
    taken, released = settle(engine, LEDGER_KEY, window_ms=60_000, clock=lambda: T0 + 60_000)
    assert taken is not None and released == 2
    fee = 100 * DEFAULT_MARKET.treasury_fee_ppm // PPM
    assert balance(ledger, hexkey(server)) == 2 * (100 - fee) and balance(ledger, TREASURY) == 2 * fee
    assert balance(ledger, ESCROW) == 0 and ledger.audit().ok

    (query,) = re.findall(r"```sql\n-- query: market-books\n(.*?)```", DOC.read_text(), flags=re.S)
    with ledger.engine.connect() as connection:
        books = connection.execute(text(query)).one()
    assert (books.held, books.minted, books.negative) == (1_000, 1_000, 0), "docs/market.md's query"


def test_the_audit_catches_an_altered_balance(ledger: Ledger) -> None:
    alice = new_key()
    mint(ledger.engine, LEDGER_KEY, account=hexkey(alice), amount=1_000, reason="faucet", admin="test")
    with ledger.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE accounts SET balance = 1000000 WHERE account = '{hexkey(alice)}'")
    report = ledger.audit()
    assert not report.ok
    assert any(p.where == f"accounts[{hexkey(alice)}]" for p in report.problems)


def test_a_mint_needs_a_reason_and_a_real_account(ledger: Ledger) -> None:
    with pytest.raises(RequestRefusedError, match="reason"):
        mint(ledger.engine, LEDGER_KEY, account=TREASURY, amount=5, reason=" ", admin="test")
    with pytest.raises(RequestRefusedError) as bad:
        mint(ledger.engine, LEDGER_KEY, account="nobody", amount=5, reason="x", admin="test")
    assert bad.value.code == "bad_account"
    assert events(ledger) == 0


def test_the_dht_snapshot_says_which_servers_are_bonded(ledger: Ledger) -> None:
    from swarmtrust.api.snapshots import build_snapshot
    from swarmtrust.ledger.market_rules import DEFAULT_MARKET

    bonded, bare = new_key(), new_key()
    verifier = new_key()  # the only verifier present, so the draw gives it each challenge
    for server in (bonded, bare):  # both checked once, so both are in the model's snapshot
        mint(ledger.engine, LEDGER_KEY, account=hexkey(server), amount=DEFAULT_MARKET.full_bond, reason="x", admin="t")
        receipts, evidence = evidence_session(server, 2)
        encoded = evidence.encode()
        desk = SpotChecks(ledger.engine, LEDGER_KEY, SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0))
        desk.submit_challenge(challenge_for(new_key(), receipts, encoded).to_wire(), encoded)
        desk.submit_verdict(signed_verdict(verifier, desk.claim(bytes(verifier.verify_key)), "pass", T0))
    deposit = BondDeposit(os.urandom(16), bytes(bonded.verify_key), DEFAULT_MARKET.full_bond, T0)
    take_node_record(ledger.engine, "bond", sign_record(deposit, bonded).to_wire(), bytes(bonded.verify_key))
    snapshot = build_snapshot(ledger.engine, LEDGER_KEY, "tiny", T0, 60_000).record
    entries = snapshot.servers()
    assert (entries[hexkey(bonded)].bonded, entries[hexkey(bare)].bonded) == (True, False)
    assert not snapshot.newcomer_entry().bonded
