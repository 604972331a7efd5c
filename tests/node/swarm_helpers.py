"""Helpers shared by the swarm tests: the local reference and hidden-state comparisons."""

from __future__ import annotations

import functools

import torch

from swarmtrust.node.model.local import LocalGeneration, LocalModel
from swarmtrust.node.model.source import ModelSource, resolve_model

PROMPT = [1, 75, 104, 111, 111, 114, 35, 118]  # "<s>Hello s" in the tiny byte-level vocabulary
FP32_RELATIVE_TOLERANCE = 1e-5  # honest fp32 through the swarm vs in-process, relative to max |value|


@functools.cache
def tiny() -> ModelSource:
    return resolve_model("tiny")


@functools.cache
def local_reference(steps: int) -> LocalGeneration:
    return LocalModel(tiny()).generate(PROMPT, steps)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


def max_relative_error(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    assert len(got) == len(want)
    return max(relative_error(g, w) for g, w in zip(got, want, strict=True))
