"""Honest sessions served the way a batching server serves them, and how a check judges them.

A server computes concurrent sessions' one-token steps in one forward pass (``node.server.step_batcher``). What
that changes for a check is the rounding: the projections see several rows at once. ``serve_together`` serves a
group of sessions like that (each prompt alone, then every decode step in rounds, one forward pass per round over
the sessions with a step left: the most a server ever batches them), and ``severity`` gives what a check makes of
one of them: its worst statistic over the threshold it is judged by (above 1 fails). Served alone, a session's
outputs are ``verifier.escalation.replay_stepwise``'s. The batching benchmark and the tests that no honest
batching server is failed stand on these.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.verifier.calibration import judge, replay_of
from swarmtrust.verifier.tolerance_document import SpanTolerance


def serve_together(span: Span, sessions: Sequence[Sequence[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Each session's outputs when their prompts (first steps) run alone and their one-token steps share a
    forward pass, round by round, with every session that still has one."""
    states = [CacheState() for _ in sessions]
    outputs = [[span.forward(steps[0], state)] for steps, state in zip(sessions, states, strict=True)]
    rounds = max(len(steps) for steps in sessions)
    for index in range(1, rounds):
        live = [n for n, steps in enumerate(sessions) if index < len(steps)]
        if len(live) == 1:
            n = live[0]
            outputs[n].append(span.forward(sessions[n][index], states[n]))
            continue
        batched = span.forward_sessions(
            [sessions[n][index] for n in live], [states[n] for n in live], start=span.start, end=span.end
        )
        for n, output in zip(live, batched, strict=True):
            outputs[n].append(output)
    return outputs


def severity(span: Span, tolerance: SpanTolerance, steps: Sequence[torch.Tensor], outputs: list[torch.Tensor]) -> float:
    """How close a check of this session comes to failing it: its largest statistic over the threshold it is
    judged by (the replay is the verifier's, one prefill; above 1 fails)."""
    statistics = judge(replay_of(span, list(steps)), outputs)
    thresholds = tolerance.for_session(statistics)
    return max(thresholds.severity(statistics).values())
