"""A bounded load test of ``GET /api/v1/reputation?model=tiny``: the real ledger service as a child process,
load from a second process on loopback, p50 and p99 at increasing rates, on SQLite and PostgreSQL.

Two kinds of request: the model's page as clients ask for it (served from the service's page cache while
the model's reputations are unchanged, recomputed at most once a second), and the same page recomputed for
every request (one ``server=`` key named too, which the cache does not cover): the cost when reputations
change all the time.

The load is open-loop: at R requests/s request i is *due* at ``start + i / R`` whatever happened to the
ones before it, and its latency runs from that due time to the end of its response. A slow response
therefore counts against every request that had to wait behind it (no coordinated omission), which is
what a crowd of independent clients would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.ledger_ingest import POSTGRES_ENVS, postgres_databases
from bench.plots import line_chart
from bench.report import Section, Target, machine_summary, median, table
from swarmtrust.protocol.rest import API_PREFIX

log = logging.getLogger(__name__)

MODEL = "tiny"
PATH = API_PREFIX + "/reputation"
SERVERS = 200
RATES = (5, 10, 25, 50, 100, 200, 400, 800)  # requests/s offered, in this order
TARGET_P99_S = 0.020
STOP_P99_S = 4 * TARGET_P99_S  # past this, higher rates only show a longer queue ...
MIN_RATES = 3  # ... but always this many, to show how latency grows and where throughput tops out
SECONDS_PER_RATE = 5.0
MIN_REQUESTS = 100  # per rate, so that a p99 is not merely the slowest of a handful ...
MAX_SECONDS_PER_RATE = 15.0  # ... unless that would take longer than this
CONNECTIONS = 8  # keep-alive connections the load generator shares among its requests
REQUEST_TIMEOUT_S = 5.0  # a request not answered this long after it was due counts as an error
ONE_AT_A_TIME = 50  # sequential requests first: the service time without queueing ...
WARM_UP = 10  # ... not counting the first few
DAY_MS = 86_400_000


@dataclass(frozen=True)
class RateResult:
    offered: int  # requests/s
    requests: int
    achieved: float  # successful responses/s, from the first due time to the last response
    p50_s: float
    p99_s: float
    errors: int  # non-200 answers, timeouts and transport errors


@dataclass(frozen=True)
class Unloaded:
    servers_listed: int  # entries in one response: the endpoint does real work
    response_bytes: int
    p50_s: float
    slowest_s: float


@dataclass(frozen=True)
class VariantRun:
    unloaded: Unloaded
    rates: list[RateResult]


@dataclass(frozen=True)
class DatabaseRun:
    load_average: float  # of the machine, over the minute before: other work sharing the cores
    states: Counter[str]
    variants: dict[str, VariantRun]  # by kind of request (VARIANTS)


Params = dict[str, str | list[str]]
UNCACHED_KEY = "ab" * 32  # a server the ledger never saw: naming it makes the service recompute the page
VARIANTS: dict[str, Params] = {
    "model page (cached)": {"model": MODEL},
    "model page, recomputed": {"model": MODEL, "server": [UNCACHED_KEY]},
}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of all values at or below it (NaN if none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- the ledger ----------------------------------------------------------------------------------------


def populate(db_url: str, rng: random.Random) -> Counter[str]:
    """``SERVERS`` servers of ``MODEL`` with a month of spot-check outcomes, as the ledger derives them.

    Outcomes are folded in time order through the ledger's own projection (``fold_outcome``, the code
    the write path and the audit run) into rows in memory, which are then inserted as they are: the
    endpoint reads only these rows, and a thousand challenges through the full write path would take
    minutes. No event log stands behind them, so ``swarmtrust ledger audit`` would not pass here.
    """
    from swarmtrust.ledger.bulk_rows import insert_rows
    from swarmtrust.ledger.db import create_ledger_engine, write_transaction
    from swarmtrust.ledger.migrate import upgrade
    from swarmtrust.ledger.models import ChallengeRow, CohortRow, ReputationRow
    from swarmtrust.ledger.reputation_projection import fold_outcome, from_row
    from swarmtrust.ledger.rowstore import MemoryRows
    from swarmtrust.ledger.statements import Outcome

    now = time.time_ns() // 1_000_000
    checks: list[tuple[int, bytes, bool]] = []  # (decided_ms, server, honest)
    for index in range(SERVERS):
        server = rng.randbytes(32)
        kind = "trusted" if index % 20 < 16 else "newcomer" if index % 20 < 19 else "quarantined"
        passes = {"trusted": rng.randint(12, 60), "newcomer": rng.randint(1, 9), "quarantined": rng.randint(3, 30)}
        times = sorted(now - rng.randrange(1, 30 * DAY_MS) for _ in range(passes[kind] + (kind == "quarantined")))
        checks += [(at, server, True) for at in times]
        if kind == "quarantined":
            checks[-1] = (times[-1], server, False)  # a confirmed cheat, last
    rows = MemoryRows()
    for seq, (at, server, honest) in enumerate(sorted(checks), start=1):
        challenge = rng.randbytes(16)
        rows.put(ChallengeRow, {"challenge_id": challenge.hex(), "model_id": MODEL})
        outcome = Outcome(
            ledger_key=bytes(32),
            challenge_id=challenge,
            server_key=server,
            outcome="pass" if honest else "fail",
            pass_weight=1.5 if honest else 0.0,  # about two verifiers' reliability behind each decision
            fail_weight=0.0 if honest else 2.0,
            verdicts=(rng.randbytes(16),),
            decided_ms=at,
        )
        fold_outcome(rows, seq, outcome)
    reputations = list(rows.tables[ReputationRow].values())
    engine = create_ledger_engine(db_url)
    try:
        upgrade(engine)
        with write_transaction(engine) as connection:
            insert_rows(connection, ReputationRow, reputations)
            insert_rows(connection, CohortRow, list(rows.tables[CohortRow].values()))
    finally:
        engine.dispose()
    return Counter(from_row(row).state() for row in reputations)


# --- the load generator (runs in a second process) ------------------------------------------------------


def _client(api_url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    return httpx.AsyncClient(base_url=api_url, limits=limits, timeout=REQUEST_TIMEOUT_S)


async def _one_at_a_time(api_url: str, count: int, params: Params) -> Unloaded:
    latencies, body = [], b""
    async with _client(api_url) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get(PATH, params=params)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            body = response.content
    listed = len(httpx.Response(200, content=body).json()["servers"])
    steady = latencies[WARM_UP:]  # the first few warm connections and the service's caches
    return Unloaded(listed, len(body), median(steady), max(steady))


async def _offer(api_url: str, rate: int, count: int, params: Params) -> RateResult:
    clock = asyncio.get_running_loop().time  # monotonic, and the clock that asyncio's deadlines use
    latencies: list[float] = []
    errors = 0
    last_done = 0.0

    async with _client(api_url) as client:

        async def one(due: float) -> None:
            nonlocal errors, last_done
            await asyncio.sleep(due - clock())
            try:
                async with asyncio.timeout_at(due + REQUEST_TIMEOUT_S):  # counted from when it was due
                    response = await client.get(PATH, params=params)
                ok = response.status_code == 200
            except (httpx.HTTPError, TimeoutError):
                ok = False
            done = clock()
            last_done = max(last_done, done)
            if ok:
                latencies.append(done - due)  # from when it was due, not from when it could be sent
            else:
                errors += 1

        start = clock() + 0.1  # every task scheduled before the first is due
        await asyncio.gather(*(one(start + i / rate) for i in range(count)))
    elapsed = max(last_done - start, 1e-9)
    return RateResult(rate, count, len(latencies) / elapsed, median(latencies) if latencies else math.nan,
                      percentile(latencies, 0.99), errors)  # fmt: skip


def one_at_a_time(api_url: str, count: int, params: Params) -> Unloaded:
    return asyncio.run(_one_at_a_time(api_url, count, params))


def offer(api_url: str, rate: int, count: int, params: Params) -> RateResult:
    """``count`` requests due at ``rate`` per second, open loop; run in the load-generator process."""
    return asyncio.run(_offer(api_url, rate, count, params))


# --- one database ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def every_core() -> Iterator[None]:
    """Let this process and what it starts use every core, for the ``with`` block.

    ``bench.ledger_ingest`` pins the benchmark process to one core, and children inherit that; this
    benchmark is about the whole machine, server and load generator together."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def requests_at(rate: int) -> int:
    return min(max(MIN_REQUESTS, round(rate * SECONDS_PER_RATE)), round(rate * MAX_SECONDS_PER_RATE))


