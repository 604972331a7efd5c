"""Checkpoints over a real ledger (SQLite and PostgreSQL): proposed from the events, co-signed by verifiers who
recompute them, final at a quorum; and a ledger operator who rewrites history and re-signs it is caught.

The verifiers here recompute checkpoints in-process from the events the ledger holds, as a verifier node does
from the events it fetches; their keys are their own, which the operator does not hold."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text
from typer.testing import CliRunner

from swarmtrust.cli import app
from swarmtrust.ledger.checkpoint_fold import (
    FoldedLog,
    WeightRule,
    differences,
    expected_checkpoint,
    verifier_weights,
)
from swarmtrust.ledger.checkpoints import (
    Checkpointer,
    RefoldBusyError,
    add_signature,
    attested_tables,
    audit_checkpoints,
    latest_final_ref,
    logged_events,
    propose_checkpoint,
    stored_checkpoints,
)
from swarmtrust.ledger.errors import RequestRefusedError
from swarmtrust.ledger.market import mint, take_node_record
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.checkpoints import (
    MAX_WEIGHT,
    Checkpoint,
    CheckpointSignature,
    checkpoint_digest,
    fork_between,
    signing_set,
)
from swarmtrust.protocol.keys import generate_key_file
from swarmtrust.protocol.market_records import BondDeposit
from swarmtrust.protocol.merkle import merkle_root
from swarmtrust.protocol.signing import Signed, open_signed, sign_record
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict
from tests.ledger.tampering import lift_append_only_guard, rewrite_mints

SERVER, CLIENT, LEDGER = new_key(), new_key(), new_key()
VERIFIERS = [new_key() for _ in range(3)]
RULE = WeightRule(apprenticeship=1)  # weight from the first agreement: a short history gives every verifier a say


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_000_000_000

    def __call__(self) -> int:
        return self.now


def decided_passes(ledger: Ledger, clock: Clock, rounds: int) -> None:
    """``rounds`` challenges per verifier, each passed by the one verifier holding it: every verdict agrees."""
    checks = SpotChecks(ledger.engine, LEDGER, SpotCheckPolicy(audit_rate=0.0, max_audit_rate=0.0), clock=clock)
    for _ in range(rounds * len(VERIFIERS)):
        receipts, evidence = evidence_session(SERVER, 3)
        encoded = evidence.encode()
        assert checks.submit_challenge(challenge_for(CLIENT, receipts, encoded).to_wire(), encoded).status == "accepted"
        claimed = [(v, c) for v in VERIFIERS if (c := checks.claim(bytes(v.verify_key))) is not None]
        assert len(claimed) == 1
        verifier, claim = claimed[0]
        assert checks.submit_verdict(signed_verdict(verifier, claim, "pass", clock.now)).phase == "decided"
        clock.now += 1_000


def cosign(ledger: Ledger, verifier: Any) -> Signed[CheckpointSignature] | None:
    """What a verifier does: recompute the latest checkpoint from the events and sign it only if it matches."""
    with ledger.engine.connect() as connection:
        stored = stored_checkpoints(connection)
        log = FoldedLog()
        previous = stored[-2] if len(stored) > 1 else None
        if previous is not None:
            log.feed(logged_events(connection, 0, previous.record.seq))
            log.mark()
        latest = stored[-1]
        log.feed(logged_events(connection, log.seq, latest.record.seq))
    record = latest.record
    if differences(expected_checkpoint(log, previous, record.ledger_key, record.created_ms, RULE), record):
        return None
    signature = CheckpointSignature(
        bytes(verifier.verify_key), record.ledger_key, record.number, checkpoint_digest(latest)
    )
    signed = sign_record(signature, verifier)
    if bytes(verifier.verify_key) not in signing_set(record, previous.record if previous is not None else None):
        with pytest.raises(RequestRefusedError) as refused:  # no weight: its signature is not taken
            add_signature(ledger.engine, signed.to_wire())
        assert refused.value.code == "not_a_signer"
        return None
    assert add_signature(ledger.engine, signed.to_wire()) == "recorded"
    assert add_signature(ledger.engine, signed.to_wire()) == "duplicate"
    return signed


def history(ledger: Ledger, clock: Clock) -> list[bytes]:
    """Two final checkpoints over challenges and balances; the wires of both, as a client would remember them."""
    decided_passes(ledger, clock, 2)
    mint(
        ledger.engine, LEDGER, account=bytes(CLIENT.verify_key).hex(), amount=500, reason="test", admin="t", clock=clock
    )
    first = propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE)
    assert first.status == "recorded" and first.checkpoint is not None
    weights = first.checkpoint.record.signing_set
    assert sum(weights.values()) == 6 and set(weights) <= {bytes(v.verify_key) for v in VERIFIERS}, "one per pass"
    assert sum(cosign(ledger, verifier) is not None for verifier in VERIFIERS) == len(weights)
    decided_passes(ledger, clock, 1)
    second = propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE)
    assert second.checkpoint is not None and second.checkpoint.record.previous == checkpoint_digest(first.checkpoint)
    for verifier in VERIFIERS:
        cosign(ledger, verifier)
    report = audit_checkpoints(ledger.engine, RULE)
    assert report.ok, report.problems
    assert [c.final for c in report.checkpoints] == [True, True]
    return [first.checkpoint.to_wire(), second.checkpoint.to_wire()]


def test_checkpoints_are_co_signed_final_and_proposed_once_per_number(ledger: Ledger) -> None:
    clock = Clock()
    history(ledger, clock)
    assert propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE).status == "unchanged"
    with pytest.raises(RequestRefusedError) as refused:
        add_signature(ledger.engine, b"\x92\xc4\x01x\xc4\x01y")
    assert refused.value.code == "bad_signature"
    stranger = new_key()
    foreign = sign_record(CheckpointSignature(bytes(stranger.verify_key), bytes(32), 1, bytes(32)), stranger)
    with pytest.raises(RequestRefusedError, match="not of this ledger's checkpoint 1"):
        add_signature(ledger.engine, foreign.to_wire())


def test_a_checkpoint_is_final_only_past_two_thirds_of_the_weight(ledger: Ledger) -> None:
    clock = Clock()
    decided_passes(ledger, clock, 2)
    proposed = propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE).checkpoint
    assert proposed is not None
    weights = proposed.record.signing_set
    total, signed = sum(weights.values()), 0
    by_key = {bytes(v.verify_key): v for v in VERIFIERS}
    lightest_first = sorted(weights, key=lambda key: (weights[key], key))
    while (signed + weights[lightest_first[0]]) * 3 <= total * 2:  # sign as far as 2/3 and no further
        key = lightest_first.pop(0)
        cosign(ledger, by_key[key])
        signed += weights[key]
    report = audit_checkpoints(ledger.engine, RULE)
    assert report.ok and report.last_final is None, "at most 2/3 of the weight: pending"
    assert report.checkpoints[0].signed_weight == signed
    cosign(ledger, by_key[lightest_first[0]])
    assert audit_checkpoints(ledger.engine, RULE).last_final is not None


def reproposed_keeping_signatures(ledger: Ledger, clock: Clock, seqs: list[int]) -> list[Signed[Checkpoint]]:
    """The operator throws its checkpoints away and signs new ones over the rewritten events, putting the
    verifiers' co-signatures back (it cannot make new ones)."""
    with ledger.engine.begin() as connection:
        kept = connection.execute(text("SELECT number, verifier_key, wire FROM checkpoint_signatures")).all()
        connection.execute(text("DELETE FROM checkpoint_signatures"))
        connection.execute(text("DELETE FROM checkpoints"))
    forged = []
    for seq in seqs:
        proposed = propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE, upto=seq)
        assert proposed.checkpoint is not None
        forged.append(proposed.checkpoint)
    with ledger.engine.begin() as connection:
        for number, verifier_key, wire in kept:
            connection.execute(
                text("INSERT INTO checkpoint_signatures (number, verifier_key, wire) VALUES (:n, :k, :w)"),
                {"n": number, "k": verifier_key, "w": wire},
            )
    return forged


