from __future__ import annotations

import pytest
import torch

from swarmtrust.node.behaviors import Behavior, BehaviorError, BehaviorRuntime, parse_behavior, perturb_weights


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("honest", Behavior()),
        ("noise:0.001", Behavior("noise:0.001", noise_scale=0.001, cheat_rate=1.0)),
        ("skip-layers", Behavior("skip-layers", skip_layers=True, cheat_rate=1.0)),
        ("wrong-weights", Behavior("wrong-weights", wrong_weights=True)),
        ("int8-weights", Behavior("int8-weights", wrong_weights=True)),
        ("fp8-weights", Behavior("fp8-weights", wrong_weights=True)),
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


@pytest.mark.parametrize("spec", ["int8-weights", "fp8-weights"])
def test_quantised_weights_round_trip_every_linear_weight_and_leave_the_norms(spec: str) -> None:
    layer = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.LayerNorm(32))
    torch.nn.init.normal_(layer[0].weight, generator=torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in layer.parameters()]
    perturb_weights([layer], spec)
    weight = layer[0].weight
    assert not torch.equal(weight, before[0])
    relative = ((weight - before[0]).abs().max() / before[0].abs().max()).item()
    assert 0 < relative < 0.07  # a few percent at most: close, yet not the real weights
    if spec == "int8-weights":  # one scale per output channel: at most 255 levels in each row
        assert all(len(torch.unique(row)) <= 255 for row in weight)
    else:  # one scale for the tensor: at most the 253 finite float8_e4m3fn values
        assert len(torch.unique(weight)) <= 253
    assert torch.equal(layer[1].weight, before[2]) and torch.equal(layer[1].bias, before[3])  # norms untouched
    assert torch.equal(layer[0].bias, before[1])


def test_only_weight_changing_behaviors_change_weights() -> None:
    with pytest.raises(BehaviorError, match="changes no weights"):
        perturb_weights([torch.nn.Linear(2, 2)], "noise:0.01")
