"""Who is drawn to verify, on SQLite and PostgreSQL with a clock: an apprentice's pass is audited by a verifier
past its apprenticeship whenever one is present (a ring of fresh identities cannot audit each other out of
it), and only verifiers serving a challenge's model are drawn for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from swarmtrust.ledger.consensus import APPRENTICE_AGREEMENTS
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict

SERVER, CLIENT, LEDGER = new_key(), new_key(), new_key()
TRUSTED = new_key()
RING = tuple(new_key() for _ in range(3))  # fresh identities of one operator


@dataclass
class Clock:
    now: int = 1_795_000_000_000

    def __call__(self) -> int:
        return self.now


def desk(ledger: Ledger, clock: Clock, rate: float) -> SpotChecks:
    policy = SpotCheckPolicy(audit_rate=0.0, max_audit_rate=rate, assignment_ttl_ms=10_000)
    return SpotChecks(ledger.engine, LEDGER, policy, clock=clock)


def submit(checks: SpotChecks, model: str = "tiny") -> str:
    receipts, evidence = evidence_session(SERVER, 1, hidden=8, model_id=model)
    encoded = evidence.encode()
    return checks.submit_challenge(challenge_for(CLIENT, receipts, encoded).to_wire(), encoded).challenge_id


def key(verifier: Any) -> str:
    return bytes(verifier.verify_key).hex()


def auditors(ledger: Ledger, cid: str) -> list[str]:
    with ledger.engine.connect() as connection:
        query = "SELECT verifier_key FROM assignments WHERE challenge_id = :c AND round = 'audit'"
        return list(connection.execute(text(query), {"c": cid}).scalars())


def answer_all(checks: SpotChecks, clock: Clock, verifiers: tuple[Any, ...]) -> str | None:
    """Each of ``verifiers`` answers (pass) whatever it holds, until nobody holds anything; the last phase."""
    phase = None
    for _ in range(10):
        got = [(v, c) for v in verifiers if (c := checks.claim(bytes(v.verify_key))) is not None]
        if not got:
            return phase
        for verifier, claimed in got:
            phase = checks.submit_verdict(signed_verdict(verifier, claimed, "pass", clock.now)).phase
    return phase


@pytest.mark.slow  # heavy: in the full tier only
def test_an_apprentices_pass_is_audited_by_a_trusted_verifier_while_one_is_present(ledger: Ledger) -> None:
    clock = Clock()
    warm_up = desk(ledger, clock, rate=0.0)
    assert warm_up.claim(bytes(TRUSTED.verify_key)) is None
    for _ in range(APPRENTICE_AGREEMENTS):  # alone, it earns its trust
        submit(warm_up)
        assert answer_all(warm_up, clock, (TRUSTED,)) == "decided"
    checks = desk(ledger, clock, rate=1.0)  # apprentices' passes always audited
    everyone = (TRUSTED, *RING)
    for verifier in everyone:
        assert checks.claim(bytes(verifier.verify_key)) is None
    audited = 0
    for _ in range(60):  # the draw is OS-random and favours the trusted verifier; ring members still come first often
        if audited >= 3:
            break
        cid = submit(checks)
        first = next((v, c) for v in everyone if (c := checks.claim(bytes(v.verify_key))) is not None)
        phase = checks.submit_verdict(signed_verdict(first[0], first[1], "pass", clock.now)).phase
        if first[0] is not TRUSTED:
            assert phase == "audit"
            assert auditors(ledger, cid) == [key(TRUSTED)], "a fellow apprentice was drawn to audit"
            audited += 1
        answer_all(checks, clock, everyone)
    assert audited >= 3
    # Without a trusted verifier present, an apprentice's pass is still audited, by anyone eligible.
    clock.now += 10 * 60_000
    for verifier in RING:
        assert checks.claim(bytes(verifier.verify_key)) is None
    cid = submit(checks)
    first = next((v, c) for v in RING if (c := checks.claim(bytes(v.verify_key))) is not None)
    assert checks.submit_verdict(signed_verdict(first[0], first[1], "pass", clock.now)).phase == "audit"
    (auditor,) = auditors(ledger, cid)
    assert auditor in {key(v) for v in RING} - {key(first[0])}
    assert answer_all(checks, clock, RING) == "decided"
    assert ledger.audit().ok


@pytest.mark.slow  # heavy: in the full tier only
def test_only_verifiers_serving_the_model_are_drawn_and_others_models_cannot_crowd_it_out(ledger: Ledger) -> None:
    clock = Clock()
    checks = desk(ledger, clock, rate=0.0)
    other, tiny = RING[0], RING[1]
    for _ in range(501):  # more than one poll looks at, of a model nobody checks
        submit(checks, model="nobody-checks-this")
    assert checks.claim(bytes(other.verify_key), ["other-model"]) is None
    assert checks.claim(bytes(tiny.verify_key), ["tiny"]) is None
    cid = submit(checks)
    for _ in range(5):  # whoever polls, the draw is among those that serve "tiny"
        assert checks.claim(bytes(other.verify_key), ["other-model"]) is None
    claimed = checks.claim(bytes(tiny.verify_key), ["tiny"])
    assert claimed is not None and claimed.challenge["challenge_id"] == cid


def test_a_verifier_that_drops_a_model_is_not_handed_its_open_assignment_of_it(ledger: Ledger) -> None:
    clock = Clock()
    checks = desk(ledger, clock, rate=0.0)
    verifier = RING[2]
    submit(checks)
    assert checks.claim(bytes(verifier.verify_key)) is not None  # asked for any model: serves all
    assert checks.claim(bytes(verifier.verify_key), ["other-model"]) is None
    assert checks.claim(bytes(verifier.verify_key)) is not None, "still open, and its own again on any model"


def test_presence_written_into_the_database_for_verifiers_that_never_ask_decides_nothing(ledger: Ledger) -> None:
    """Presence is operational state outside the chain (docs/auditing.md, "Presence"): whoever can write the
    database can make verifiers look present. Such a ghost can be drawn, but it never answers: its assignment
    lapses at its deadline to a verifier that asks, the challenge is decided by signed verdicts alone, and the
    audit is clean. What the tampering bought is delay, which the operator could cause anyway."""
    clock = Clock()
    checks = desk(ledger, clock, rate=0.0)
    verifier = RING[0]
    ghosts = [bytes(new_key().verify_key).hex() for _ in range(5)]

    def haunt() -> None:  # the tamperer keeps every ghost freshly "present"
        with ledger.engine.begin() as connection:
            connection.execute(text("DELETE FROM verifier_presence WHERE public_key != :v"), {"v": key(verifier)})
            for ghost in ghosts:
                connection.execute(
                    text("INSERT INTO verifier_presence (public_key, last_poll_ms, models) VALUES (:k, :t, NULL)"),
                    {"k": ghost, "t": clock.now},
                )

    assert checks.claim(bytes(verifier.verify_key)) is None
    lapsed = 0
    for _ in range(30):  # until a ghost was drawn at least once: (1/6)^30 that none ever is
        cid = submit(checks)
        claimed, deadlines = None, 0
        while claimed is None and deadlines < 300:  # a ghost is drawn 5 times in 6; (5/6)^300 is about 1e-24
            haunt()
            claimed = checks.claim(bytes(verifier.verify_key))
            if claimed is None:
                clock.now += 10_001  # past the ghost's deadline
                deadlines += 1
        assert claimed is not None and claimed.challenge["challenge_id"] == cid
        assert checks.submit_verdict(signed_verdict(verifier, claimed, "pass", clock.now)).phase == "decided"
        with ledger.engine.connect() as connection:
            verdicts = connection.execute(text("SELECT verifier_key FROM verdicts WHERE challenge_id = :c"), {"c": cid})
            assert list(verdicts.scalars()) == [key(verifier)]
            ghosted = connection.execute(
                text("SELECT count(*) FROM assignments WHERE challenge_id = :c AND verifier_key != :v"),
                {"c": cid, "v": key(verifier)},
            ).scalar_one()
        assert ghosted == deadlines  # every lapsed assignment was a ghost's, replaced at its deadline
        lapsed += deadlines
        if lapsed:
            break
    assert lapsed > 0
    report = ledger.audit()
    assert report.ok, report.problems[:5]