def measure(db_url: str) -> DatabaseRun:
    from swarmtrust.launcher import LocalSwarm

    load_average = os.getloadavg()[0]
    states = populate(db_url, random.Random(SERVERS))
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process's state
    with (
        every_core(),
        tempfile.TemporaryDirectory() as workdir,
        LocalSwarm(Path(workdir)) as swarm,  # stops the service, and all it started, on the way out
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as load,
    ):
        api_url = swarm.start_api(db_url=db_url)
        variants = {}
        for variant, params in VARIANTS.items():
            log.info(" %s", variant)
            unloaded = load.submit(one_at_a_time, api_url, ONE_AT_A_TIME, params).result()
            rates = []
            for rate in RATES:
                result = load.submit(offer, api_url, rate, requests_at(rate), params).result()
                log.info("  %d req/s: p50 %.1f ms, p99 %.1f ms, %d errors", rate, result.p50_s * 1e3,
                         result.p99_s * 1e3, result.errors)  # fmt: skip
                rates.append(result)
                if len(rates) >= MIN_RATES and (result.errors or not result.p99_s <= STOP_P99_S):
                    break
            variants[variant] = VariantRun(unloaded, rates)
    return DatabaseRun(load_average, states, variants)


# --- the section ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1e3:.1f}"


def highest_within_target(run: VariantRun) -> str:
    good = [r.offered for r in run.rates if not r.errors and r.p99_s <= TARGET_P99_S]
    if good:
        return f"{max(good)} req/s"
    first = run.rates[0]
    return f"none (p99 {ms(first.p99_s)} ms already at {first.offered} req/s)"


