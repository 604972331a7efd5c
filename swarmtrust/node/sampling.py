"""Choosing the next token and knowing when to stop: greedy, or sampled with a temperature, top-k and top-p
from a seeded generator; stopping at end-of-sequence tokens and at stop strings.

The same ``TokenChooser`` runs in ``generate --local`` and through the swarm, so one seed gives one text
wherever the logits agree: each step draws exactly one number from the chooser's own generator."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from swarmtrust.protocol.errors import SwarmtrustError


class SamplingError(SwarmtrustError, ValueError):
    """A sampling setting out of its range; the message names it and the range."""


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen. The defaults are greedy decoding (the argmax of the logits)."""

    temperature: float = 0.0  # 0: greedy; above 0, logits are divided by it before sampling
    top_k: int = 0  # sample among the k most likely tokens only (0: all)
    top_p: float = 1.0  # ... and among the fewest whose probabilities sum to at least p (1: all)
    seed: int | None = None  # None: a fresh random seed each generation

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise SamplingError(f"temperature {self.temperature}: a finite number >= 0 (0: greedy)")
        if self.top_k < 0:
            raise SamplingError(f"top_k {self.top_k}: a whole number >= 0 (0: no limit)")
        if not 0 < self.top_p <= 1:
            raise SamplingError(f"top_p {self.top_p}: a number in (0, 1] (1: no limit)")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise SamplingError(f"seed {self.seed}: a whole number in [0, 2**63)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class TokenChooser:
    """Chooses one token per step from the logits over the vocabulary, as ``sampling`` says."""

    def __init__(self, sampling: Sampling = Sampling()) -> None:
        self.sampling = sampling
        seed = sampling.seed if sampling.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
        self._generator = torch.Generator().manual_seed(seed)

    def __call__(self, logits: torch.Tensor) -> int:
        """The next token from one position's logits (a 1-D tensor over the vocabulary)."""
        if self.sampling.greedy:
            return int(logits.argmax())
        logits = logits.detach().float().cpu()  # the generator lives on the CPU, wherever the model runs
        probabilities = keep_likely(logits / self.sampling.temperature, self.sampling).softmax(-1)
        return int(torch.multinomial(probabilities, 1, generator=self._generator))


def keep_likely(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """``logits`` with every token outside the top-k and the top-p nucleus set to -inf (the most likely token
    is always kept)."""
    kept = logits.clone()
    if 0 < sampling.top_k < kept.numel():
        threshold = torch.topk(kept, sampling.top_k).values[-1]
        kept[kept < threshold] = -math.inf
    if sampling.top_p < 1:
        ordered, order = torch.sort(kept, descending=True, stable=True)  # ties: the lower index first, always
        cumulative = ordered.softmax(-1).cumsum(-1)
        outside = cumulative - ordered.softmax(-1) >= sampling.top_p  # the mass before a token already reaches p
        kept[order[outside]] = -math.inf
    return kept


@dataclass(frozen=True)
class StopRule:
    """When generation ends before its token budget: after an end-of-sequence token (kept in the output, as
    transformers keeps it), or once the text holds a stop string."""

    token_ids: frozenset[int] = frozenset()
    strings: tuple[str, ...] = ()

    def reason(self, tokens: Sequence[int], decode: Callable[[Sequence[int]], str] | None) -> str | None:
        """Why generation stops after ``tokens`` ("eos" or "stop string"), or None to go on. ``decode``
        turns tokens into text; stop strings need it."""
        if tokens and tokens[-1] in self.token_ids:
            return "eos"
        if self.strings:
            if decode is None:
                raise SamplingError("stop strings need the model's tokenizer to read the text")
            text = decode(tokens)
            if any(stop in text for stop in self.strings):
                return "stop string"
        return None
