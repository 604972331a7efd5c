"""Decode steps per second through a two-server loopback chain: with the whole trust layer (receipts, the
ledger's reputations, evidence kept for a spot check), with receipts alone, with the trust layer switched off,
and against the whole model in-process (``generate --local``), interleaved round by round.

The chain is ``tiny`` blocks 0:4 and 4:8 on two server processes, one session, the client in this
process; every process uses one torch thread. Step 0 is the prompt's prefill and is not counted.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import torch

from bench.plots import bar_chart
from bench.report import Section, Target, machine_summary, median, table
from node.client.config import ClientConfig
from node.client.discovery import ServerInfo
from node.client.swarm import SwarmClient
from node.model.local import LocalModel
from node.model.source import resolve_model
from swarmtrust.launcher import LocalSwarm

log = logging.getLogger(__name__)

PROMPT = [1, 75, 104, 111, 111, 114, 35, 118]
DECODE_STEPS = 64
ROUNDS = 5


def chain_rate(client: SwarmClient, servers: list[ServerInfo]) -> float:
    stamps: list[float] = []

    def on_event(kind: str, data: dict[str, object]) -> None:
        if kind == "step":
            stamps.append(time.perf_counter())

    result = client.generate(resolve_model("tiny"), PROMPT, DECODE_STEPS + 1, servers=servers, on_event=on_event)
    if result.faults:
        raise RuntimeError(f"the benchmark chain had faults: {result.faults}")
    return DECODE_STEPS / (stamps[-1] - stamps[0])


def local_rate(model: LocalModel) -> float:
    stamps: list[float] = []
    model.generate(PROMPT, DECODE_STEPS + 1, on_token=lambda _: stamps.append(time.perf_counter()))
    return DECODE_STEPS / (stamps[-1] - stamps[0])


def run() -> Section:
    torch.set_num_threads(1)
    source = resolve_model("tiny")
    rates: dict[str, list[float]] = {"trust": [], "receipts": [], "plain": [], "local": []}
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
            SwarmClient([swarm.peer], config=ClientConfig(receipts=False)) as unchecked,
        ):
            servers = checked.wait_for_blocks("tiny", 8, min_servers=4)
            signed = [s for s in servers if s.key in {keys["a"], keys["b"]}]
            plain = [s for s in servers if s.key in {keys["a-plain"], keys["b-plain"]}]
            chain_rate(trusting, signed), chain_rate(checked, signed), chain_rate(unchecked, plain)  # warm-up
            local_rate(local)
            for round_index in range(ROUNDS):
                log.info("decode round %d/%d", round_index + 1, ROUNDS)
                rates["trust"].append(chain_rate(trusting, signed))
                rates["receipts"].append(chain_rate(checked, signed))
                rates["plain"].append(chain_rate(unchecked, plain))
                rates["local"].append(local_rate(local))
    trust, with_receipts, without, local_steps = (median(rates[k]) for k in ("trust", "receipts", "plain", "local"))
    rows = [
        [
            "chain of 2 servers, whole trust layer: receipts, reputations from the ledger, evidence kept",
            f"{trust:,.0f}",
            f"{trust / local_steps:.0%}",
        ],
        [
            "chain of 2 servers, receipts signed and checked",
            f"{with_receipts:,.0f}",
            f"{with_receipts / local_steps:.0%}",
        ],
        [
            "same chain, trust layer off (benchmark switch: no receipts)",
            f"{without:,.0f}",
            f"{without / local_steps:.0%}",
        ],
        ["`generate --local` (whole model in-process)", f"{local_steps:,.0f}", "100%"],
    ]
    markdown = "\n\n".join(
        [
            "## Decode steps through a loopback chain (issue 3)",
            f"Machine: {machine_summary()}. `tiny` (8 blocks, hidden 64) split 0:4 and 4:8 over two server processes, "
            f"one session, {DECODE_STEPS} decode steps after an {len(PROMPT)}-token prompt, medians of {ROUNDS} "
            "interleaved rounds; one torch thread per process.",
            table(["configuration", "decode steps/s", "÷ local"], rows),
            f"Receipts cost the chain {1 - with_receipts / without:.1%} of its steps/s here, the whole trust layer "
            f"{1 - trust / without:.1%}. Target: the chain with receipts reaches ≥ 40% of `--local`'s decode steps/s.",
            bar_chart(
                "swarm-decode",
                "Decode steps per second, tiny over a 2-server loopback chain",
                ["whole trust layer", "receipts only", "trust layer off", "--local"],
                {"decode steps/s": [trust, with_receipts, without, local_steps]},
                ylabel="decode steps per second",
                target=0.4 * local_steps,
            ),
        ]
    )
    ratio = with_receipts / local_steps
    target = Target("chain with receipts ÷ `--local`, decode steps/s", f"{ratio:.0%}", "≥ 40%", ratio >= 0.4)
    return Section("swarm-decode", markdown, (target,))
