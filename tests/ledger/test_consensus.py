"""The round logic of a challenge (pure): when a dispute may decide, and when it must poll on."""

from __future__ import annotations

from ledger.consensus import RoundVerdict, next_step

RELIABLE = 2 / 3  # a new verifier's reliability


def votes(*outcomes: tuple[str, str]) -> list[RoundVerdict]:
    return [
        RoundVerdict(f"{i:032x}", f"verifier-{i}", round_, outcome, RELIABLE)
        for i, (round_, outcome) in enumerate(outcomes)
    ]


def step(verdicts: list[RoundVerdict], wanted: int, *, can_escalate: bool = True):  # type: ignore[no-untyped-def]
    return next_step(
        "dispute", wanted, verdicts, dispute_verifiers=2, audit_rate=0.0, max_audit_rate=0.0, can_escalate=can_escalate
    )


def test_a_unanimous_failure_decides() -> None:
    decided = step(votes(("initial", "fail"), ("dispute", "fail"), ("dispute", "fail")), 2)
    assert decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "fail"


def test_a_clear_but_contested_failure_polls_on_while_verifiers_remain() -> None:
    # Three fails against one pass is a clear majority, yet the one pass may be the only honest verifier
    # among colluders who filled the seats: the dispute grows instead of convicting.
    contested = votes(("initial", "fail"), ("dispute", "fail"), ("dispute", "pass"), ("dispute", "fail"))
    assert step(contested, 3).action == "dispute"
    assert step(contested, 3).wanted == 5


def test_once_every_verifier_has_spoken_the_weighted_majority_decides() -> None:
    contested = votes(("initial", "fail"), ("dispute", "fail"), ("dispute", "pass"), ("dispute", "fail"))
    decided = step(contested, 3, can_escalate=False)
    assert decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "fail"


def test_a_clear_pass_stands_even_when_contested() -> None:
    cleared = votes(("initial", "fail"), ("dispute", "pass"), ("dispute", "pass"), ("dispute", "pass"))
    decided = step(cleared, 3)
    assert decided.action == "decide" and decided.decision is not None and decided.decision.outcome == "pass"
