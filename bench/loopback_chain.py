"""Decode steps per second and prefill tokens per second through loopback chains of 2 and 4 servers, the trust
layer on and off in each, and the whole model in-process (``generate --local``) as the upper bound.

``tiny`` split 0:4 / 4:8 over two server processes, and 0:2 / 2:4 / 4:6 / 6:8 over four; one session at a time,
the client in this process, one torch thread per process. Prefill is a session's first step over a
``PROMPT_TOKENS``-token prompt, timed from the call to the step's arrival, session opening included: what a
user waits for before the first token.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import torch

from bench.crypto_floor import ed25519_ms, receipt_after_pass_ms
from bench.plots import bar_chart
from bench.report import (
    Section,
    Target,
    in_turn,
    machine_summary,
    median,
    paired_cost,
    round_costs,
    save_results,
    table,
)
from bench.swarm_decode import DECODE_STEPS, chain_decode, chain_rate, local_rate
from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.model.local import LocalModel
from swarmtrust.node.model.source import resolve_model

log = logging.getLogger(__name__)

ROUNDS = 9
PROMPT_TOKENS = 128
SPANS = {2: ("0:4", "4:8"), 4: ("0:2", "2:4", "4:6", "6:8")}


def span_blocks(blocks: str) -> tuple[int, int]:
    """``"0:4"`` as ``(0, 4)``."""
    start, end = blocks.split(":")
    return int(start), int(end)


def prompt() -> list[int]:
    return [1 + (7 * i) % 250 for i in range(PROMPT_TOKENS)]  # byte-level ids, no special tokens past the first


def prefill_rate(client: SwarmClient, servers: list[ServerInfo]) -> float:
    """Prompt tokens per second of a session's first step, session opening included."""
    arrived: list[float] = []

    def on_event(kind: str, data: dict[str, object]) -> None:
        if kind == "step" and not arrived:
            arrived.append(time.perf_counter())

    started = time.perf_counter()
    result = client.generate(resolve_model("tiny"), prompt(), 1, servers=servers, on_event=on_event)
    if result.faults:
        raise RuntimeError(f"the benchmark chain had faults: {result.faults}")
    return PROMPT_TOKENS / (arrived[0] - started)


def local_prefill_rate(model: LocalModel) -> float:
    started = time.perf_counter()
    model.generate(prompt(), 1)
    return PROMPT_TOKENS / (time.perf_counter() - started)


def floor_markdown(
    steps: dict[str, float], checking: dict[str, float], ed25519: float, receipts: dict[int, float]
) -> str:
    """Where the trust layer's cost goes, in time a decode step (``checking``: the client's ms a step reading and
    checking replies, by configuration), beside Ed25519's own cost in a tight loop and a hop's whole receipt after
    a forward pass (``receipts``, by chain length): the floor."""
    rows = []
    for length in SPANS:
        on, off = f"{length}-on", f"{length}-off"
        step = 1000 / steps[off]
        rows.append(
            [
                f"chain of {length} servers",
                f"{step:.2f}",
                f"{1000 / steps[on] - step:+.2f}",
                f"{checking[on]:.2f} / {checking[off]:.2f}",
                f"{length * ed25519:.2f} ({length * ed25519 / step:.1%} of a step)",
                f"{length * receipts[length]:.2f} ({length * receipts[length] / step:.1%})",
            ]
        )
    return "\n\n".join(
        [
            "### Where the cost goes",
            table(
                [
                    "configuration",
                    "ms a decode step, trust off",
                    "added by the trust layer",
                    "client reading and checking replies, on / off",
                    "Ed25519 alone, every hop's receipt signed and checked in a tight loop",
                    "every hop's whole receipt, each right after a forward pass",
                ],
                rows,
            ),
            "The client checks every hop's receipt at once, before it uses the output: its signature, and that it "
            "names what was sent and received. Each server signs one receipt a step. Ed25519 is therefore the floor "
            "of the trust layer's cost; as a chain runs it, right after a forward pass, a receipt costs more. The last "
            "column times, in this process once the chain is down, each hop's whole receipt (digests, record, "
            "signature, then the client's digests and check) right after a one-token forward pass of that hop's "
            "blocks: the pass leaves the CPU's caches holding weights and activations, not the receipt's code and "
            "tables, as in the chain (before the client's check, messaging runs there instead of a pass). The "
            "client's reading and checking of the replies is timed where it runs, "
            "from a reply's arrival to its use: the difference between its two figures is what checking receipts "
            "takes in a running chain, against Ed25519's tight-loop time beside it (caches are cold after the "
            "forward pass and the messaging, and every process shares the two cores). The checks of hops before the "
            "last overlap the next servers' compute, so with more servers they add less to a step than they take. "
            "Tried and not kept: checking the last hop's receipt on a worker thread while the client computes the "
            "next token from the output (still sending and showing nothing before the check passed) made the chain "
            "slower, not faster (a cost of 9.6% against 6.1% in the same run): handing work between threads costs "
            "more than the check it hides. Caching the hop's weights digest and reusing a pushed input's digest from "
            "the previous hop's receipt did not move the client's checking time beyond its noise: not kept either.",
        ]
    )