def variant_block(name: str, run: VariantRun) -> str:
    unloaded = run.unloaded
    rows = [[r.offered, r.requests, f"{r.achieved:.1f}", ms(r.p50_s), ms(r.p99_s), r.errors] for r in run.rates]
    return "\n\n".join(
        [
            f"**{name}.** One request at a time (no queueing; {ONE_AT_A_TIME - WARM_UP} after {WARM_UP} to warm "
            f"up): p50 {ms(unloaded.p50_s)} ms, slowest {ms(unloaded.slowest_s)} ms; each response lists "
            f"{unloaded.servers_listed} servers ({unloaded.response_bytes / 1024:.0f} KiB).",
            table(["offered req/s", "requests", "achieved req/s", "p50 ms", "p99 ms", "errors"], rows),
        ]
    )


def database_block(name: str, run: DatabaseRun) -> str:
    return "\n\n".join(
        [
            f"### {name}",
            f"Load average over the minute before: {run.load_average:.1f}.",
            *(variant_block(variant, result) for variant, result in run.variants.items()),
        ]
    )


def run() -> Section:
    runs: dict[str, DatabaseRun | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log.info("api-load on SQLite ...")
        runs["SQLite"] = measure(f"sqlite:///{tmp}/ledger.db")
    admin_url = next((os.environ[e] for e in POSTGRES_ENVS if os.environ.get(e)), None)
    if admin_url:
        log.info("api-load on PostgreSQL ...")
        with postgres_databases(admin_url, 1) as (db_url,):
            runs["PostgreSQL"] = measure(db_url)
    else:
        runs["PostgreSQL"] = None
    states = next(r.states for r in runs.values() if r is not None)
    blocks = []
    for name, result in runs.items():
        if result is None:
            blocks.append(f"### {name}\n\nskipped: set SWARMTRUST_TEST_POSTGRES_URL")
        else:
            blocks.append(database_block(name, result))
    highest = "; ".join(
        f"{variant} — "
        + ", ".join(f"{n} {highest_within_target(r.variants[variant]) if r else 'skipped'}" for n, r in runs.items())
        for variant in VARIANTS
    )
    markdown = "\n\n".join(
        [
            "## Reputation API under load",
            f"Machine: {machine_summary()}. The ledger service (`swarmtrust api serve`, one uvicorn process) "
            f"as a child process; load from a second process on loopback, {CONNECTIONS} keep-alive connections "
            "(httpx, asyncio), sharing the machine's cores with the service. "
            f"`GET {PATH}?model={MODEL}` is sent open-loop: at R req/s each request is due at a fixed "
            "interval whatever the ones before it did, and its latency runs from when it was due to the end of "
            "its response, so a queue in front of the service counts in full. Each rate runs "
            f"{SECONDS_PER_RATE:.0f} s (at least {MIN_REQUESTS} requests, at most {MAX_SECONDS_PER_RATE:.0f} s); "
            f"escalation stops after the first rate with errors or a p99 over {STOP_P99_S * 1e3:.0f} ms, "
            f"once {MIN_RATES} rates have run. "
            f"Errors: non-200 answers and requests not answered within {REQUEST_TIMEOUT_S:.0f} s of when they were "
            "due; p50 and p99 are nearest-rank percentiles of the answered requests.",
            "Two kinds of request: the model's page as clients ask for it, which the service keeps while the "
            "model's reputations are unchanged (recomputing it at most once a second; new receipts do not "
            "invalidate it, outcomes and administrators' actions do), and the same page recomputed for every "
            "request (`&server=` one unknown key too, which the cache does not cover): the cost when "
            "reputations change all the time.",
            f"Ledger: {SERVERS} servers of model `{MODEL}` ({states['trusted']} trusted, {states['newcomer']} "
            f"newcomers, {states['quarantined']} quarantined) with a month of spot-check outcomes (12-60 "
            "passes per trusted server), folded through the ledger's reputation projection "
            "(`ledger.reputation_projection.fold_outcome`) and inserted as the `reputations` rows it derives; "
            "no event log behind them.",
            *blocks,
            f"Highest rate with p99 ≤ {TARGET_P99_S * 1e3:.0f} ms: {highest}.",
            p99_plot(runs),
        ]
    )
    targets = tuple(
        Target(
            f"reputation API, {variant}, {name}: highest rate with p99 ≤ {TARGET_P99_S * 1e3:.0f} ms",
            highest_within_target(result.variants[variant]),
            "p99 ≤ 20 ms at some rate",
            any(not r.errors and r.p99_s <= TARGET_P99_S for r in result.variants[variant].rates),
        )
        for name, result in runs.items()
        if result is not None
        for variant in VARIANTS
    )
    return Section("api-load", markdown, targets)


def p99_plot(runs: dict[str, DatabaseRun | None]) -> str:
    """p99 latency against the offered rate, one line per database and kind of request."""
    done = {name: run for name, run in runs.items() if run is not None}
    offered = sorted({r.offered for run in done.values() for v in run.variants.values() for r in v.rates})
    series: dict[str, list[float | None]] = {}
    for name, run in done.items():
        for variant, result in run.variants.items():
            by_rate = {r.offered: r.p99_s * 1e3 for r in result.rates if not math.isnan(r.p99_s)}
            series[f"{name}, {variant}"] = [by_rate.get(rate) for rate in offered]
    return line_chart(
        "api-load",
        "Reputation API: p99 latency under open-loop load",
        [float(rate) for rate in offered],
        series,
        xlabel="offered requests per second",
        ylabel="p99 latency, ms",
        target=TARGET_P99_S * 1e3,
        log_x=True,
        log_y=True,
    )
