"""Decode steps per second through a two-server loopback chain: with the whole trust layer (receipts, the
ledger's reputations, evidence kept for a spot check), with receipts alone, with receipts but every hop's
input sent by the client (no server-to-server push), with the trust layer switched off, and against the
whole model in-process (``generate --local``), interleaved round by round.

The chain is ``tiny`` blocks 0:4 and 4:8 on two server processes, one session, the client in this
process; every process uses one torch thread. Step 0 is the prompt's prefill and is not counted.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.plots import bar_chart
from bench.report import Section, Target, machine_summary, median, table
from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.model.local import LocalModel
from swarmtrust.node.model.source import resolve_model

log = logging.getLogger(__name__)

PROMPT = [1, 75, 104, 111, 111, 114, 35, 118]
DECODE_STEPS = 64
ROUNDS = 5


@dataclass(frozen=True)
class DecodeRun:
    rate: float  # decode steps per second
    check_ms: float  # the client's reading and checking of the hops' replies, milliseconds a decode step (mean)


def chain_decode(client: SwarmClient, servers: list[ServerInfo]) -> DecodeRun:
    """One session of ``DECODE_STEPS`` decode steps after ``PROMPT`` through ``servers``."""
    stamps: list[float] = []

    def on_event(kind: str, data: dict[str, object]) -> None:
        if kind == "step":
            stamps.append(time.perf_counter())

    result = client.generate(resolve_model("tiny"), PROMPT, DECODE_STEPS + 1, servers=servers, on_event=on_event)
    if result.faults:
        raise RuntimeError(f"the benchmark chain had faults: {result.faults}")
    decoding = result.steps[1:]  # step 0 is the prompt's prefill
    checking = sum(hop.check_seconds for step in decoding for hop in step) / len(decoding)
    return DecodeRun(DECODE_STEPS / (stamps[-1] - stamps[0]), checking * 1000)


def chain_rate(client: SwarmClient, servers: list[ServerInfo]) -> float:
    return chain_decode(client, servers).rate


def local_rate(model: LocalModel) -> float:
    stamps: list[float] = []
    model.generate(PROMPT, DECODE_STEPS + 1, on_token=lambda _: stamps.append(time.perf_counter()))
    return DECODE_STEPS / (stamps[-1] - stamps[0])


# (rate key, table row, bar label): the chains measured, in table order
CONFIGURATIONS = (
    (
        "trust",
        "chain of 2 servers, whole trust layer: receipts, reputations from the ledger, evidence kept",
        "whole trust layer",
    ),
    ("receipts", "chain of 2 servers, receipts signed and checked", "receipts"),
    ("hop_by_hop", "same, without server-to-server push (every hop's input sent by the client)", "receipts, no push"),
    ("plain", "same chain, trust layer off (benchmark switch: no receipts)", "trust layer off"),
)


def run() -> Section:
    torch.set_num_threads(1)
    source = resolve_model("tiny")
    rates: dict[str, list[float]] = {key: [] for key in [*(c[0] for c in CONFIGURATIONS), "local"]}
    with tempfile.TemporaryDirectory() as tmp, LocalSwarm(Path(tmp)) as swarm:
        swarm.start_dht()
        swarm.start_api()
        launched = {
            "a": swarm.launch_server("a", "0:4"),
            "b": swarm.launch_server("b", "4:8"),
            "a-plain": swarm.launch_server("a-plain", "0:4", "--no-receipts"),
            "b-plain": swarm.launch_server("b-plain", "4:8", "--no-receipts"),
        }
        keys = {name: LocalSwarm.ready(server)["public_key"] for name, server in launched.items()}
        local = LocalModel(source)
        with (
            # Every session of these newcomer servers is kept as evidence and challenged at the ledger
            # afterwards (the challenge itself falls outside the decode steps counted).
            SwarmClient([swarm.peer], ledger_url=swarm.api_url) as trusting,
            SwarmClient([swarm.peer]) as checked,
            SwarmClient([swarm.peer], config=ClientConfig(push=False)) as hop_by_hop,
            SwarmClient([swarm.peer], config=ClientConfig(receipts=False)) as unchecked,
        ):
            servers = checked.wait_for_blocks("tiny", 8, min_servers=4)
            signed = [s for s in servers if s.key in {keys["a"], keys["b"]}]
            plain = [s for s in servers if s.key in {keys["a-plain"], keys["b-plain"]}]
            chains = {
                "trust": (trusting, signed),
                "receipts": (checked, signed),
                "hop_by_hop": (hop_by_hop, signed),
                "plain": (unchecked, plain),
            }
            for client, chain in chains.values():  # warm-up
                chain_rate(client, chain)
            local_rate(local)
            for round_index in range(ROUNDS):
                log.info("decode round %d/%d", round_index + 1, ROUNDS)
                for key, (client, chain) in chains.items():
                    rates[key].append(chain_rate(client, chain))
                rates["local"].append(local_rate(local))
    medians = {key: median(values) for key, values in rates.items()}
    local_steps = medians["local"]
    rows = [[row, f"{medians[key]:,.0f}", f"{medians[key] / local_steps:.0%}"] for key, row, _ in CONFIGURATIONS]
    rows.append(["`generate --local` (whole model in-process)", f"{local_steps:,.0f}", "100%"])
    trust, with_receipts, without = medians["trust"], medians["receipts"], medians["plain"]
    markdown = "\n\n".join(
        [
            "## Decode steps through a loopback chain (issue 3)",
            f"Machine: {machine_summary()}. `tiny` (8 blocks, hidden 64) split 0:4 and 4:8 over two server processes, "
            f"one session, {DECODE_STEPS} decode steps after an {len(PROMPT)}-token prompt, medians of {ROUNDS} "
            "interleaved rounds; one torch thread per process.",
            table(["configuration", "decode steps/s", "÷ local"], rows),
            f"Receipts cost the chain {1 - with_receipts / without:.1%} of its steps/s here, the whole trust layer "
            f"{1 - trust / without:.1%}; pushing each hop's output straight to the next server gains "
            f"{with_receipts / medians['hop_by_hop'] - 1:.0%}. "
            "Target: the chain with receipts reaches ≥ 40% of `--local`'s decode steps/s.",
            bar_chart(
                "swarm-decode",
                "Decode steps per second, tiny over a 2-server loopback chain",
                [label for _, _, label in CONFIGURATIONS] + ["--local"],
                {"decode steps/s": [medians[key] for key, _, _ in CONFIGURATIONS] + [local_steps]},
                ylabel="decode steps per second",
                target=0.4 * local_steps,
            ),
        ]
    )
    ratio = with_receipts / local_steps
    target = Target("chain with receipts ÷ `--local`, decode steps/s", f"{ratio:.0%}", "≥ 40%", ratio >= 0.4)
    return Section("swarm-decode", markdown, (target,))
