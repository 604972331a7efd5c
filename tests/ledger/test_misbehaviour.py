"""Signed misbehaviour on SQLite and PostgreSQL: a proof convicts at once with a FAIL's consequences, once per
server and session; anything that is not a proof is refused and changes nothing; conflicts met at ingest and
at challenge admission convict too; the audit re-derives all of it and names a misbehaviour event that proves
nothing. And, as properties: no pair of receipts an honest server signs, whoever assembles and submits it,
is ever a proof."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmtrust.ledger.eventlog import open_writer
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.market import mint, take_node_record
from swarmtrust.ledger.market_rules import DEFAULT_MARKET, ESCROW, PPM, bond_account
from swarmtrust.ledger.misbehaviour import Convictions, MisbehaviourError
from swarmtrust.ledger.misbehaviour_projection import MAX_REPORT_SKEW_MS
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.market_records import BondDeposit, PriceQuote, SessionPayment
from swarmtrust.protocol.misbehaviour import (
    DAY_MS,
    PROOF_HORIZON_MS,
    Contradiction,
    MisbehaviourProof,
    NotAProofError,
    build_proof,
    check_proof,
    contradiction,
)
from swarmtrust.protocol.receipts import Receipt, receipt_id_for
from swarmtrust.protocol.signing import Signed, sign_record
from tests.builders import challenge_for, evidence_session, new_key, resign, session_receipts, signed_receipt
from tests.ledger.tampering import scalar

LEDGER_KEY = new_key()
T0 = 1_795_000_000_000


def hexkey(key: Any) -> str:
    return bytes(key.verify_key).hex()


def balance(ledger: Ledger, account: str) -> int:
    found = scalar(ledger, "SELECT balance FROM accounts WHERE account = :a", a=account)
    return int(found) if found is not None else 0  # type: ignore[call-overload]


def head(ledger: Ledger) -> int:
    return int(scalar(ledger, "SELECT seq FROM chain_head"))  # type: ignore[call-overload]


def proof_wire(reporter: Any, a: Signed[Receipt], b: Signed[Receipt], at_ms: int = T0, **changes: Any) -> bytes:
    """A proof of ``a`` and ``b`` signed by ``reporter``, built by hand (so it may prove nothing)."""
    fields: dict[str, Any] = {
        "reporter_key": bytes(reporter.verify_key),
        "server_key": a.record.server_key,
        "session_id": a.record.session_id,
        "first": a.to_wire(),
        "second": b.to_wire(),
        "reported_ms": at_ms,
    }
    return sign_record(MisbehaviourProof(**(fields | changes)), reporter).to_wire()


def chain_at(key: Any, steps: int, start_ms: int = T0) -> list[Signed[Receipt]]:
    return session_receipts(key, steps, timestamp_ms=start_ms)


def bonded_and_paid(ledger: Ledger, server: Any, client: Any, session: bytes) -> None:
    engine = ledger.engine
    for account, credits in ((hexkey(client), 10_000), (hexkey(server), 5_000)):
        mint(engine, LEDGER_KEY, account=account, amount=credits, reason="setup", admin="test", clock=lambda: T0)
    key = bytes(server.verify_key)
    for kind, record, signer in (
        ("bond", BondDeposit(os.urandom(16), key, 4_000, T0), server),
        ("price", PriceQuote(key, "tiny", 25, T0), server),
        ("payment", SessionPayment(os.urandom(16), bytes(client.verify_key), key, session, 16, 400, T0), client),
    ):
        take_node_record(engine, kind, sign_record(record, signer).to_wire(), bytes(signer.verify_key))


# --- the rule, pure ------------------------------------------------------------------------------------------


def test_two_receipts_for_one_step_are_an_equivocation_whichever_order_they_come_in() -> None:
    server = new_key()
    honest = chain_at(server, 3)
    other = resign(honest[1].record, server, output_digest=os.urandom(32))
    one, two = contradiction(honest[1], other), contradiction(other, honest[1])
    assert one.kind == two.kind == "equivocation" and one.step == 1
    assert (one.first.digest, one.second.digest) == (two.first.digest, two.second.digest)


def test_a_link_to_anything_but_the_step_before_is_a_broken_chain() -> None:
    server = new_key()
    honest = chain_at(server, 3)
    relinked = resign(honest[2].record, server, prev_receipt=os.urandom(32))
    found = contradiction(relinked, honest[1])
    assert found.kind == "broken_chain" and found.step == 2 and found.first.digest == honest[1].digest


@pytest.mark.parametrize(
    ("pick", "reason"),
    [
        (lambda s, m: (s[0], s[0]), "same_receipt"),
        (lambda s, m: (s[1], s[2]), "consistent"),
        (lambda s, m: (s[0], s[2]), "not_adjacent"),
        (lambda s, m: (s[1], relabel(s[1], m, server_key=bytes(m.verify_key))), "different_servers"),
        (lambda s, m: (s[1], relabel(s[1], s[3], session_id=os.urandom(16))), "different_sessions"),
        (
            lambda s, m: (s[1], resign(s[1].record, s[3], timestamp_ms=T0 + PROOF_HORIZON_MS + 1)),
            "outside_horizon",
        ),
    ],
)
def test_pairs_that_prove_nothing_say_why(pick: Any, reason: str) -> None:
    server, mallory = new_key(), new_key()
    honest = chain_at(server, 3)
    a, b = pick([*honest, server], mallory)
    with pytest.raises(NotAProofError) as refused:
        contradiction(a, b)
    assert refused.value.reason == reason


def relabel(like: Signed[Receipt], key: Any, **changes: Any) -> Signed[Receipt]:
    """``like`` with ``changes``, its receipt id following them, signed by ``key``."""
    r = like.record
    server, session = changes.get("server_key", r.server_key), changes.get("session_id", r.session_id)
    return resign(r, key, **changes, receipt_id=receipt_id_for(server, session, r.step))


def in_the_name_of(victim: Signed[Receipt], key: Any, **changes: Any) -> Signed[Receipt]:
    """A receipt naming ``victim``'s server but signed by ``key``: what anyone can make, and nobody may use."""
    record = victim.record.replace(**changes)
    body = record.encode()
    return Signed(record, body, key.sign(Receipt.DOMAIN + body).signature)


