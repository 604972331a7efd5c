"""Audit coins by commit-reveal: the pure derivation, then the ledger on SQLite and PostgreSQL committing seeds
before assignments, revealing them an epoch later, and the audit recomputing every coin (and catching a
ledger that chose its coins)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from swarmtrust.ledger.beacon import (
    FORCED_COIN,
    REVEAL_MARGIN_MS,
    audit_coin,
    coin_epoch,
    effective_coin,
    epoch_seed,
    reveal_due,
    seed_commitment,
)
from swarmtrust.ledger.beacon_keeper import AuditBeacon
from swarmtrust.ledger.epochs import EPOCH_MS
from swarmtrust.ledger.eventlog import EventWriter, open_writer
from swarmtrust.ledger.events import EventDraft
from swarmtrust.ledger.spotchecks import Claimed, SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.statements import SeedReveal
from swarmtrust.ledger.store import Ledger
from swarmtrust.protocol.challenges import Verdict
from swarmtrust.protocol.signing import open_signed, sign_record
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict

SERVER, CLIENT, LEDGER = new_key(), new_key(), new_key()
V1, V2, V3 = (new_key() for _ in range(3))
SEEDS = st.binary(min_size=32, max_size=32)


def old_predictor(assignment_id: str) -> float:
    """The coin as it was: BLAKE2b of the assignment id, which the verifier holds before it answers."""
    digest = hashlib.blake2b(bytes.fromhex(assignment_id) + b"audit", digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


# --- pure ---------------------------------------------------------------------------------------------------


@given(SEEDS, st.integers(min_value=0, max_value=2**40), st.integers(min_value=0, max_value=2**40))
@settings(max_examples=200, deadline=None)
def test_each_epoch_has_its_own_seed_and_only_it_opens_the_commitment(key: bytes, e1: int, e2: int) -> None:
    s1, s2 = epoch_seed(key, e1), epoch_seed(key, e2)
    assert (s1 == s2) == (e1 == e2)
    assert seed_commitment(e1, s1) == seed_commitment(e1, epoch_seed(key, e1)), "every process derives the same"
    assert seed_commitment(e1, s1) != seed_commitment(e1, bytes(a ^ 1 for a in s1))
    assert s1 not in (key, seed_commitment(e1, s1)), "neither the key nor the commitment gives the seed away"


@given(SEEDS, SEEDS, st.binary(min_size=32, max_size=32))
@settings(max_examples=300, deadline=None)
def test_a_coin_is_in_the_unit_interval_and_depends_on_the_secret(s1: bytes, s2: bytes, verdict: bytes) -> None:
    coin = audit_coin(s1, verdict)
    assert 0.0 <= coin < 1.0
    if s1 != s2:
        assert coin != audit_coin(s2, verdict), "without the seed, the coin cannot be computed"


def test_coins_are_uniform() -> None:
    seed = epoch_seed(bytes(range(32)), 7)
    coins = [audit_coin(seed, i.to_bytes(32, "big")) for i in range(20_000)]
    # Ten equal bins of 2,000 expected each; chi-square with 9 degrees of freedom under 27.9 (p = 0.001).
    bins = [0] * 10
    for coin in coins:
        bins[int(coin * 10)] += 1
    assert sum((b - 2_000) ** 2 / 2_000 for b in bins) < 27.9


def test_seeds_are_revealed_only_once_no_pass_they_decide_can_come_in() -> None:
    assigned = 5 * EPOCH_MS + 123
    epoch = coin_epoch(assigned)
    assert epoch == 6
    assert not reveal_due(epoch, 7 * EPOCH_MS + REVEAL_MARGIN_MS - 1)
    assert reveal_due(epoch, 7 * EPOCH_MS + REVEAL_MARGIN_MS)
    seed = epoch_seed(bytes(32), epoch)
    assert effective_coin(seed, b"v" * 32, committed_in_time=False, revealed_before=False) == FORCED_COIN
    assert effective_coin(seed, b"v" * 32, committed_in_time=True, revealed_before=True) == FORCED_COIN
    assert effective_coin(seed, b"v" * 32, committed_in_time=True, revealed_before=False) == audit_coin(seed, b"v" * 32)
    with pytest.raises(ValueError, match="32 seed bytes"):
        epoch_seed(b"short", 1)


# --- the ledger ---------------------------------------------------------------------------------------------


@dataclass
class Clock:
    now: int = 1_795_000_000_000

    def __call__(self) -> int:
        return self.now


def desk(ledger: Ledger, clock: Clock, beacon: AuditBeacon | None = None, rate: float = 0.5) -> SpotChecks:
    policy = SpotCheckPolicy(audit_rate=rate, max_audit_rate=rate, assignment_ttl_ms=10_000)
    return SpotChecks(ledger.engine, LEDGER, policy, clock=clock, beacon=beacon)


def submit(checks: SpotChecks) -> str:
    receipts, evidence = evidence_session(SERVER, 2)
    encoded = evidence.encode()
    return checks.submit_challenge(challenge_for(CLIENT, receipts, encoded).to_wire(), encoded).challenge_id


def holder(checks: SpotChecks, verifiers: tuple[Any, ...]) -> tuple[Any, Claimed]:
    got = [(v, c) for v in verifiers if (c := checks.claim(bytes(v.verify_key))) is not None]
    assert len(got) == 1
    return got[0]


def pass_through(checks: SpotChecks, clock: Clock, rounds: int) -> list[tuple[Claimed, bytes, str]]:
    """``rounds`` challenges passed by whoever is drawn (and by the auditor when audited); each first pass
    with its wire and the phase it led to."""
    passes = []
    for _ in range(rounds):
        submit(checks)
        first, claimed = holder(checks, (V1, V2))
        wire = signed_verdict(first, claimed, "pass", clock.now)
        phase = checks.submit_verdict(wire).phase
        passes.append((claimed, wire, phase))
        if phase == "audit":
            auditor = V2 if first is V1 else V1
            audit = checks.claim(bytes(auditor.verify_key))
            assert audit is not None
            assert checks.submit_verdict(signed_verdict(auditor, audit, "pass", clock.now)).phase == "decided"
    return passes


def rows(ledger: Ledger, query: str, **params: Any) -> list[Any]:
    with ledger.engine.connect() as connection:
        return list(connection.execute(text(query), params).mappings())


def test_coins_are_committed_before_their_pass_and_checked_once_revealed(ledger: Ledger) -> None:
    clock = Clock()
    checks = desk(ledger, clock)
    for verifier in (V1, V2):
        assert checks.claim(bytes(verifier.verify_key)) is None
    passes = pass_through(checks, clock, 8)
    draws = {d["assignment_id"]: d for d in rows(ledger, "SELECT * FROM audit_draws")}
    assert len(draws) == 8
    for claimed, wire, phase in passes:
        aid = claimed.assignment.record.assignment_id.hex()
        draw = draws[aid]
        epoch = coin_epoch(claimed.assignment.record.assigned_ms)
        (commitment,) = rows(ledger, "SELECT committed_seq, seed FROM audit_seeds WHERE epoch = :e", e=epoch)
        (assigned,) = rows(ledger, "SELECT event_seq FROM assignments WHERE assignment_id = :a", a=aid)
        assert commitment["committed_seq"] < assigned["event_seq"], "committed before the verifier had its job"
        assert commitment["seed"] is None, "and still secret"
        digest = open_signed(Verdict, wire).digest
        assert draw["coin"] == audit_coin(epoch_seed(bytes(LEDGER), epoch), digest)
        assert draw["coin"] != old_predictor(aid)
        assert (phase == "audit") == (draw["coin"] < 0.5) == (draw["follow"] == "audit")
    report = ledger.audit()
    assert report.ok, report.problems
    assert (report.coins_checked, report.coins_awaiting_reveal) == (0, 8)

    clock.now += 2 * EPOCH_MS + REVEAL_MARGIN_MS  # an epoch and a margin after the seed's own epoch
    assert checks.claim(bytes(V1.verify_key)) is None  # any poll reveals what is due
    revealed = rows(ledger, "SELECT epoch, seed, state FROM audit_seeds WHERE seed IS NOT NULL")
    assert revealed and all(r["state"] == "revealed" for r in revealed)
    assert {r["seed"] for r in revealed} == {epoch_seed(bytes(LEDGER), r["epoch"]).hex() for r in revealed}
    report = ledger.audit()
    assert report.ok, report.problems
    assert (report.coins_checked, report.coins_awaiting_reveal) == (8, 0)


class SkippingBeacon(AuditBeacon):
    """A dishonest ledger that wants no audits: it records a coin above every chance."""

    def coin(self, writer: EventWriter, assignment: dict[str, Any], verdict_digest: bytes) -> tuple[int, float]:
        epoch, _ = super().coin(writer, assignment, verdict_digest)
        return epoch, 0.999


def test_a_ledger_that_chooses_its_coins_is_caught_once_the_seed_is_revealed(ledger: Ledger) -> None:
    clock = Clock()
    checks = desk(ledger, clock, SkippingBeacon(LEDGER), rate=0.9)
    for verifier in (V1, V2):
        assert checks.claim(bytes(verifier.verify_key)) is None
    assert {phase for _, _, phase in pass_through(checks, clock, 3)} == {"decided"}
    assert ledger.audit().ok, "before the reveal nobody can tell"
    clock.now += 2 * EPOCH_MS + REVEAL_MARGIN_MS
    checks.claim(bytes(V1.verify_key))
    report = ledger.audit()
    assert not report.ok and report.coins_checked == 3
    assert {p.where.split("[")[0] for p in report.problems} == {"audit_draws"}
    assert all("the revealed seed gives" in p.message for p in report.problems)


def test_a_reveal_that_does_not_open_its_commitment_is_named(ledger: Ledger) -> None:
    clock = Clock()
    checks = desk(ledger, clock)
    assert checks.claim(bytes(V1.verify_key)) is None
    submit(checks)
    assert checks.claim(bytes(V1.verify_key)) is not None  # an assignment: its seed is committed
    (committed,) = rows(ledger, "SELECT epoch FROM audit_seeds")
    forged = SeedReveal(bytes(LEDGER.verify_key), committed["epoch"], bytes(32), clock.now)
    with open_writer(ledger.engine, clock) as writer:
        writer.append([EventDraft("seed_reveal", sign_record(forged, LEDGER))])
    report = ledger.audit()
    assert [p.where for p in report.problems] == [f"audit_seeds[{committed['epoch']}]"]


def test_a_pass_recorded_after_its_seed_was_revealed_is_audited(ledger: Ledger) -> None:
    clock = Clock()
    checks = desk(ledger, clock)
    assert checks.claim(bytes(V1.verify_key)) is None
    submit(checks)
    claimed = checks.claim(bytes(V1.verify_key))
    assert claimed is not None
    clock.now += 2 * EPOCH_MS + REVEAL_MARGIN_MS
    # The submitter asks for work (it may never verify its own challenge, so nobody takes V1's place) and
    # its poll reveals the seed of V1's coin: V1 could now compute it, so its late pass gets the forced coin.
    assert checks.claim(bytes(CLIENT.verify_key)) is None
    assert rows(ledger, "SELECT seed FROM audit_seeds")[0]["seed"] is not None
    assert checks.submit_verdict(signed_verdict(V1, claimed, "pass", clock.now)).phase == "audit"
    (draw,) = rows(ledger, "SELECT coin, follow FROM audit_draws")
    assert (draw["coin"], draw["follow"]) == (FORCED_COIN, "audit")
    report = ledger.audit()
    assert report.ok and report.coins_checked == 1


@pytest.mark.slow  # heavy: in the full tier only
def test_the_verifier_that_polls_fastest_does_not_get_the_first_looks(ledger: Ledger) -> None:
    """V1 asks for work before anyone else every time, as a colluder polling fastest would. First come,
    first served gave it 30 first looks of 30; the draw by reliability about a third. Even at the most
    reliability it can reach here (weight 1 against 2/3 for each other), P(V1 drawn) <= 3/7, and
    P(Binomial(30, 3/7) >= 27) < 2e-7."""
    clock = Clock()
    checks = desk(ledger, clock, rate=0.0)
    for verifier in (V1, V2, V3):
        assert checks.claim(bytes(verifier.verify_key)) is None
    firsts = []
    for _ in range(30):
        submit(checks)
        first, claimed = holder(checks, (V1, V2, V3))
        firsts.append(first)
        assert checks.submit_verdict(signed_verdict(first, claimed, "pass", clock.now)).phase == "decided"
    assert firsts.count(V1) < 27, [firsts.count(v) for v in (V1, V2, V3)]
    assert len(set(map(id, firsts))) >= 2


def test_two_api_processes_over_one_database_agree_on_every_seed(ledger: Ledger, db_url: str) -> None:
    """Two ledger services share the ledger key and the database, not the seeds: one hands out assignments
    (committing the seed), the other takes the verdicts (drawing the coins) and reveals; the audit agrees."""
    clock = Clock()
    with Ledger.open(db_url) as other:
        assigning, judging = desk(ledger, clock), desk(other, clock)
        for verifier in (V1, V2):
            assert assigning.claim(bytes(verifier.verify_key)) is None
        for _ in range(4):
            submit(assigning)
            first, claimed = holder(assigning, (V1, V2))
            wire = signed_verdict(first, claimed, "pass", clock.now)
            if judging.submit_verdict(wire).phase == "audit":
                auditor = V2 if first is V1 else V1
                audit = assigning.claim(bytes(auditor.verify_key))
                assert audit is not None
                judging.submit_verdict(signed_verdict(auditor, audit, "pass", clock.now))
        clock.now += 2 * EPOCH_MS + REVEAL_MARGIN_MS
        judging.claim(bytes(V1.verify_key))
    assert len(rows(ledger, "SELECT * FROM audit_seeds")) == 1, "one commitment, whichever process came first"
    report = ledger.audit()
    assert report.ok, report.problems
    assert (report.coins_checked, report.coins_awaiting_reveal) == (4, 0)
