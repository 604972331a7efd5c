"""Decode steps per second with 1, 4 and 8 clients at once on one two-server chain, the trust layer on and off:
each client's rate, the slowest and the median client, and the swarm's total.

The model is built like ``tiny`` at hidden size 256 (8 blocks, split 0:4 and 4:8 over two server processes),
so that a step's compute, not the loopback, dominates. The clients are threads of this process, each running
its own sessions through ``SwarmClient.generate`` at the same time; a round starts them together and each
measures its own decode steps (the prompt's prefill is not counted). Servers batch the one-token steps of
concurrent sessions into shared forward passes (``node.server.step_batcher``), with ``--batch-sessions 16``,
their default; the same rounds run on servers started with ``--batch-sessions 1`` (each session alone), so that
batching's gain is measured in the same run.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.plots import bar_chart
from bench.report import Section, Target, machine_summary, median, save_results, table
from bench.swarm_decode import PROMPT
from swarmtrust.launcher import LocalSwarm
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.swarm import SwarmClient
from swarmtrust.node.model.source import ModelSource, resolve_model
from swarmtrust.node.model.span import CacheState, Span
from swarmtrust.node.model.tiny import CONFIG, write_tiny_model

log = logging.getLogger(__name__)

CLIENTS = (1, 4, 8)
DECODE_STEPS = 32
ROUNDS = 3
MODEL_CONFIG: dict[str, object] = CONFIG | {
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 64,
}


def one_client(client: SwarmClient, source: ModelSource, chain: list[ServerInfo], start: threading.Barrier) -> float:
    """One client's decode steps/s over one session, started with the others."""
    stamps: list[float] = []

    def on_event(kind: str, data: dict[str, object]) -> None:
        if kind == "step":
            stamps.append(time.perf_counter())

    start.wait()
    result = client.generate(source, PROMPT, DECODE_STEPS + 1, servers=chain, on_event=on_event)
    if result.faults:
        raise RuntimeError(f"the benchmark chain had faults: {result.faults}")
    return DECODE_STEPS / (stamps[-1] - stamps[0])


def together(client: SwarmClient, source: ModelSource, chain: list[ServerInfo], count: int) -> list[float]:
    """Each of ``count`` clients' steps/s, all running at once."""
    start = threading.Barrier(count)
    rates: list[float] = [0.0] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            rates[index] = one_client(client, source, chain, start)
        except BaseException as exc:  # re-raised below, in the benchmark's thread
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return rates


def pass_cost(source: ModelSource, sessions: int) -> float:
    """What one forward pass of ``sessions`` one-token steps costs against a lone step's, on blocks 0:4 here."""
    span = Span.load(source, 0, 4)
    steps = [torch.randn(1, 1, span.hidden_size) for _ in range(sessions)]

    def seconds(run: Callable[[], object]) -> float:
        samples = []
        for _ in range(ROUNDS * 10):
            started = time.perf_counter()
            run()
            samples.append(time.perf_counter() - started)
        return median(samples)

    lone = seconds(lambda: span.forward(steps[0], CacheState()))
    together = seconds(lambda: span.forward_sessions(steps, [CacheState() for _ in steps], start=0, end=4))
    return together / lone