def test_a_rewritten_and_re_signed_history_is_caught(ledger: Ledger) -> None:
    clock = Clock()
    remembered = history(ledger, clock)
    rewrite_mints(ledger.engine, LEDGER)
    report = audit_checkpoints(ledger.engine, RULE)  # the checkpoints as the verifiers co-signed them
    assert not report.ok and "checkpoint 1 (seq" in report.problems[0]
    assert "head_hash" in report.problems[0] and "state_root" in report.problems[0], "the balance changed too"

    seqs = [open_signed(Checkpoint, wire).record.seq for wire in remembered]
    forged = reproposed_keeping_signatures(ledger, clock, seqs)
    report = audit_checkpoints(ledger.engine, RULE)
    assert any("co-signed another checkpoint 1 than the one stored" in p for p in report.problems), report.problems
    assert report.last_final is None, "no quorum signed the rewritten history"

    with ledger.engine.begin() as connection:  # without the old co-signatures: no quorum, so no final checkpoint
        connection.execute(text("DELETE FROM checkpoint_signatures"))
    report = audit_checkpoints(ledger.engine, RULE)
    assert report.last_final is None and any("not the more than 2/3" in p for p in report.problems)

    # whoever remembered a final checkpoint 1 (a client, a server, a verifier) holds proof of the equivocation
    fork = fork_between(remembered[0], forged[0].to_wire())
    assert fork is not None and (fork.ledger_key, fork.number) == (bytes(LEDGER.verify_key), 1)
    assert fork_between(remembered[0], remembered[0]) is None
    assert fork_between(remembered[0], remembered[1]) is None, "two numbers: no fork"


