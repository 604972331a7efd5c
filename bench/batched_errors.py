"""What batching concurrent sessions' decode steps does to honest error, as a check sees it.

Groups of ``GROUP`` honest sessions of ``tiny`` (each a prompt of 1 to 64 tokens, then 0 to 48 one-token steps,
from real token embeddings, on a random span: how ``verifier calibrate`` draws them) are served twice on the
same span: each session alone, and as a batching server serves them (``verifier.batched_serving``: every decode
round one forward pass over the sessions with a step left). A verifier's check of each session (one prefill
replay, the session statistics, the shipped tolerance document's thresholds) gives its severity (largest
statistic over its threshold; above 1 fails). Reported per dtype: how often a batched step's output differs in
any bit from the lone one, the severities alone and batched, and the false positives.
"""

from __future__ import annotations

import logging
import random
import statistics

import torch

from bench.plots import bar_chart
from bench.report import Section, Target, machine_summary, table
from swarmtrust.node.model.head import ModelHead
from swarmtrust.node.model.source import resolve_model
from swarmtrust.node.model.span import Span
from swarmtrust.verifier.batched_serving import serve_together, severity
from swarmtrust.verifier.calibration import DECODE_STEPS, PROMPT_TOKENS
from swarmtrust.verifier.escalation import replay_stepwise
from swarmtrust.verifier.tolerance import load_tolerances

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
GROUP = 16  # sessions served together: the most a pass batches by default (`--batch-sessions`)
GROUPS = 20  # per dtype


def draw_group(head: ModelHead, rng: random.Random) -> list[list[torch.Tensor]]:
    vocab = head.embed_tokens.num_embeddings
    sessions = []
    for _ in range(GROUP):
        prompt, decode = rng.randint(*PROMPT_TOKENS), rng.randint(*DECODE_STEPS)
        ids = torch.tensor([[rng.randint(3, vocab - 1) for _ in range(prompt + decode)]])
        embeddings = head.embed(ids)
        sessions.append([embeddings[:, :prompt]] + [embeddings[:, t : t + 1] for t in range(prompt, prompt + decode)])
    return sessions


def measure(dtype: str, head: ModelHead, seed: int) -> dict[str, float]:
    source = resolve_model("tiny")
    tolerances = load_tolerances()
    rng = random.Random(seed)
    alone: list[float] = []  # each session's severity served alone
    batched: list[float] = []  # and served in a batch
    differing = decode_steps = 0
    spans: dict[tuple[int, int], Span] = {}
    for _ in range(GROUPS):
        start = rng.randrange(head.num_blocks)
        end = rng.randint(start + 1, head.num_blocks)
        if (start, end) not in spans:
            spans[(start, end)] = Span.load(source, start, end, getattr(torch, dtype))
        span = spans[(start, end)]
        tolerance = tolerances.span(source.model_id, start, end, dtype)
        sessions = [[x.to(span.dtype) for x in steps] for steps in draw_group(head, rng)]
        for steps, shared in zip(sessions, serve_together(span, sessions), strict=True):
            lone = replay_stepwise(span, steps)
            differing += sum(not torch.equal(a, b) for a, b in zip(lone[1:], shared[1:], strict=True))
            decode_steps += len(steps) - 1
            alone.append(severity(span, tolerance, steps, lone))
            batched.append(severity(span, tolerance, steps, shared))
    return {
        "sessions": len(batched),
        "decode_steps": decode_steps,
        "differing": differing / decode_steps if decode_steps else 0.0,
        "alone_median": statistics.median(alone),
        "alone_max": max(alone),
        "batched_median": statistics.median(batched),
        "batched_max": max(batched),
        "alone_fp": sum(s > 1 for s in alone),
        "batched_fp": sum(s > 1 for s in batched),
    }


def run() -> Section:
    torch.set_num_threads(1)
    head = ModelHead(resolve_model("tiny"))
    figures: dict[str, dict[str, float]] = {}
    for index, dtype in enumerate(DTYPES):
        log.info("batched-errors: %s", dtype)
        figures[dtype] = measure(dtype, head, seed=index)
    rows = [
        [
            dtype,
            f"{f['sessions']:.0f} ({f['decode_steps']:,.0f} decode steps)",
            f"{f['differing']:.1%}",
            f"{f['alone_median']:.3f} / {f['alone_max']:.3f}",
            f"{f['batched_median']:.3f} / {f['batched_max']:.3f}",
            f"{f['alone_fp']:.0f} / {f['batched_fp']:.0f}",
        ]
        for dtype, f in figures.items()
    ]
    worst = max(f["batched_max"] for f in figures.values())
    false_positives = sum(f["batched_fp"] for f in figures.values())
    targets = (
        Target("honest sessions failed when their decode steps were batched", f"{false_positives:.0f}", "0",
               false_positives == 0),
        Target("batched honest sessions: largest severity (statistic ÷ threshold)", f"{worst:.3f}", "< 1", worst < 1),
    )  # fmt: skip
    markdown = "\n\n".join(
        [
            "## Batching and honest error (issue 21)",
            f"Machine: {machine_summary()}. {GROUPS} groups of {GROUP} honest sessions of `tiny` per dtype, drawn "
            "as `verifier calibrate` draws them (prompts of 1 to 64 tokens, 0 to 48 decode steps, a random span), "
            "each served alone and as a batching server serves it (every decode round one forward pass over the "
            "sessions with a step left), then judged by a check: one prefill replay, the session statistics, the "
            "shipped tolerance document. Severity is a session's largest statistic over its threshold (above 1 "
            "fails).",
            table(
                [
                    "dtype",
                    "sessions",
                    "batched decode steps differing in any bit from lone ones",
                    "severity alone, median / largest",
                    "severity batched, median / largest",
                    "false positives alone / batched",
                ],
                rows,
            ),
            "Batching moves low bits ("
            + ", ".join(f"{figures[d]['differing']:.0%} of decode steps in {d}" for d in DTYPES)
            + "): the projections see several rows, another kernel path. The prefill replay a check compares "
            "against already takes another path than either, so the severities batched are those of lone serving. "
            "Exact (bit-for-bit) comparison is another matter: a batched step cannot be replayed bit for bit "
            "without the other sessions' inputs, so servers in a swarm whose verifiers use `--exact-replay` serve "
            "with `--batch-sessions 1`.",
            bar_chart(
                "batched-errors",
                "Honest sessions' largest severity, alone and batched",
                list(DTYPES),
                {
                    "alone": [figures[d]["alone_max"] for d in DTYPES],
                    "batched": [figures[d]["batched_max"] for d in DTYPES],
                },
                ylabel="largest statistic ÷ threshold",
                target=1.0,
            ),
        ]
    )
    return Section("batched-errors", markdown, targets)
