from __future__ import annotations

import pytest
import torch

from node.behaviors import Behavior, BehaviorError, BehaviorRuntime, parse_behavior


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("honest", Behavior()),
        ("noise:0.001", Behavior("noise:0.001", noise_scale=0.001, cheat_rate=1.0)),
        ("skip-layers", Behavior("skip-layers", skip_layers=True, cheat_rate=1.0)),
        ("wrong-weights", Behavior("wrong-weights", wrong_weights=True)),
        ("cheat-rate:0.1", Behavior("cheat-rate:0.1", noise_scale=0.01, cheat_rate=0.1)),
        ("honest-then-cheat:5", Behavior("honest-then-cheat:5", noise_scale=0.01, cheat_rate=1.0, honest_steps=5)),
        ("withhold", Behavior("withhold", withhold=True)),
    ],
)
def test_documented_behaviors_parse(spec: str, expected: Behavior) -> None:
    assert parse_behavior(spec) == expected


@pytest.mark.parametrize("spec", ["evil", "noise", "noise:-1", "cheat-rate:2", "cheat-rate:x", "honest-then-cheat:x"])
def test_unknown_behaviors_are_refused(spec: str) -> None:
    with pytest.raises(BehaviorError, match="--behavior"):
        parse_behavior(spec)


def test_cheat_rate_corrupts_about_that_fraction_and_honest_steps_come_first() -> None:
    output = torch.ones(1, 1, 64)
    runtime = BehaviorRuntime(parse_behavior("cheat-rate:0.1"), seed=7)
    corrupted = sum(not torch.equal(runtime.finish_step(output), output) for _ in range(2000))
    assert 140 < corrupted < 260
    patient = BehaviorRuntime(parse_behavior("honest-then-cheat:3"), seed=7)
    changed = [not torch.equal(patient.finish_step(output), output) for _ in range(6)]
    assert changed == [False, False, False, True, True, True]


def test_skip_layers_leaves_out_every_second_block() -> None:
    runtime = BehaviorRuntime(parse_behavior("skip-layers"))
    assert runtime.skipped_blocks(0, 4) == {1, 3}
    assert runtime.skipped_blocks(5, 6) == {5}
    assert BehaviorRuntime(Behavior()).skipped_blocks(0, 4) == frozenset()
