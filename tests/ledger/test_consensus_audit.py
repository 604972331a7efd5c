"""The audit re-runs the operator's consensus decisions: an honest ledger audits clean, and an operator (who
holds the ledger key and runs its own code) that logs a wrong audit chance, skips an audit its coin called
for, or decides a FAIL short of the quorum or against the majority is named, on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import swarmtrust.ledger.spotcheck_adjudication as adjudication_module
import swarmtrust.ledger.spotchecks as spotchecks_module
from swarmtrust.ledger.beacon_keeper import AuditBeacon
from swarmtrust.ledger.consensus import (
    ConsensusRules,
    Decision,
    NextStep,
    RoundVerdict,
    Vote,
    next_step,
    weighted_majority,
)
from swarmtrust.ledger.db import create_ledger_engine
from swarmtrust.ledger.eventlog import EventWriter
from swarmtrust.ledger.migrate import upgrade
from swarmtrust.ledger.spotchecks import SpotCheckPolicy, SpotChecks
from swarmtrust.ledger.store import Ledger
from tests.builders import challenge_for, evidence_session, new_key, signed_verdict

SERVER, CLIENT, LEDGER = new_key(), new_key(), new_key()
VERIFIERS = tuple(new_key() for _ in range(5))
Judge = Callable[[Any, str], str]  # (verifier, round) -> its verdict


@dataclass
class Clock:
    now: int = 1_795_000_000_000

    def __call__(self) -> int:
        return self.now


def desk(ledger: Ledger, clock: Clock, beacon: AuditBeacon | None = None, **policy: Any) -> SpotChecks:
    return SpotChecks(ledger.engine, LEDGER, SpotCheckPolicy(assignment_ttl_ms=10_000, **policy), clock=clock,
                      beacon=beacon)  # fmt: skip


def run_challenge(checks: SpotChecks, clock: Clock, judge: Judge) -> str:
    """Submit one challenge and let the verifiers answer whatever they are drawn for until it is decided."""
    receipts, evidence = evidence_session(SERVER, 2)
    encoded = evidence.encode()
    cid = checks.submit_challenge(challenge_for(CLIENT, receipts, encoded).to_wire(), encoded).challenge_id
    for _ in range(40):
        for verifier in VERIFIERS:
            claimed = checks.claim(bytes(verifier.verify_key))
            if claimed is None:
                continue
            result = checks.submit_verdict(
                signed_verdict(verifier, claimed, judge(verifier, claimed.assignment.record.round), clock.now)
            )
            if result.phase == "decided":
                assert result.outcome is not None
                return result.outcome
    raise AssertionError(f"challenge {cid} was not decided")


def present(checks: SpotChecks) -> None:
    for verifier in VERIFIERS:
        assert checks.claim(bytes(verifier.verify_key)) is None


def honest_pass(verifier: Any, round_: str) -> str:
    return "pass"


def first_fails(verifier: Any, round_: str) -> str:
    return "fail" if round_ == "initial" else "pass"


def all_fail(verifier: Any, round_: str) -> str:
    return "fail"


def consensus_problems(ledger: Ledger) -> list[str]:
    return [p.message for p in ledger.audit().problems if p.where.startswith("consensus[")]


def rigged(monkeypatch: pytest.MonkeyPatch, rig: Callable[[NextStep, Sequence[RoundVerdict]], NextStep]) -> None:
    """Run the desk with an operator's own ``next_step``: the honest one, then ``rig`` applied to its step."""

    def dishonest(phase: str, wanted: int, verdicts: Sequence[RoundVerdict], **kwargs: Any) -> NextStep:
        return rig(next_step(phase, wanted, verdicts, **kwargs), verdicts)

    monkeypatch.setattr(adjudication_module, "next_step", dishonest)


def majority(verdicts: Sequence[RoundVerdict]) -> Decision:
    return weighted_majority([Vote(v.assignment_id, v.verifier_key, v.outcome, v.reliability) for v in verdicts])


