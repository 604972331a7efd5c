"""Helpers shared by the swarm tests: the local reference, hidden-state comparisons, and waiting for a line."""

from __future__ import annotations

import functools
import time

import torch

from swarmtrust.launcher import ChildProcess
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


def wait_for_line(process: ChildProcess, needle: str, timeout: float = 180.0) -> str:
    """The first stderr line of ``process`` holding ``needle``, polled: the process decides when to print it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(process.log) if needle in line]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no line with {needle!r} within {timeout} s:\n{process.stderr()}")
