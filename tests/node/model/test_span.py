from __future__ import annotations

import pytest
import torch

from swarmtrust.node.model.checkpoint import Checkpoint
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.span import CacheState, Span, SpanError
from swarmtrust.protocol.digests import span_digest
from tests.node.swarm_helpers import PROMPT, local_reference, relative_error, tiny


@pytest.fixture(scope="module")
def halves() -> tuple[Span, Span]:
    return Span.load(tiny(), 0, 4), Span.load(tiny(), 4, 8)


@pytest.mark.slow  # heavy: in the full tier only
def test_two_spans_with_kv_caches_reproduce_the_whole_model(halves: tuple[Span, Span]) -> None:
    first, second = halves
    head = ModelHead(tiny())
    reference = local_reference(8)
    states = CacheState(), CacheState()
    hidden = head.embed(torch.tensor([PROMPT]))
    for step in range(8):
        output = second.forward(first.forward(hidden, states[0]), states[1])
        assert relative_error(head.final_norm(output), reference.final_hidden[step]) < 1e-5
        token = int(head.logits(output[:, -1:])[0, -1].argmax())
        assert token == reference.tokens[step]
        hidden = head.embed(torch.tensor([[token]]))
    assert states[0].length == len(PROMPT) + 7


def test_a_chunk_after_a_cache_equals_one_prefill(halves: tuple[Span, Span]) -> None:
    first, _ = halves
    hidden = torch.randn(2, 9, 64, generator=torch.Generator().manual_seed(3))
    whole = first.forward(hidden, CacheState())
    state = CacheState()
    chunks = torch.cat([first.forward(hidden[:, :4], state), first.forward(hidden[:, 4:], state)], dim=1)
    assert relative_error(chunks, whole) < 1e-5
    assert relative_error(first.forward(hidden), whole) < 1e-6, "a stateless pass is a prefill"


def test_sub_spans_and_their_digests(halves: tuple[Span, Span]) -> None:
    first, _ = halves
    checkpoint = Checkpoint(tiny().directory)
    assert first.weights_digest == span_digest([checkpoint.layer_digest(i) for i in range(4)])
    assert first.digest_of(1, 3) == span_digest([checkpoint.layer_digest(1), checkpoint.layer_digest(2)])
    hidden = torch.randn(1, 3, 64, generator=torch.Generator().manual_seed(4))
    assert relative_error(first.forward(first.forward(hidden, end=2), start=2), first.forward(hidden)) < 1e-6
    with pytest.raises(SpanError, match="not within the served span 0:4"):
        first.forward(hidden, start=3, end=5)
    with pytest.raises(SpanError, match="hidden states must be"):
        first.forward(torch.zeros(1, 3, 32))
    with pytest.raises(SpanError, match="outside the model's 0:8"):
        Span.load(tiny(), 6, 9)


def test_bfloat16_stays_close_to_float32() -> None:
    fp32, bf16 = Span.load(tiny(), 0, 2), Span.load(tiny(), 0, 2, torch.bfloat16)
    hidden = torch.randn(1, 5, 64, generator=torch.Generator().manual_seed(5))
    low = bf16.forward(hidden).float()
    assert bf16.weights_digest == fp32.weights_digest, "the digest names the stored weights, not the compute dtype"
    assert 1e-5 < relative_error(low, fp32.forward(hidden)) < 0.05