class HonestDrawBeacon(AuditBeacon):
    """Logs every draw as its coin says (follow=audit when coin < chance), whatever the desk then does."""

    def record_draw(
        self,
        writer: EventWriter,
        assignment: dict[str, Any],
        verdict_digest: bytes,
        coin: tuple[int, float],
        chance: float,
        audited: bool,
        now: int,
    ) -> None:
        super().record_draw(writer, assignment, verdict_digest, coin, chance, coin[1] < chance, now)


def test_an_honest_ledger_audits_clean_through_audits_disputes_and_convictions(ledger: Ledger) -> None:
    clock = Clock()
    checks = desk(ledger, clock, audit_rate=0.5)
    present(checks)
    outcomes = [run_challenge(checks, clock, judge) for judge in (honest_pass, first_fails, all_fail, honest_pass)]
    assert outcomes == ["pass", "pass", "fail", "pass"]
    report = ledger.audit()
    assert report.ok, report.problems


def test_rules_are_logged_once_and_a_change_is_logged_and_used_by_every_process(ledger: Ledger) -> None:
    clock = Clock()
    first = desk(ledger, clock, audit_rate=0.0, max_audit_rate=0.0)
    present(first)
    assert run_challenge(first, clock, honest_pass) == "pass"
    second = desk(ledger, clock, audit_rate=1.0, max_audit_rate=1.0, dispute_verifiers=3)
    present(second)
    # The first process now decides by the second's rules: an apprentice's pass is audited, by any process.
    assert run_challenge(first, clock, honest_pass) == "pass"
    with ledger.engine.connect() as connection:
        assert spotchecks_module.current_rules(connection) == ConsensusRules(3, 1.0, 1.0)
    report = ledger.audit()
    assert report.ok, report.problems
    assert report.kinds["consensus_policy"] == 2
    assert report.kinds["round"] == 1, "the second challenge was audited"


