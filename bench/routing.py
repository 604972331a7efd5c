"""Time to choose a chain: the client's whole routing policy (reputation book, Thompson samples, quarantine
and exploration filters, the shortest-path sweep) over 80 blocks and 100, 1,000 and 10,000 servers."""

from __future__ import annotations

import random
import time

from bench.plots import line_chart
from bench.report import Section, Target, machine_summary, median, table
from swarmtrust.node.client.bans import BanList
from swarmtrust.node.client.config import ClientConfig
from swarmtrust.node.client.discovery import ServerInfo
from swarmtrust.node.client.latency import LatencyTracker
from swarmtrust.node.client.reputation import ReputationBook, ServerTrust
from swarmtrust.node.client.route_policy import Router
from swarmtrust.protocol.announcements import ServerAnnouncement
from swarmtrust.protocol.beta import Beta

BLOCKS = 80
ROUNDS = 31


def swarm(count: int, rng: random.Random) -> tuple[list[ServerInfo], ReputationBook]:
    servers, book = [], {}
    for index in range(count):
        if index < BLOCKS // 10:  # a first few servers tile the model, so that every block is covered
            start, end = 10 * index, min(BLOCKS, 10 * index + 12)
        else:
            start = rng.randrange(0, BLOCKS)
            end = min(BLOCKS, start + rng.randint(4, 20))
        key = index.to_bytes(32, "little")
        servers.append(
            ServerInfo(
                ServerAnnouncement(
                    server_key=key,
                    peer_id="p",
                    name="s",
                    model_id="m",
                    block_start=start,
                    block_end=end,
                    layer_digests=tuple(bytes(32) for _ in range(start, end)),
                    dtype="float32",
                    throughput=rng.uniform(200, 800),
                    state="online",
                    announced_ms=0,
                    expires_ms=1,
                )
            )
        )
        tiles = index < BLOCKS // 10
        state = "trusted" if tiles else rng.choices(("trusted", "newcomer", "quarantined"), weights=(80, 15, 5))[0]
        book[key.hex()] = ServerTrust(state, Beta(rng.uniform(5, 200), rng.uniform(0.5, 5)), 0.1)
    return servers, ReputationBook(book, ServerTrust("newcomer", Beta(1.6, 0.4), 1.0), "bench")


def measure(count: int) -> float:
    rng = random.Random(count)
    servers, book = swarm(count, rng)
    config = ClientConfig()
    router = Router(config, LatencyTracker(0.3), BanList(1.0, 60.0), book, rng)
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        router.chain(servers, 0, BLOCKS, explore=router.explores())
        times.append(time.perf_counter() - started)
    return median(times)


def run() -> Section:
    counts = (100, 1_000, 10_000)
    milliseconds = [measure(count) * 1e3 for count in counts]
    rows = [[f"{count:,}", f"{ms:.2f} ms"] for count, ms in zip(counts, milliseconds, strict=True)]
    markdown = "\n\n".join(
        [
            "## Routing time (issue 5)",
            f"Machine: {machine_summary()}. Median of {ROUNDS} chain choices over {BLOCKS} blocks by the client's "
            "routing policy (`node.client.route_policy.Router`): for every server a reputation lookup and a Thompson "
            "sample, the quarantine and exploration filters, and the shortest-path sweep; spans of 4-20 blocks; "
            "80% trusted, 15% newcomers, 5% quarantined.",
            table(["servers", "median time to choose a chain"], rows),
            "Target: ≤ 10 ms for 1,000 servers over 80 blocks.",
            line_chart(
                "routing",
                f"Time to choose a chain over {BLOCKS} blocks",
                [float(c) for c in counts],
                {"median": list(milliseconds)},
                xlabel="servers",
                ylabel="milliseconds",
                target=10.0,
                log_x=True,
            ),
        ]
    )
    at_1000 = milliseconds[counts.index(1_000)]
    target = Target("choose a chain, 1,000 servers × 80 blocks", f"{at_1000:.2f} ms", "≤ 10 ms", at_1000 <= 10)
    return Section("routing", markdown, (target,))