def test_the_cli_proposes_and_audits_checkpoints(db_url: str, ledger: Ledger, tmp_path: Path) -> None:
    key_file = tmp_path / "ledger.key"
    generate_key_file(key_file)
    clock = Clock()
    decided_passes(ledger, clock, 1)
    runner = CliRunner()
    proposed = runner.invoke(app, ["ledger", "checkpoint", "--ledger-key", str(key_file), "--db", db_url])
    assert proposed.exit_code == 0 and "checkpoint 1 at seq" in proposed.output, proposed.output
    again = runner.invoke(app, ["ledger", "checkpoint", "--ledger-key", str(key_file), "--db", db_url])
    assert "stands: no event since" in again.output
    audited = runner.invoke(app, ["ledger", "audit", "--checkpoints", "--db", db_url])
    assert audited.exit_code == 0 and "checkpoints: 1; last final: none" in audited.output, audited.output
    with ledger.engine.begin() as connection:  # the operator changes the checkpoint's seq behind the signature
        connection.execute(text("UPDATE checkpoints SET seq = seq - 1"))
    assert runner.invoke(app, ["ledger", "audit", "--checkpoints", "--db", db_url]).exit_code == 0, (
        "the signed record, not the column, is what counts"
    )
    cut_the_last_event(ledger)
    failed = runner.invoke(app, ["ledger", "audit", "--checkpoints", "--json", "--db", db_url])
    assert failed.exit_code == 1 and json.loads(failed.output)["checkpoints"]["ok"] is False


def cut_the_last_event(ledger: Ledger) -> None:
    """Cut the last event and re-point the head at the one before: a shorter chain, consistent on its own."""
    with ledger.engine.begin() as connection:
        lift_append_only_guard(connection)
        last = connection.execute(text("SELECT max(seq) FROM events")).scalar()
        connection.execute(text("DELETE FROM events WHERE seq = :s"), {"s": last})
        before = connection.execute(text("SELECT seq, hash FROM events WHERE seq = :s"), {"s": last - 1}).one()
        connection.execute(text("UPDATE chain_head SET seq = :s, hash = :h"), {"s": before.seq, "h": before.hash})