HONEST = new_key()
MALLORY = new_key()


@st.composite
def honest_history(draw: st.DrawFn) -> list[Signed[Receipt]]:
    """Everything an honest server signed: one chained receipt per step of each session, sessions of any length
    at any times (a session id reused only after the server's memory of it lapsed), and nothing else."""
    receipts: list[Signed[Receipt]] = []
    for _ in range(draw(st.integers(1, 3))):
        session = draw(st.sampled_from([bytes(16), b"\x01" * 16, os.urandom(16)]))
        start = draw(st.integers(T0, T0 + 400 * DAY_MS))
        if any(
            r.record.session_id == session and abs(r.record.timestamp_ms - start) <= PROOF_HORIZON_MS + DAY_MS
            for r in receipts
        ):
            continue  # the registry refuses to reopen it this soon (node.server.session_registry)
        prev: bytes | None = None
        for step in range(draw(st.integers(1, 4))):
            at = start + draw(st.integers(0, DAY_MS // 8)) * (step + 1)
            signed = signed_receipt(HONEST, session_id=session, step=step, prev_receipt=prev, timestamp_ms=at)
            receipts.append(signed)
            prev = signed.digest
    return receipts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=honest_history(), data=st.data())
def test_no_proof_assembled_from_an_honest_servers_receipts_ever_holds(
    history: list[Signed[Receipt]], data: Any
) -> None:
    """Whatever a reporter pairs, names or tampers with, an honest server's own receipts (and receipts other
    keys signed in its name) never prove misbehaviour against it."""
    forged = in_the_name_of(history[0], MALLORY, output_digest=os.urandom(32))
    pool = [*history, forged]
    a, b = data.draw(st.sampled_from(pool)), data.draw(st.sampled_from(pool))
    wires = [a.to_wire(), b.to_wire()]
    if data.draw(st.booleans()):  # flip a byte of either wire
        which = data.draw(st.integers(0, 1))
        position = data.draw(st.integers(0, len(wires[which]) - 1))
        tampered = bytearray(wires[which])
        tampered[position] ^= 1 << data.draw(st.integers(0, 7))
        wires[which] = bytes(tampered)
    proof = MisbehaviourProof(
        reporter_key=bytes(MALLORY.verify_key),
        server_key=data.draw(st.sampled_from([bytes(HONEST.verify_key), bytes(MALLORY.verify_key)])),
        session_id=data.draw(st.sampled_from([a.record.session_id, b.record.session_id, os.urandom(16)])),
        first=wires[0],
        second=wires[1],
        reported_ms=T0,
    )
    with pytest.raises(NotAProofError):
        check_proof(proof)


# --- the ledger ----------------------------------------------------------------------------------------------


def test_a_proof_convicts_at_once_with_a_fails_consequences_and_once_only(ledger: Ledger) -> None:
    server, client, reporter = new_key(), new_key(), new_key()
    honest_looking = chain_at(server, 3)
    session = honest_looking[0].record.session_id
    bonded_and_paid(ledger, server, client, session)
    assert (balance(ledger, hexkey(client)), balance(ledger, ESCROW)) == (9_600, 400)
    desk = Convictions(ledger.engine, LEDGER_KEY, clock=lambda: T0)
    twin = resign(honest_looking[1].record, server, output_digest=os.urandom(32))

    result = desk.submit(proof_wire(reporter, honest_looking[1], twin), bytes(reporter.verify_key))

    assert (result.status, result.kind, result.step) == ("accepted", "equivocation", 1)
    slashed = 4_000 * DEFAULT_MARKET.slash_ppm // PPM
    assert balance(ledger, hexkey(client)) == 10_000, "the client's escrow for the session came back"
    assert balance(ledger, bond_account(hexkey(server))) == 4_000 - slashed
    assert balance(ledger, hexkey(reporter)) == slashed * DEFAULT_MARKET.bounty_ppm // PPM
    assert scalar(ledger, "SELECT quarantined FROM reputations WHERE server_key = :k", k=hexkey(server))
    assert scalar(ledger, "SELECT fails FROM reputations WHERE server_key = :k", k=hexkey(server)) == 1
    assert scalar(ledger, "SELECT model_id FROM reputations WHERE server_key = :k", k=hexkey(server)) == "tiny"
    assert scalar(ledger, "SELECT kind FROM convictions") == "equivocation"
    convicted_at = head(ledger)

    again = desk.submit(proof_wire(reporter, honest_looking[1], twin), bytes(reporter.verify_key))
    relinked = resign(honest_looking[2].record, server, prev_receipt=os.urandom(32))
    other_proof = desk.submit(proof_wire(new_key_signed := new_key(), relinked, honest_looking[1]), None)
    assert (again.status, again.seq) == ("duplicate", result.seq)
    assert (other_proof.status, other_proof.kind) == ("duplicate", "equivocation")
    assert balance(ledger, hexkey(new_key_signed)) == 0
    assert head(ledger) == convicted_at, "a duplicate writes nothing"
    assert balance(ledger, bond_account(hexkey(server))) == 4_000 - slashed
    report = ledger.audit()
    assert report.ok, report.problems
    assert report.kinds["misbehaviour"] == 1


def test_a_server_reporting_itself_earns_no_bounty(ledger: Ledger) -> None:
    server, client = new_key(), new_key()
    receipts = chain_at(server, 2)
    bonded_and_paid(ledger, server, client, receipts[0].record.session_id)
    twin = resign(receipts[0].record, server, input_digest=os.urandom(32))
    Convictions(ledger.engine, LEDGER_KEY, clock=lambda: T0).submit(proof_wire(server, receipts[0], twin))
    assert balance(ledger, hexkey(server)) == 5_000 - 4_000  # its own account: only what it had not bonded
    assert ledger.audit().ok


def test_a_convictions_movements_are_dated_by_the_ledger_not_the_reporter(ledger: Ledger) -> None:
    """The reporter picks ``reported_ms`` within the skew the ledger allows; the market dates the refund,
    slash and bounty by the event's ``recorded_ms`` (the ledger's clock) all the same."""
    server, client, reporter = new_key(), new_key(), new_key()
    receipts = chain_at(server, 2)
    bonded_and_paid(ledger, server, client, receipts[0].record.session_id)
    twin = resign(receipts[0].record, server, input_digest=os.urandom(32))
    skewed = T0 - MAX_REPORT_SKEW_MS  # as early as the ledger takes it
    result = Convictions(ledger.engine, LEDGER_KEY, clock=lambda: T0).submit(
        proof_wire(reporter, receipts[0], twin, at_ms=skewed)
    )
    dates = scalar(ledger, "SELECT min(at_ms) || ',' || max(at_ms) FROM movements WHERE event_seq = :s", s=result.seq)
    assert dates == f"{T0},{T0}"
    assert scalar(ledger, "SELECT recorded_ms FROM events WHERE seq = :s", s=result.seq) == T0
    assert ledger.audit().ok


def test_anything_but_a_proof_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    server, reporter = new_key(), new_key()
    receipts = chain_at(server, 3)
    twin = resign(receipts[1].record, server, output_digest=os.urandom(32))
    desk = Convictions(ledger.engine, LEDGER_KEY, clock=lambda: T0)
    before = head(ledger)
    tampered = bytearray(proof_wire(reporter, receipts[1], twin))
    tampered[-5] ^= 1
    refusals = {
        "honest pair": (proof_wire(reporter, receipts[1], receipts[2]), None, "not_a_proof", 422),
        "forged twin": (
            proof_wire(reporter, receipts[1], in_the_name_of(twin, MALLORY)),
            None,
            "not_a_proof",
            422,
        ),
        "wrong subject": (proof_wire(reporter, receipts[1], twin, session_id=os.urandom(16)), None, "not_a_proof", 422),
        "garbage": (b"\x92\xc4\x01x\xc4\x01y", None, "bad_proof", 400),
        "bad signature": (bytes(tampered), None, "bad_proof", 400),
        "someone else's proof": (
            proof_wire(reporter, receipts[1], twin),
            bytes(MALLORY.verify_key),
            "wrong_reporter",
            403,
        ),
        "stale": (proof_wire(reporter, receipts[1], twin, at_ms=T0 - DAY_MS), None, "bad_time", 400),
    }
    for name, (wire, caller, code, status) in refusals.items():
        with pytest.raises(MisbehaviourError) as refused:
            desk.submit(wire, caller)
        assert (refused.value.code, refused.value.status) == (code, status), name
    assert head(ledger) == before
    assert scalar(ledger, "SELECT count(*) FROM convictions") == 0
    assert scalar(ledger, "SELECT count(*) FROM reputations") == 0


def test_a_conflict_met_at_ingest_convicts_within_the_horizon_only(ledger: Ledger) -> None:
    server = new_key()
    desk = Convictions(ledger.engine, LEDGER_KEY, clock=lambda: T0)
    stored = chain_at(server, 2)
    old = chain_at(server, 1, start_ms=T0 - PROOF_HORIZON_MS - DAY_MS)
    from swarmtrust.ledger.ingest import ingest_receipts

    ingest_receipts(ledger.engine, [r.to_wire() for r in [*stored, *old]], clock=lambda: T0)
    twin = resign(stored[1].record, server, output_digest=os.urandom(32))
    reopened = resign(old[0].record, server, timestamp_ms=T0)  # the same id re-signed after the horizon: no proof
    results = ingest_receipts(
        ledger.engine, [twin.to_wire(), reopened.to_wire()], clock=lambda: T0, on_conflict=desk.conflict_hook()
    )
    assert [(r.status, r.reason) for r in results] == [("rejected", "conflict")] * 2
    assert "stands convicted" in (results[0].message or "") and "stands convicted" not in (results[1].message or "")
    assert scalar(ledger, "SELECT count(*) FROM convictions") == 1
    assert scalar(ledger, "SELECT reporter_key FROM convictions") == hexkey(LEDGER_KEY)
    assert scalar(ledger, "SELECT quarantined FROM reputations WHERE server_key = :k", k=hexkey(server))
    assert ledger.audit().ok


def test_a_conflict_in_a_challenges_evidence_convicts(ledger: Ledger) -> None:
    server, client = new_key(), new_key()
    receipts, evidence = evidence_session(server, 3)
    twin = resign(receipts[0].record, server, output_digest=os.urandom(32))
    from swarmtrust.ledger.ingest import ingest_receipts

    ingest_receipts(ledger.engine, [twin.to_wire()])  # the server got its other version in first
    desk = SpotChecks(ledger.engine, LEDGER_KEY, SpotCheckPolicy())
    encoded = evidence.encode()
    desk.submit_challenge(challenge_for(client, receipts, encoded).to_wire(), encoded)
    assert scalar(ledger, "SELECT kind FROM convictions WHERE server_key = :k", k=hexkey(server)) == "equivocation"
    assert ledger.audit().ok


def test_the_audit_names_a_misbehaviour_event_that_proves_nothing(ledger: Ledger) -> None:
    server = new_key()
    receipts = chain_at(server, 2)
    fake = Contradiction("broken_chain", receipts[0], receipts[1])  # a consistent pair, claimed broken
    with open_writer(ledger.engine, lambda: T0) as writer:  # what a dishonest ledger operator could append
        writer.append([EventDraft("misbehaviour", build_proof(LEDGER_KEY, fake, T0))])
    report = ledger.audit()
    assert not report.ok
    assert any(p.where == "convictions" and "proves nothing" in p.message for p in report.problems)
    assert scalar(ledger, "SELECT count(*) FROM reputations") == 0, "and it convicted nobody"
