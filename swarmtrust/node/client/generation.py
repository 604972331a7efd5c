"""Generation through the swarm: embeddings, LM head and the choice of each token here, blocks on the servers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from swarmtrust.node.client.evidence import HopEvidence
from swarmtrust.node.client.faults import Fault
from swarmtrust.node.client.session import Failover, HopRecord, InferenceSession
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.sampling import StopRule, TokenChooser


@dataclass(frozen=True)
class GenerationResult:
    tokens: list[int]  # the new tokens
    steps: list[list[HopRecord]]  # per step, per hop (failover replays are not steps)
    failovers: list[Failover]
    faults: list[Fault]
    final_hidden: list[torch.Tensor]  # per step: the last block's output after the final norm
    kept_evidence: list[HopEvidence] = field(default_factory=list)  # spot-checked sessions
    challenges: list[dict[str, Any]] = field(default_factory=list)  # what the ledger said of their challenges
    payments: list[dict[str, Any]] = field(default_factory=list)  # what each server session was paid (if paying)
    replays: list[HopRecord] = field(default_factory=list)  # failover replays (billed like steps)
    stopped: str = "length"  # why generation ended: "length" (the token budget), "eos" or "stop string"

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "stopped": self.stopped,
            "steps": [
                {"step": index, "hops": [_hop_json(hop) for hop in hops]} for index, hops in enumerate(self.steps)
            ],
            "replays": [_hop_json(hop) for hop in self.replays],
            "failovers": [
                {
                    "step": f.step,
                    "failed_server": f.failed_server,
                    "blocks": list(f.blocks),
                    "replacements": list(f.replacements),
                    "replayed_tokens": f.replayed_tokens,
                }
                for f in self.failovers
            ],
            "faults": [
                {"step": f.step, "server_key": f.server_key, "reason": f.reason, "message": f.message}
                for f in self.faults
            ],
            "challenges": self.challenges,
            "payments": self.payments,
        }


def _hop_json(hop: HopRecord) -> dict[str, Any]:
    receipt = hop.receipt
    return {
        "server_key": hop.server_key,
        "blocks": list(hop.blocks),
        "seconds": round(hop.seconds, 6),
        "check_seconds": round(hop.check_seconds, 6),
        "pushed": hop.pushed,
        "receipt": receipt.record.summary() | {"digest": receipt.digest.hex()} if receipt else None,
    }


async def generate_tokens(
    session: InferenceSession,
    head: ModelHead,
    prompt_ids: list[int],
    max_new_tokens: int,
    *,
    chooser: TokenChooser | None = None,
    stop: StopRule = StopRule(),
    decode: Callable[[Sequence[int]], str] | None = None,
    on_token: Callable[[int], None] | None = None,
) -> GenerationResult:
    """One prefill over the prompt, then one token per step, chosen by ``chooser`` (default: greedy), until
    ``max_new_tokens`` or ``stop`` (``decode`` reads the text for stop strings); ``on_token`` hears each token
    as soon as it is chosen."""
    choose = chooser or TokenChooser()
    tokens: list[int] = []
    final_hidden: list[torch.Tensor] = []
    stopped = "length"
    hidden = head.embed(torch.tensor([prompt_ids]))
    try:
        for _ in range(max_new_tokens):
            output = await session.step(hidden)
            normed = head.final_norm(output)
            final_hidden.append(normed)
            token = choose(head.logits_of_normed(normed[:, -1:])[0, -1])
            tokens.append(token)
            session.emit("step", {"step": len(tokens) - 1, "token": token, "route": session.route})
            if on_token is not None:
                on_token(token)
            if (reason := stop.reason(tokens, decode)) is not None:
                stopped = reason
                break
            hidden = head.embed(torch.tensor([[token]]))
    finally:
        await session.close()
    return GenerationResult(
        tokens,
        session.steps,
        session.failovers,
        session.faults,
        final_hidden,
        session.kept_evidence(),
        replays=session.replays,
        stopped=stopped,
    )