@given(
    st.integers(0, 10_000), st.integers(0, 3_000), st.integers(-(2**40), 2**40), st.integers(0, 2**40)
)  # fmt: skip
def test_a_bond_raises_earned_weight_up_to_the_factor_and_buys_none_alone(
    agreements: int, disagreements: int, bond: int, more: int
) -> None:
    rule = WeightRule()
    weight = rule.weight(agreements, disagreements, bond)
    reliability = agreements - rule.disagreement_cost * disagreements
    if agreements < rule.apprenticeship or reliability <= 0:
        assert weight == 0, "a bond bought weight without a record"
        return
    assert min(reliability, MAX_WEIGHT) <= weight <= min(rule.bond_factor * reliability, MAX_WEIGHT)
    assert rule.weight(agreements, disagreements, bond + more) >= weight, "more bond never lowers the weight"
    assert rule.weight(agreements, disagreements, rule.full_bond + more) == min(
        rule.bond_factor * reliability, MAX_WEIGHT
    )


def test_a_verifiers_bond_raises_its_weight_in_the_signing_set(ledger: Ledger) -> None:
    clock = Clock()
    decided_passes(ledger, clock, 2)
    before = propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE).checkpoint
    assert before is not None
    earned = before.record.signing_set  # each verifier's agreements
    assert sum(cosign(ledger, verifier) is not None for verifier in VERIFIERS) == len(earned)
    bonded = max(VERIFIERS, key=lambda v: earned.get(bytes(v.verify_key), 0))
    key = bytes(bonded.verify_key)
    mint(ledger.engine, LEDGER, account=key.hex(), amount=RULE.full_bond, reason="t", admin="t", clock=clock)
    deposit = sign_record(BondDeposit(os.urandom(16), key, RULE.full_bond // 2, clock.now), bonded)
    take_node_record(ledger.engine, "bond", deposit.to_wire(), key, clock=clock)
    after = propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE).checkpoint
    assert after is not None
    weights = after.record.signing_set
    assert weights[key] == earned[key] * 3 // 2, "raised by half of the full bond: × 1.5"
    assert {k: w for k, w in weights.items() if k != key} == {k: w for k, w in earned.items() if k != key}
    # the verifiers, folding the events, give the same set: each co-signs what the ledger proposed
    assert sum(cosign(ledger, verifier) is not None for verifier in VERIFIERS) == len(earned)
    assert audit_checkpoints(ledger.engine, RULE).ok


def test_old_checkpoints_proofs_are_folded_again_one_at_a_time_and_kept(ledger: Ledger) -> None:
    clock = Clock()
    proposed = []
    for round_ in range(3):
        mint(
            ledger.engine,
            LEDGER,
            account=bytes(new_key().verify_key).hex(),
            amount=5 + round_,
            reason="t",
            admin="t",
            clock=clock,
        )
        done = propose_checkpoint(ledger.engine, LEDGER, clock=clock, rule=RULE)
        assert done.checkpoint is not None
        proposed.append(done.checkpoint.record)
    checkpointer = Checkpointer(ledger.engine, RULE)  # a restarted service: no leaves kept
    first = checkpointer.leaves_at(1)
    assert first is not None and checkpointer.refolds == 1
    assert merkle_root([leaf for _, _, leaf in first]) == proposed[0].state_root, (
        "the refolded state is the one checkpoint 1 fixed"
    )
    assert checkpointer.leaves_at(1) == first and checkpointer.refolds == 1, "kept: not folded again"
    assert checkpointer.leaves_at(99) is None
    checkpointer._refolding.acquire()  # another request's refold under way
    try:
        with pytest.raises(RefoldBusyError, match="retry shortly"):
            checkpointer.leaves_at(2)
        assert checkpointer.leaves_at(1) == first, "a kept one is served meanwhile"
    finally:
        checkpointer._refolding.release()
    second = checkpointer.leaves_at(2)
    assert (
        second is not None
        and merkle_root([leaf for _, _, leaf in second]) == proposed[1].state_root
        and checkpointer.refolds == 2
    )


def weights_earned(connection: Any) -> dict[bytes, int]:
    """The signing set the next checkpoint would carry."""
    return verifier_weights(attested_tables(connection), RULE)


def last_two_make_final(weights: dict[bytes, int]) -> list[bytes] | None:
    """An order of the signers whose last two each leave the weight at most 2/3 when added alone to those before
    them, and pass it together; None where there is none (one signer holds more than 2/3)."""
    if len(weights) < 2:
        return None
    total = sum(weights.values())
    for order in itertools.permutations(weights):
        before = sum(weights[key] for key in order[:-2])
        a, b = (weights[key] for key in order[-2:])
        if (before + a) * 3 <= total * 2 and (before + b) * 3 <= total * 2 < (before + a + b) * 3:
            return list(order)
    return None


@pytest.mark.postgres
def test_co_signatures_committed_side_by_side_still_make_a_checkpoint_final(postgres_ledger: Ledger) -> None:
    """PostgreSQL runs two co-signatures' transactions side by side (SQLite's ``BEGIN IMMEDIATE`` never does). The
    last two, each of which alone leaves the checkpoint at 2/3 of the weight, must not each miss the other: the
    checkpoint would stay pending for good, though co-signed past 2/3, since no verifier signs it twice.

    The first is held just before its commit until the second has either finished (the race) or is waiting on a
    lock (the fix: the second reads the signatures once the first has committed). The database says which."""
    clock = Clock()
    order = None
    for _ in range(20):  # the draw spreads passes at random: until no verifier holds more than 2/3 alone
        decided_passes(postgres_ledger, clock, 1)
        with postgres_ledger.engine.connect() as connection:
            order = last_two_make_final(weights_earned(connection))
        if order is not None:
            break
    assert order is not None, "one verifier kept more than 2/3 of the weight through 20 rounds of passes"
    proposed = propose_checkpoint(postgres_ledger.engine, LEDGER, clock=clock, rule=RULE).checkpoint
    assert proposed is not None
    before, last_two = order[:-2], order[-2:]
    by_key = {bytes(v.verify_key): v for v in VERIFIERS}

    def wire(key: bytes) -> bytes:
        record = CheckpointSignature(key, bytes(LEDGER.verify_key), 1, checkpoint_digest(proposed))
        return sign_record(record, by_key[key]).to_wire()

    for key in before:
        assert add_signature(postgres_ledger.engine, wire(key)) == "recorded"
    first_at_commit, let_first_commit = threading.Event(), threading.Event()
    outcomes: dict[str, str | BaseException] = {}

    def hold_the_first(connection: Any) -> None:
        if threading.current_thread().name == "first" and not first_at_commit.is_set():
            first_at_commit.set()
            assert let_first_commit.wait(120), "the test never let the first commit"

    def sign(name: str, key: bytes) -> None:
        try:
            outcomes[name] = add_signature(postgres_ledger.engine, wire(key))
        except BaseException as exc:  # reported by the main thread's assertion
            outcomes[name] = exc

    sqlalchemy_event.listen(postgres_ledger.engine, "commit", hold_the_first)
    first = threading.Thread(target=sign, args=("first", last_two[0]), name="first")
    second = threading.Thread(target=sign, args=("second", last_two[1]), name="second")
    try:
        first.start()
        assert first_at_commit.wait(120), "the first co-signature never reached its commit"
        second.start()
        with postgres_ledger.engine.connect() as watcher:
            waiting = text(  # a session of this test's own database waiting on a lock
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            deadline = time.monotonic() + 120
            while second.is_alive() and not watcher.execute(waiting).scalar():
                assert time.monotonic() < deadline, "the second co-signature neither finished nor waited"
                watcher.rollback()  # a fresh snapshot on the next read
                time.sleep(0.05)
    finally:
        let_first_commit.set()
        first.join(120)
        second.join(120)
        sqlalchemy_event.remove(postgres_ledger.engine, "commit", hold_the_first)
    assert outcomes == {"first": "recorded", "second": "recorded"}, outcomes
    with postgres_ledger.engine.connect() as connection:
        assert latest_final_ref(connection) == (1, checkpoint_digest(proposed)), "co-signed past 2/3, yet pending"