def run() -> Section:
    torch.set_num_threads(1)
    source = resolve_model("tiny")
    decode: dict[str, list[float]] = {}
    prefill: dict[str, list[float]] = {}
    checking: dict[str, list[float]] = {}  # the client's reading and checking of replies, ms a decode step
    with tempfile.TemporaryDirectory() as tmp, LocalSwarm(Path(tmp)) as swarm:
        swarm.start_dht()
        swarm.start_api()
        launched = {}
        for length, spans in SPANS.items():
            for index, blocks in enumerate(spans):
                launched[(length, "on", index)] = swarm.launch_server(f"c{length}-{index}", blocks)
                launched[(length, "off", index)] = swarm.launch_server(
                    f"c{length}-{index}-plain", blocks, "--no-receipts"
                )
        keys = {key: LocalSwarm.ready(server)["public_key"] for key, server in launched.items()}
        local = LocalModel(source)
        with (
            SwarmClient([swarm.peer], ledger_url=swarm.api_url) as trusting,
            SwarmClient([swarm.peer], config=ClientConfig(receipts=False)) as unchecked,
        ):
            servers = {s.key: s for s in trusting.wait_for_blocks("tiny", 8, min_servers=len(launched))}
            chains = {
                f"{length}-{trust}": (
                    trusting if trust == "on" else unchecked,
                    [servers[keys[(length, trust, i)]] for i in range(len(spans))],
                )
                for length, spans in SPANS.items()
                for trust in ("on", "off")
            }
            for client, chain in chains.values():  # warm-up
                chain_rate(client, chain)
            local_rate(local)
            for round_index in range(ROUNDS):
                log.info("round %d/%d", round_index + 1, ROUNDS)
                for key in in_turn(round_index, list(chains)):
                    client, chain = chains[key]
                    run = chain_decode(client, chain)
                    decode.setdefault(key, []).append(run.rate)
                    checking.setdefault(key, []).append(run.check_ms)
                    prefill.setdefault(key, []).append(prefill_rate(client, chain))
                decode.setdefault("local", []).append(local_rate(local))
                prefill.setdefault("local", []).append(local_prefill_rate(local))
        ed25519 = ed25519_ms()
        receipts = {length: receipt_after_pass_ms(source, *span_blocks(spans[0])) for length, spans in SPANS.items()}
    steps = {key: median(values) for key, values in decode.items()}
    tokens = {key: median(values) for key, values in prefill.items()}
    kept: dict[str, dict[str, object]] = {key: {"decode": steps[key], "prefill": tokens[key]} for key in steps}
    costs = {length: paired_cost(decode[f"{length}-on"], decode[f"{length}-off"]) for length in SPANS}
    for length in SPANS:
        kept[f"{length}-on"]["cost_rounds"] = round_costs(decode[f"{length}-on"], decode[f"{length}-off"])
    save_results("loopback-chain", kept)
    rows = [["`generate --local` (in-process)", f"{steps['local']:,.0f}", "—", f"{tokens['local']:,.0f}", "—"]]
    targets = []
    for length in SPANS:
        on, off = f"{length}-on", f"{length}-off"
        cost = costs[length]
        rows.append(
            [
                f"loopback chain of {length} servers",
                f"{steps[on]:,.0f}",
                f"{steps[off]:,.0f} ({cost:+.1%})",
                f"{tokens[on]:,.0f}",
                f"{tokens[off]:,.0f} ({paired_cost(prefill[on], prefill[off]):+.1%})",
            ]
        )
        targets.append(
            Target(
                f"trust layer's cost, loopback chain of {length}, decode steps/s", f"{cost:.1%}", "≤ 5%", cost <= 0.05
            )
        )
    markdown = "\n\n".join(
        [
            "## Loopback chains of 2 and 4 servers (issue 21)",
            f"Machine: {machine_summary()}. `tiny` (8 blocks, hidden 64) over 2 or 4 server processes on loopback; "
            f"{DECODE_STEPS} decode steps per session; prefill is a {PROMPT_TOKENS}-token prompt's first step, session "
            f"opening included; medians of {ROUNDS} rounds, one torch thread per process. Each round runs every "
            "configuration once, in alternating order. Trust on: receipts, reputations from the ledger, evidence "
            "kept; off: the benchmark switch (no receipts), with the trust layer's cost in brackets: the median of "
            "the rounds' own costs, each round's rate with the trust layer on against the same round's with it off.",
            table(
                ["configuration", "decode steps/s, trust on", "trust off", "prefill tokens/s, trust on", "trust off"],
                rows,
            ),
            "Target: the trust layer costs ≤ 5% of decode steps/s in every row.",
            bar_chart(
                "loopback-chain",
                "Decode steps per second, tiny, in-process and over loopback chains",
                ["--local", "2 servers", "4 servers"],
                {
                    "trust on": [steps["local"], steps["2-on"], steps["4-on"]],
                    "trust off": [steps["local"], steps["2-off"], steps["4-off"]],
                },
                ylabel="decode steps per second",
            ),
            floor_markdown(steps, {key: median(values) for key, values in checking.items()}, ed25519, receipts),
        ]
    )
    return Section("loopback-chain", markdown, tuple(targets))