def run() -> Section:
    torch.set_num_threads(1)
    samples: dict[tuple[str, int], list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalSwarm(Path(tmp)) as swarm:
        directory = Path(tmp) / "llama-256"
        write_tiny_model(directory, MODEL_CONFIG)
        source = resolve_model(str(directory))
        swarm.start_dht()
        swarm.start_api()
        model = ("--model", str(directory))
        launched = {
            "a": swarm.launch_server("a", "0:4", *model),
            "b": swarm.launch_server("b", "4:8", *model),
            "a-plain": swarm.launch_server("a-plain", "0:4", *model, "--no-receipts"),
            "b-plain": swarm.launch_server("b-plain", "4:8", *model, "--no-receipts"),
            "a-alone": swarm.launch_server("a-alone", "0:4", *model, "--batch-sessions", "1"),
            "b-alone": swarm.launch_server("b-alone", "4:8", *model, "--batch-sessions", "1"),
        }
        keys = {name: LocalSwarm.ready(server)["public_key"] for name, server in launched.items()}
        with (
            SwarmClient([swarm.peer], ledger_url=swarm.api_url) as trusting,
            SwarmClient([swarm.peer], config=ClientConfig(receipts=False)) as unchecked,
        ):
            servers = trusting.wait_for_blocks(source.model_id, 8, min_servers=len(launched))

            def pair(first: str, second: str) -> list[ServerInfo]:
                return [s for s in servers if s.key in {keys[first], keys[second]}]

            chains = {
                "on": (trusting, pair("a", "b")),
                "off": (unchecked, pair("a-plain", "b-plain")),
                "alone": (trusting, pair("a-alone", "b-alone")),  # trust on, every session computed alone
            }
            for client, chain in chains.values():  # warm-up
                together(client, source, chain, 2)
            for round_index in range(ROUNDS):
                for count in CLIENTS:
                    log.info("round %d/%d, %d clients", round_index + 1, ROUNDS, count)
                    for trust, (client, chain) in chains.items():
                        samples.setdefault((trust, count), []).append(together(client, source, chain, count))
        eight_pass = pass_cost(source, 8)  # in this process, the swarm idle
    # per configuration: the medians over rounds of each round's median client, slowest client and total
    figures = {
        key: {
            "median": median([statistics.median(rates) for rates in rounds]),
            "slowest": median([min(rates) for rates in rounds]),
            "total": median([sum(rates) for rates in rounds]),
        }
        for key, rounds in samples.items()
    }
    save_results("concurrent-clients", {f"{count}-{trust}": figures[(trust, count)] for trust, count in figures})
    rows = []
    for count in CLIENTS:
        on, off = figures[("on", count)], figures[("off", count)]
        rows.append(
            [
                count,
                f"{on['median']:,.1f}",
                f"{on['slowest']:,.1f}",
                f"{on['total']:,.1f}",
                f"{on['total'] / figures[('on', 1)]['total']:.1f}×",
                f"{off['total']:,.1f}",
                f"{1 - on['total'] / off['total']:+.1%}",
                f"{figures[('alone', count)]['total']:,.1f}",
            ]
        )
    eight, one = figures[("on", 8)], figures[("on", 1)]
    scaling, fairness = eight["total"] / one["total"], eight["slowest"] / eight["median"]
    cost = 1 - eight["total"] / figures[("off", 8)]["total"]
    batching = eight["total"] / figures[("alone", 8)]["total"]
    targets = (
        Target("8 clients: swarm total ÷ one client's steps/s", f"{scaling:.1f}×", "≥ 4×", scaling >= 4),
        Target("8 clients: slowest ÷ median client", f"{fairness:.0%}", "≥ 50%", fairness >= 0.5),
        Target("8 clients: trust layer's cost in total steps/s", f"{cost:.1%}", "≤ 5%", cost <= 0.05),
    )
    markdown = "\n\n".join(
        [
            "## Concurrent clients (issue 21)",
            f"Machine: {machine_summary()}. A Llama of hidden size 256 built like `tiny` (8 blocks), split 0:4 and "
            f"4:8 over two server processes, float32, one torch thread per process; 1, 4 and 8 clients as threads of "
            f"one process, started together, each a session of {DECODE_STEPS} decode steps after an "
            f"{len(PROMPT)}-token prompt; medians of {ROUNDS} interleaved rounds. Trust on: receipts, reputations "
            "from the ledger, evidence kept; off: the benchmark switch (no receipts).",
            table(
                [
                    "clients",
                    "median client, steps/s",
                    "slowest client",
                    "swarm total",
                    "÷ 1 client",
                    "total, trust off",
                    "trust's cost",
                    "total, trust on, each session alone",
                ],
                rows,
            ),
            "Targets: with 8 clients the swarm's total reaches ≥ 4× one client's steps/s, the slowest client ≥ 50% "
            "of the median, and the trust layer costs ≤ 5%. Servers batch concurrent sessions' one-token steps "
            f"into shared forward passes: with 8 clients that gives {batching:.2f}× the total of servers that compute "
            "each session alone (last column). What bounds the total here is not the forward pass (at hidden 256 a "
            f"pass of 8 sessions' steps costs {eight_pass:.1f}× a lone step, measured here) but everything else a "
            "step costs on a machine whose two cores also run the clients, both servers, their p2p daemons and the "
            "ledger: messaging, receipts, the clients' one event loop. Waiting for the steps a server knows are on "
            "their way (pushed ones) raised the second server's passes from 2 to 3 sessions but not the total, and "
            "cost throughput at hidden 1024: not kept.",
            bar_chart(
                "concurrent-clients",
                "Decode steps per second with concurrent clients (hidden 256, 2-server chain)",
                [f"{count} client{'s' if count > 1 else ''}" for count in CLIENTS],
                {
                    "median client": [figures[("on", c)]["median"] for c in CLIENTS],
                    "slowest client": [figures[("on", c)]["slowest"] for c in CLIENTS],
                    "swarm total": [figures[("on", c)]["total"] for c in CLIENTS],
                },
                ylabel="decode steps per second",
            ),
        ]
    )
    return Section("concurrent-clients", markdown, targets)
