"""Probe prompts: composed afresh, of exactly the length asked for, from a space too large to list."""

from __future__ import annotations

import functools
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from swarmtrust.verifier.prompts import (
    ProbeCorpusError,
    PromptGenerator,
    corpus_from_directory,
    corpus_from_texts,
    standard_corpus,
)
from tests.node.swarm_helpers import tiny


@functools.cache
def encode() -> object:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny().directory), local_files_only=True)
    return lambda text: list(tokenizer(text).input_ids)


def generator(seed: int) -> PromptGenerator:
    return PromptGenerator(standard_corpus(), encode(), random.Random(seed))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(tokens=st.integers(min_value=1, max_value=400), seed=st.integers(min_value=0, max_value=2**32))
@pytest.mark.slow  # heavy: in the full tier only
def test_a_prompt_has_exactly_the_tokens_asked_for_and_starts_like_a_client_s(tokens: int, seed: int) -> None:
    ids = generator(seed).prompt(tokens)
    assert len(ids) == tokens
    assert ids[0] == 1, "the tokenizer's BOS comes first, as in a client's prompt"
    assert all(isinstance(i, int) and 0 <= i < 300 for i in ids)


@pytest.mark.slow  # heavy: in the full tier only
def test_prompts_do_not_repeat_and_come_from_no_fixed_list() -> None:
    """2,000 prompts of one common length: all different, and nothing like a handful of texts re-cut: most
    openings (first 8 tokens after BOS) are their own (only the forms clients use, "User:", "Explain",
    recur), and the vocabulary is large."""
    rng_generator = generator(1)
    prompts = [tuple(rng_generator.prompt(40)) for _ in range(2000)]
    assert len(set(prompts)) == len(prompts)
    openings = Counter(p[1:9] for p in prompts)
    assert len(openings) > 0.6 * len(prompts), openings.most_common(3)
    # the words used keep growing: a large vocabulary, not a list of texts
    words = {w for p in prompts for w in bytes(i - 3 for i in p[1:] if i >= 3).split()}
    assert len(words) > 3000


def test_two_verifiers_generate_different_prompts() -> None:
    assert generator(7).prompt(30) != generator(8).prompt(30)


def test_a_prompt_of_no_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="1 or more"):
        generator(0).prompt(0)


def test_a_corpus_of_ones_own_is_used_and_a_poor_one_refused(tmp_path: Path) -> None:
    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(3000)]
    (tmp_path / "notes.txt").write_text(" ".join(rng.choice(vocabulary) for _ in range(20_000)))
    corpus = corpus_from_directory(tmp_path)
    ids = PromptGenerator(corpus, encode(), rng).prompt(60)  # type: ignore[arg-type]
    assert len(ids) == 60
    with pytest.raises(ProbeCorpusError, match="more text"):
        corpus_from_texts(["too little text here"], ["x = 1"])
    with pytest.raises(ProbeCorpusError, match="not a directory"):
        corpus_from_directory(tmp_path / "missing")
