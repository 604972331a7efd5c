"""``--behavior``: honest serving, and the adversaries that tests and the demo run.

Every cheater still signs honest-looking receipts over what it returned: the receipt binds it to its
output, and only recomputation (the verifier) can tell that the output is wrong. ``withhold`` instead
drops receipts, which a client notices at once.

    honest                 compute the span as asked
    noise:SCALE            add Gaussian noise of SCALE times the output's RMS to every step
    skip-layers            skip every second block of the requested span
    wrong-weights          serve perturbed weights (1% noise) while claiming the real weights' digest
    int8-weights           serve every Linear weight round-tripped through int8 (symmetric, one scale per output
                           channel: a cheap quantised model) while claiming the real weights' digest
    fp8-weights            serve every Linear weight round-tripped through float8_e4m3fn (one scale per tensor)
                           while claiming the real weights' digest
    cheat-rate:F           corrupt a random fraction F of steps (noise at 1% of the RMS)
    honest-then-cheat:N    serve N steps honestly, then corrupt every step
    withhold               compute honestly, send no receipts
    equivocate             compute honestly, but from a session's second step on, sign a second receipt for the
                           step before and chain each receipt to that one (two signatures for one step: the
                           client that notices holds a proof that convicts the server at the ledger)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from swarmtrust.protocol.errors import SwarmtrustError

CHEAT_NOISE = 0.01  # relative noise of a corrupted step, for cheat-rate and honest-then-cheat
WRONG_WEIGHTS_NOISE = 0.01  # relative perturbation of every weight, for wrong-weights
WEIGHT_CHANGES = ("wrong-weights", "int8-weights", "fp8-weights")  # the behaviours ``perturb_weights`` serves


class BehaviorError(SwarmtrustError):
    """A ``--behavior`` value that is not one of the documented modes."""


@dataclass(frozen=True)
class Behavior:
    spec: str = "honest"
    noise_scale: float = 0.0  # relative to the output's RMS, on corrupted steps
    cheat_rate: float = 0.0  # probability that a step (after the honest ones) is corrupted
    honest_steps: int = 0  # steps served honestly before corruption may start
    skip_layers: bool = False
    wrong_weights: bool = False  # serves changed weights under the real digest; how: ``spec`` (WEIGHT_CHANGES)
    withhold: bool = False
    equivocate: bool = False

    @property
    def is_honest(self) -> bool:
        return self.spec == "honest"


def parse_behavior(spec: str) -> Behavior:
    name, _, argument = spec.partition(":")
    try:
        if spec == "honest":
            return Behavior()
        if name == "noise" and argument:
            return Behavior(spec, noise_scale=_positive(float(argument)), cheat_rate=1.0)
        if spec == "skip-layers":
            return Behavior(spec, skip_layers=True, cheat_rate=1.0)
        if spec in WEIGHT_CHANGES:
            return Behavior(spec, wrong_weights=True)
        if name == "cheat-rate" and argument:
            rate = float(argument)
            if not 0.0 < rate <= 1.0:
                raise ValueError("the rate is a fraction in (0, 1]")
            return Behavior(spec, noise_scale=CHEAT_NOISE, cheat_rate=rate)
        if name == "honest-then-cheat" and argument:
            return Behavior(spec, noise_scale=CHEAT_NOISE, cheat_rate=1.0, honest_steps=int(argument))
        if spec == "withhold":
            return Behavior(spec, withhold=True)
        if spec == "equivocate":
            return Behavior(spec, equivocate=True)
    except ValueError as exc:
        raise BehaviorError(f"--behavior {spec!r}: {exc}") from exc
    raise BehaviorError(
        f"--behavior {spec!r} is not one of: honest, noise:SCALE, skip-layers, wrong-weights, int8-weights, "
        "fp8-weights, cheat-rate:F, honest-then-cheat:N, withhold, equivocate"
    )


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("the scale must be positive")
    return value


class BehaviorRuntime:
    """A server's behavior in action: counts the steps it served and decides which to corrupt."""

    def __init__(self, behavior: Behavior, seed: int | None = None) -> None:
        self.behavior = behavior
        self.steps_served = 0
        self._random = random.Random(seed)
        self._generator = torch.Generator().manual_seed(self._random.getrandbits(63))

    def skipped_blocks(self, start: int, end: int) -> frozenset[int]:
        """Blocks to leave out of ``[start, end)``: every second one from ``start + 1`` (at least one)."""
        if not self.behavior.skip_layers:
            return frozenset()
        skipped = frozenset(range(start + 1, end, 2))
        return skipped or frozenset({start})

    def finish_step(self, output: torch.Tensor) -> torch.Tensor:
        """The output a step returns: the computed one, or a corrupted copy on the steps it cheats."""
        self.steps_served += 1
        b = self.behavior
        if b.noise_scale <= 0 or self.steps_served <= b.honest_steps:
            return output
        if b.cheat_rate < 1.0 and self._random.random() >= b.cheat_rate:
            return output
        rms = output.float().pow(2).mean().sqrt()
        noise = torch.randn(output.shape, generator=self._generator) * (b.noise_scale * rms)
        return (output.float() + noise).to(output.dtype)


@torch.inference_mode()
def perturb_weights(layers: list[torch.nn.Module], spec: str = "wrong-weights", *, seed: int = 0) -> None:
    """Change the weights in place as the weight-changing behaviour ``spec`` serves them (WEIGHT_CHANGES)."""
    if spec not in WEIGHT_CHANGES:
        raise BehaviorError(f"--behavior {spec!r} changes no weights; one of {', '.join(WEIGHT_CHANGES)} does")
    if spec == "wrong-weights":
        _add_noise(layers, seed)
        return
    for layer in layers:
        for module in layer.modules():
            if isinstance(module, torch.nn.Linear):
                weight = module.weight
                weight.copy_(_round_trip(weight.float(), spec).to(weight.dtype))


def _add_noise(layers: list[torch.nn.Module], seed: int) -> None:
    """``wrong-weights``: shift every parameter by 1% of its own scale."""
    generator = torch.Generator().manual_seed(seed)
    for layer in layers:
        for parameter in layer.parameters():
            scale = parameter.float().abs().mean() * WRONG_WEIGHTS_NOISE
            noise = torch.randn(parameter.shape, generator=generator) * scale
            parameter.add_(noise.to(parameter.dtype))


FP8_MAX = float(torch.finfo(torch.float8_e4m3fn).max)  # 448: the per-tensor scale maps the largest weight here


def _round_trip(weight: torch.Tensor, spec: str) -> torch.Tensor:
    """A float32 (out, in) weight as a quantised server stores it, back in float32."""
    if spec == "int8-weights":  # symmetric, one scale per output channel (row): what int8 kernels use
        scale = (weight.abs().amax(dim=1, keepdim=True) / 127.0).clamp_min(1e-30)
        return (weight / scale).round().clamp(-127, 127) * scale
    scale = (weight.abs().max() / FP8_MAX).clamp_min(1e-30)  # fp8-weights: one scale per tensor
    return (weight / scale).to(torch.float8_e4m3fn).float() * scale