def test_a_wrong_audit_chance_is_named(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator holds its friends' passes to chance 0 (never audited), apprentices included."""

    def never_audit(step: NextStep, verdicts: Sequence[RoundVerdict]) -> NextStep:
        if step.audit_chance is None:
            return step
        return NextStep("decide", decision=majority(verdicts), audit_chance=0.0)

    rigged(monkeypatch, never_audit)
    clock = Clock()
    checks = desk(ledger, clock)
    present(checks)
    assert run_challenge(checks, clock, honest_pass) == "pass"
    problems = consensus_problems(ledger)
    assert any("the audit draw's chance is 0.0" in p and "give 1.0" in p for p in problems), problems


def test_an_audit_the_coin_called_for_and_skipped_is_named(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    def skip_audit(step: NextStep, verdicts: Sequence[RoundVerdict]) -> NextStep:
        if step.action != "audit":
            return step
        return NextStep("decide", decision=majority(verdicts), audit_chance=step.audit_chance)

    rigged(monkeypatch, skip_audit)
    clock = Clock()
    checks = desk(ledger, clock, HonestDrawBeacon(LEDGER))  # an apprentice: always audited
    present(checks)
    assert run_challenge(checks, clock, honest_pass) == "pass"
    problems = consensus_problems(ledger)
    assert any("after the audit draw" in p and "decided pass on 1 verdicts" in p and "audit round of 1" in p
               for p in problems), problems  # fmt: skip


def test_a_fail_short_of_the_quorum_is_named(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    def convict_at_once(step: NextStep, verdicts: Sequence[RoundVerdict]) -> NextStep:
        if any(v.outcome == "fail" for v in verdicts):
            return NextStep("decide", decision=majority(verdicts))
        return step

    rigged(monkeypatch, convict_at_once)
    clock = Clock()
    checks = desk(ledger, clock)
    present(checks)
    assert run_challenge(checks, clock, first_fails) == "fail"
    problems = consensus_problems(ledger)
    assert any("decided fail on 1 verdicts" in p and "dispute round of 2" in p for p in problems), problems


def test_a_fail_against_the_majority_is_named(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    def convict_on_quorum(step: NextStep, verdicts: Sequence[RoundVerdict]) -> NextStep:
        if step.action == "decide" and step.decision is not None and len(verdicts) >= 3:
            return NextStep("decide", decision=Decision("fail", *_weights(step.decision)))
        return step

    rigged(monkeypatch, convict_on_quorum)
    clock = Clock()
    checks = desk(ledger, clock)
    present(checks)
    assert run_challenge(checks, clock, first_fails) == "fail"
    problems = consensus_problems(ledger)
    assert any("the ledger decided fail on" in p and "allows decide pass" in p for p in problems), problems


def _weights(decision: Decision) -> tuple[float, float, float]:
    return decision.pass_weight, decision.fail_weight, decision.invalid_weight


@pytest.mark.parametrize("how", ["flag", "environment"])
@pytest.mark.slow  # heavy: in the full tier only
def test_api_serve_refuses_fewer_than_two_dispute_verifiers_before_doing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from typer.testing import CliRunner

    from swarmtrust.api.cli import app

    key = tmp_path / "ledger.key"
    args = ["--db", f"sqlite:///{tmp_path}/ledger.db", "--key", str(key), "--port", "0"]
    if how == "flag":
        args += ["--dispute-verifiers", "1"]
    else:
        monkeypatch.setenv("SWARMTRUST_DISPUTE_VERIFIERS", "1")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())  # unwrapped from typer's box
    assert "dispute_verifiers must lie in [2, 64], got 1" in said, said
    assert not key.exists() and not (tmp_path / "ledger.db").exists(), "refused before touching anything"


OUTCOMES = st.sampled_from(["pass", "fail", "invalid_evidence"])


@given(
    rate=st.sampled_from([0.0, 0.3, 1.0]),
    verdicts=st.lists(st.lists(OUTCOMES, min_size=5, max_size=5), min_size=1, max_size=3),
    waits=st.lists(st.sampled_from([0, 0, 11_000, 200_000]), min_size=120, max_size=120),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.slow  # heavy: in the full tier only
def test_whatever_verifiers_say_and_whenever_they_answer_an_honest_ledger_audits_clean(
    tmp_path: Path, rate: float, verdicts: list[list[str]], waits: list[int]
) -> None:
    """Property: over every verdict a verifier could give, deadlines missed (a slot drawn again, a round
    decided without a verifier that vanished) and presence lapsing, the honest desk's every draw, round and
    outcome is one the audit allows."""
    with tempfile.TemporaryDirectory(dir=tmp_path) as where:
        url = f"sqlite:///{where}/ledger.db"
        engine = create_ledger_engine(url)
        upgrade(engine)
        engine.dispose()
        with Ledger.open(url) as ledger:
            clock = Clock()
            checks = desk(ledger, clock, audit_rate=rate)
            present(checks)
            tick = iter(waits)
            says_on: dict[bytes, list[str]] = {}
            for says in verdicts:  # every challenge open at once: one's outcome moves reliabilities under another
                receipts, evidence = evidence_session(SERVER, 1, hidden=8)
                encoded = evidence.encode()
                submitted = checks.submit_challenge(challenge_for(CLIENT, receipts, encoded).to_wire(), encoded)
                says_on[bytes.fromhex(submitted.challenge_id)] = says
            for _ in range(12 * len(verdicts)):
                for index, verifier in enumerate(VERIFIERS):
                    claimed = checks.claim(bytes(verifier.verify_key))
                    clock.now += next(tick, 0)
                    if claimed is not None and index != 4:  # the last verifier never answers
                        says = says_on[claimed.assignment.record.challenge_id]
                        checks.submit_verdict(signed_verdict(verifier, claimed, says[index], clock.now))
            report = ledger.audit()
    assert report.ok, report.problems
